"""A benchmark's image lake, made from a few photos: the files a phone-photo lake holds, in stated
proportions (`LAKES`), as bytes, for `pipeline_benchmark` to put in a folder or a bucket.

Kinds (`KINDS`):
    jpeg_12mp   a photo upscaled (bicubic) to 4032x3024 with sensor-like noise, JPEG quality 92
                (a smooth upscale alone would flatter the reduced JPEG decode)
    heic        the same kind of 12 MP photo as HEIC (pillow-heif, the `heif` extra), phones' default
    png         a 1170x2532 phone screenshot: flat UI bands, bars of "text", the photo inset
    jpeg_small  the photo's own file, as it is (the bundled ones are 640x480)

A lake of N images holds `round(N * share)` of each kind (largest remainders), interleaved in a
seeded order under names `000000.<suffix>`, ...; each kind has at most `variants` distinct files
(each from another photo and noise seed) and repeats them: making a 12 MP file costs about a
second, decoding it in the job is the same work whether or not its bytes were seen before.
"""
from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["PHONE_PHOTO", "SCREENSHOT", "KINDS", "LAKES", "LakeFile", "phone_photo", "phone_photo_jpeg",
           "lake_counts", "build_lake"]

PHONE_PHOTO = (4032, 3024)  # a phone photo's size: 12 MP, 4:3
SCREENSHOT = (1170, 2532)  # a phone screenshot's size (iPhone 12 to 14)


def phone_photo(photo: np.ndarray, seed: int = 0, size: tuple[int, int] = PHONE_PHOTO,
                noise: float = 3.0) -> np.ndarray:
    """`photo` upscaled (bicubic) to `size` with Gaussian noise of `noise` grey levels per pixel and
    channel, uint8 [H, W, 3]."""
    from PIL import Image

    big = np.asarray(Image.fromarray(photo).resize(size, Image.Resampling.BICUBIC), dtype=np.float32)
    # float32 draws: a quarter of the time of float64 ones, at 36 M values per photo
    big += np.random.default_rng(seed).standard_normal(big.shape, dtype=np.float32) * noise
    return np.clip(big + 0.5, 0, 255).astype(np.uint8)


def _encode(pixels: np.ndarray, fmt: str, **params: object) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, fmt, **params)
    return buf.getvalue()


def phone_photo_jpeg(photo: np.ndarray, seed: int = 0, size: tuple[int, int] = PHONE_PHOTO, noise: float = 3.0,
                     quality: int = 92) -> bytes:
    """`phone_photo` as a camera-quality JPEG."""
    return _encode(phone_photo(photo, seed, size, noise), "JPEG", quality=quality)


def _phone_photo_heic(photo: np.ndarray, seed: int) -> bytes:
    import pillow_heif

    pillow_heif.register_heif_opener()  # the writer (decode.py registers its own reader)
    # x265's fastest preset: 2 s per 12 MP photo here instead of 30, for files a phone would also write
    return _encode(phone_photo(photo, seed), "HEIF", quality=80, enc_params={"preset": "ultrafast"})


def _screenshot_png(photo: np.ndarray, seed: int) -> bytes:
    """A phone screenshot: light background, dark status and tab bars, the photo inset at full
    width, rows of grey bars standing for text below it."""
    from PIL import Image

    width, height = SCREENSHOT
    rng = np.random.default_rng(seed)
    shot = np.full((height, width, 3), 246, np.uint8)
    shot[:140] = shot[-200:] = 30
    inset = width * photo.shape[0] // photo.shape[1]
    shot[240:240 + inset] = np.asarray(Image.fromarray(photo).resize((width, inset), Image.Resampling.BILINEAR))
    for top in range(300 + inset, height - 260, 64):
        length = int(rng.integers(width // 3, width - 120))
        shot[top:top + 28, 60:60 + length] = rng.integers(60, 120)
    return _encode(shot, "PNG")


@dataclass(frozen=True)
class Kind:
    """One kind of lake file: its suffix, and how one variant is made from a photo (its file's bytes
    and its decoded pixels) and a seed."""

    suffix: str
    make: Callable[[bytes, np.ndarray, int], bytes]
    description: str


KINDS: dict[str, Kind] = {
    "jpeg_12mp": Kind("jpg", lambda data, photo, seed: phone_photo_jpeg(photo, seed),
                      "4032x3024 JPEGs (a photo upscaled with noise, q92)"),
    "heic": Kind("heic", lambda data, photo, seed: _phone_photo_heic(photo, seed),
                 "4032x3024 HEIC (a photo upscaled with noise, q80)"),
    "png": Kind("png", lambda data, photo, seed: _screenshot_png(photo, seed), "1170x2532 PNG screenshots"),
    "jpeg_small": Kind("jpg", lambda data, photo, seed: data, "the photos' own JPEGs (the bundled are 640x480)"),
}

# Shares of each kind. mixed: a phone-photo lake: half 12 MP JPEGs (Android and exported photos), a
# fifth HEIC (iPhones' default), a tenth screenshots, a fifth small JPEGs (messaging, web).
LAKES: dict[str, dict[str, float]] = {
    "mixed": {"jpeg_12mp": 0.5, "heic": 0.2, "png": 0.1, "jpeg_small": 0.2},
    "12mp": {"jpeg_12mp": 1.0},
    "small": {"jpeg_small": 1.0},
}


@dataclass(frozen=True)
class LakeFile:
    name: str
    kind: str
    data: bytes


def lake_counts(shares: dict[str, float], count: int) -> dict[str, int]:
    """Images of each kind in a lake of `count`: `count * share` rounded down, then the largest
    remainders rounded up, so that the counts sum to `count`."""
    exact = {kind: count * share for kind, share in shares.items()}
    counts = {kind: math.floor(x) for kind, x in exact.items()}
    for kind in sorted(exact, key=lambda k: counts[k] - exact[k])[:count - sum(counts.values())]:
        counts[kind] += 1
    return counts


def build_lake(lake: str, photos: Sequence[Path], count: int, variants: int = 8, seed: int = 0) -> list[LakeFile]:
    """The files of lake `lake` (a `LAKES` name) of `count` images made from the JPEG `photos`, in
    listing order."""
    from PIL import Image

    if lake not in LAKES:
        raise ValueError(f"unknown lake {lake!r}: expected one of {', '.join(LAKES)}")
    if not photos:
        raise ValueError("no photos to make the lake from")
    sources = []
    for path in photos:
        with Image.open(path) as im:
            sources.append((path.read_bytes(), np.asarray(im.convert("RGB"))))
    kinds = [kind for kind, n in lake_counts(LAKES[lake], count).items() for _ in range(n)]
    order = np.random.default_rng(seed).permutation(len(kinds))
    made: dict[tuple[str, int], bytes] = {}
    files, seen = [], dict.fromkeys(KINDS, 0)
    for i, kind in enumerate(kinds[j] for j in order):
        variant = seen[kind] % variants
        seen[kind] += 1
        if (kind, variant) not in made:
            data, photo = sources[variant % len(sources)]
            made[kind, variant] = KINDS[kind].make(data, photo, variant)
        files.append(LakeFile(f"{i:06d}.{KINDS[kind].suffix}", kind, made[kind, variant]))
    return files
