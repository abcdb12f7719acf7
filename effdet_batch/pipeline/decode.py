"""Image bytes -> RGB uint8 array, as displayed, or a one-line reason why not.

EXIF orientation is applied (boxes are in the displayed orientation), any mode becomes RGB, an
animation gives its first frame, and the pixel count is checked from the header before any pixel
is decoded (decompression bombs).
"""
from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import first_line

__all__ = ["DEFAULT_MAX_PIXELS", "DecodeError", "decode_image"]

DEFAULT_MAX_PIXELS = 100_000_000  # 10k x 10k; far above any camera, far below a bomb


class DecodeError(ValueError):
    """Bytes that are not a usable image; the message is the row's `error`."""


def decode_image(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode to an H x W x 3 uint8 RGB array in display orientation."""
    if not data:
        raise DecodeError("empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            # Our own limit below decides; PIL's warning would fire first, at a lower count.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                if width * height > max_pixels:
                    raise DecodeError(f"image is {width}x{height} = {width * height:,} pixels, "
                                      f"over the pixel limit of {max_pixels:,}")
                image.seek(0)
                image = ImageOps.exif_transpose(image)
                return _to_rgb(image)
    except DecodeError:
        raise
    except UnidentifiedImageError:
        raise DecodeError(f"not an image (starts with {data[:16]!r})") from None
    except Image.DecompressionBombError as exc:  # PIL refuses at open, before our check, over 2x its limit
        raise DecodeError(f"image over the pixel limit: {first_line(exc)}") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise DecodeError(f"cannot decode image: {first_line(exc)}") from None


def _to_rgb(image: Image.Image) -> np.ndarray:
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit grey: scale to 8 bits instead of letting PIL clip at 255.
        values = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if image.mode.startswith("I;16") else max(float(values.max()), 1.0)
        grey = np.clip(values / peak * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA")
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image)  # transparent areas look white, as viewers show them
    return np.asarray(image.convert("RGB"))
