"""Bad and unusual image files, made here: each with what decoding must give."""
from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image

RED, BLUE = (255, 0, 0), (0, 0, 255)


def encode(image: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **kw)
    return buf.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height RGB pixels (a decompression bomb's header)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(b""))
            + _chunk(b"IEND", b""))


def animation(fmt: str) -> bytes:
    frames = [Image.new("RGB", (16, 16), RED), Image.new("RGB", (16, 16), BLUE)]
    extra = {"lossless": True} if fmt == "WEBP" else {}
    return encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0, **extra)


def palette_with_alpha() -> bytes:
    """2x1 palette PNG: a red pixel, then a pixel of the transparent palette entry."""
    image = Image.new("P", (2, 1))
    image.putpalette([*RED, 0, 255, 0] + [0] * 762)
    image.putpixel((1, 0), 1)
    return encode(image, "PNG", transparency=1)


def with_orientation(stored: np.ndarray, orientation: int) -> bytes:
    """`stored` pixels as a lossless PNG tagged with an EXIF orientation."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(Image.fromarray(stored), "PNG", exif=exif)


# How a viewer displays stored pixels S for each EXIF orientation (TIFF/EXIF 2.3, tag 0x0112).
DISPLAYED = {
    1: lambda s: s,
    2: lambda s: s[:, ::-1],  # mirrored left-right
    3: lambda s: s[::-1, ::-1],  # rotated 180
    4: lambda s: s[::-1],  # mirrored top-bottom
    5: lambda s: s.transpose(1, 0, 2),  # mirrored about the main diagonal
    6: lambda s: np.rot90(s, k=-1),  # rotated 90 clockwise
    7: lambda s: np.rot90(s, 2).transpose(1, 0, 2),  # mirrored about the anti-diagonal
    8: lambda s: np.rot90(s, k=1),  # rotated 90 counter-clockwise
}


def bad_files(jpeg: bytes) -> dict[str, tuple[bytes, str]]:
    """File name -> (bytes, a fragment of the error its row must carry)."""
    return {
        "zero.jpg": (b"", "empty file (0 bytes)"),
        "truncated.jpg": (jpeg[: len(jpeg) // 3], "cannot decode image"),
        "random.jpg": (np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes(), "not an image"),
        "error-page.jpg": (b"<!DOCTYPE html><html><body>404 Not Found</body></html>",
                           "not an image (starts with b'<!DOCTYPE html><')"),
        "bomb.png": (png_claiming(60000, 60000), "image over the pixel limit: Image size (3600000000 pixels)"),
        "huge.png": (png_claiming(12000, 9000),
                     "image is 12000x9000 = 108,000,000 pixels, over the pixel limit of 100,000,000"),
    }


def good_files(jpeg: bytes) -> dict[str, tuple[bytes, tuple[int, int], tuple[int, int, int] | None]]:
    """File name -> (bytes, displayed (width, height), the RGB of pixel (0, 0) when it is exact)."""
    grey16 = Image.fromarray(np.full((5, 7), 32896, np.uint16))  # 32896 / 65535 * 255 = 128
    return {
        "cmyk.jpg": (encode(Image.new("CMYK", (8, 8), (0, 255, 255, 0)), "JPEG"), (8, 8), None),
        "grey16.png": (encode(grey16, "PNG"), (7, 5), (128, 128, 128)),
        "palette-alpha.png": (palette_with_alpha(), (2, 1), RED),
        "grey.png": (encode(Image.new("L", (9, 4), 77), "PNG"), (9, 4), (77, 77, 77)),
        "animated.gif": (animation("GIF"), (16, 16), RED),
        "animated.webp": (animation("WEBP"), (16, 16), RED),
        "one-pixel.png": (encode(Image.new("RGB", (1, 1), BLUE), "PNG"), (1, 1), BLUE),
        "strip.png": (encode(Image.new("RGB", (4000, 6), RED), "PNG"), (4000, 6), RED),
        "photo.jpg": (jpeg, (640, 480), None),
    }
