"""Input preparation identical to the reference evaluation transform.

The image is resized, aspect preserved, with PIL's bilinear filter so that it fits R x R, pasted at
the top-left of an R x R canvas filled with the ImageNet mean colour, and normalised with the
ImageNet mean/std. Resizing stays on the CPU workers (uint8 travels to the device, 4x smaller than
float); `normalize` runs on the device.
"""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "FILL_COLOR", "letterbox", "normalize"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
FILL_COLOR = tuple(round(255 * m) for m in IMAGENET_MEAN)  # (124, 116, 104)


def letterbox(image: np.ndarray, size: int) -> tuple[np.ndarray, float]:
    """Fit an H x W x 3 uint8 RGB image into a size x size canvas, top-left aligned.

    Returns:
        canvas: uint8 [size, size, 3].
        scale: resized / original; a box in canvas pixels divided by it is in original pixels.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an H x W x 3 uint8 RGB array, got {image.dtype} {image.shape}")
    height, width = image.shape[:2]
    scale = min(size / height, size / width)
    new_w, new_h = int(width * scale), int(height * scale)
    canvas = np.empty((size, size, 3), dtype=np.uint8)
    canvas[...] = FILL_COLOR
    if (new_w, new_h) == (width, height):
        canvas[:height, :width] = image
    else:
        resized = Image.fromarray(image).resize((max(new_w, 1), max(new_h, 1)), Image.Resampling.BILINEAR)
        canvas[: resized.height, : resized.width] = np.asarray(resized)
    return canvas, scale


def normalize(canvases: torch.Tensor) -> torch.Tensor:
    """uint8 [B, R, R, 3] (any device) -> float32 [B, 3, R, R] normalised, channels_last in memory.

    Permuting the NHWC batch gives NCHW with channels-last strides for free.
    """
    x = canvases.permute(0, 3, 1, 2).float()
    mean = torch.tensor([255 * m for m in IMAGENET_MEAN], device=x.device).view(1, 3, 1, 1)
    std = torch.tensor([255 * s for s in IMAGENET_STD], device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std
