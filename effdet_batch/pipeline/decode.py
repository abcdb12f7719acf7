"""Image bytes -> RGB uint8 array, as displayed, or a one-line reason why not.

EXIF orientation is applied (boxes are in the displayed orientation), any mode becomes RGB, an
animation gives its first frame, and the pixel count is checked from the header before any pixel
is decoded (decompression bombs).

Large JPEGs can be decoded reduced (`decode(data, fit=...)`): libjpeg's DCT scaling (PIL
`Image.draft`) decodes 1/2, 1/4 or 1/8 of each side directly, far cheaper than a full decode and
then a resize, and letterboxing the result differs from the full-size one by less than the JPEG's
own quantisation noise (tests/pipeline/test_decode.py bounds it).

HEIF/HEIC is read through pillow-heif (the `heif` extra) and AVIF through Pillow's own plugin.
Their orientation is the container's irot/imir boxes (the HEIF spec makes EXIF's informational),
and each plugin applies it once: pillow-heif decodes with the boxes applied and resets EXIF's
orientation tag to 1; Pillow's AVIF plugin decodes as stored and puts the boxes' orientation in
EXIF's tag, which `exif_transpose` then applies.
"""
from __future__ import annotations

import functools
import io
import warnings
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from PIL import ExifTags, Image, ImageOps, JpegImagePlugin, UnidentifiedImageError, features

from ..errors import first_line

__all__ = ["DEFAULT_MAX_PIXELS", "DECODE_MODES", "DecodeError", "Decoded", "decode", "decode_image"]

DEFAULT_MAX_PIXELS = 100_000_000  # 10k x 10k; far above any camera, far below a bomb
DECODE_MODES = ("fast", "exact")  # fast: large JPEGs reduced by DCT scaling; exact: always full size
DCT_SCALES = (8, 4, 2)  # the reductions libjpeg decodes directly, per side
_SWAPS_SIDES = {5, 6, 7, 8}  # EXIF orientations that turn the image a quarter turn

# Leading 'ftyp' box brands (ISO BMFF) of AVIF and HEIF files: what a file is when PIL cannot open it.
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"})


class DecodeError(ValueError):
    """Bytes that are not a usable image; the message is the row's `error`."""


class Decoded(NamedTuple):
    """A decoded image.

    pixels: uint8 [H, W, 3] RGB as displayed, each side reduced `factor` times (1: full size).
    size: the full-size image's displayed (width, height).
    """

    pixels: np.ndarray
    size: tuple[int, int]
    factor: int


def decode_image(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode at full size to an H x W x 3 uint8 RGB array in display orientation."""
    return decode(data, max_pixels=max_pixels).pixels


def decode(data: bytes, fit: int | None = None, max_pixels: int = DEFAULT_MAX_PIXELS) -> Decoded:
    """Decode `data`. With `fit` (the model's input side), a JPEG whose long side is at least
    2 x `fit` is decoded reduced by the largest DCT scale that keeps its long side >= `fit`;
    anything else decodes at full size."""
    if not data:
        raise DecodeError("empty file (0 bytes)")
    container = _container(data)
    if container:
        _require_plugin(container)
    try:
        with warnings.catch_warnings():
            # Our own limit below decides; PIL's warning would fire first, at a lower count.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                if width * height > max_pixels:
                    raise DecodeError(f"image is {width}x{height} = {width * height:,} pixels, "
                                      f"over the pixel limit of {max_pixels:,}")
                return _decode_opened(image, fit)
    except DecodeError:
        raise
    except UnidentifiedImageError:
        if container:  # its plugin is there, and refused it
            raise DecodeError(f"cannot decode {container} image: damaged or truncated") from None
        raise DecodeError(f"not an image (starts with {data[:16]!r})") from None
    except Image.DecompressionBombError as exc:  # PIL refuses at open, before our check, over 2x its limit
        raise DecodeError(f"image over the pixel limit: {first_line(exc)}") from None
    except (OSError, ValueError, SyntaxError, RuntimeError) as exc:  # RuntimeError: libheif's
        # pillow-heif 1.9 opens a truncated HEIF file and fails when decoding it, with libheif's reason.
        what = f"{container} image" if container else "image"
        raise DecodeError(f"cannot decode {what}: {first_line(exc)}") from None


def dct_factor(long_side: int, fit: int) -> int:
    """How many times to reduce each side of a JPEG with `long_side` for a `fit`-pixel input: the
    largest DCT scale that keeps ceil(long_side / scale) >= fit, once long_side >= 2 x fit; else 1."""
    if long_side < 2 * fit:
        return 1
    return next(s for s in DCT_SCALES if -(-long_side // s) >= fit)


def _decode_opened(image: Image.Image, fit: int | None) -> Decoded:
    width, height = image.size  # as stored: orientation is applied below
    image.seek(0)
    factor = _draft(image, fit) if fit else 1
    turned = image.getexif().get(ExifTags.Base.Orientation, 1) in _SWAPS_SIDES
    pixels = _to_rgb(ImageOps.exif_transpose(image))
    if factor == 1:
        return Decoded(pixels, (pixels.shape[1], pixels.shape[0]), 1)
    return Decoded(pixels, (height, width) if turned else (width, height), factor)


def _draft(image: Image.Image, fit: int) -> int:
    """Have libjpeg decode `image` (opened, not loaded) reduced by `dct_factor`; returns the
    factor it will decode at (1 for anything but a JPEG, MPO included, or a JPEG too small)."""
    if not isinstance(image, JpegImagePlugin.JpegImageFile):
        return 1
    width, height = image.size
    factor = dct_factor(max(width, height), fit)
    if factor == 1:
        return 1
    # PIL takes the largest scale that keeps both sides at least the requested ones: `factor`,
    # or less where the short side is shorter than `factor`. Its box says which it took.
    drafted = image.draft("RGB", (max(width // factor, 1), max(height // factor, 1)))
    return 1 if drafted is None else round(width / drafted[1][2])


def _container(data: bytes) -> str | None:
    """"AVIF", "HEIF", or None for anything else, from the brands of a leading 'ftyp' box."""
    if data[4:8] != b"ftyp":
        return None
    end = min(int.from_bytes(data[:4], "big"), len(data), 256)
    brands = {data[8:12]} | {data[i:i + 4] for i in range(16, end - 3, 4)}
    if brands & _AVIF_BRANDS:
        return "AVIF"
    return "HEIF" if brands & _HEIF_BRANDS else None


def _require_plugin(container: str) -> None:
    """Make sure PIL can open a `container` file, or say which package it needs."""
    if container == "AVIF":
        if not _pillow_has_avif():
            raise DecodeError("AVIF image, but this Pillow has no AVIF support: install a Pillow wheel "
                              "built with libavif (pip install -U pillow)")
        return
    try:
        import pillow_heif
    except ImportError:
        raise DecodeError("HEIF/HEIC image, but pillow-heif is not installed: "
                          "pip install 'effdet_batch[heif]' (or pillow-heif)") from None
    _register_once(pillow_heif.register_heif_opener)


def _pillow_has_avif() -> bool:
    return "avif" in features.modules and bool(features.check_module("avif"))


@functools.cache
def _register_once(register: Callable[[], None]) -> None:
    # PIL's plugin registry is process-wide; registering on the first HEIF file, not at import,
    # keeps libheif out of every process that never decodes one (drivers, CLIs, JPEG-only runs).
    register()


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
