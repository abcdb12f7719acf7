"""Input preparation identical to the reference evaluation transform.

The image is resized, aspect preserved, with PIL's bilinear filter so that it fits R x R, pasted at
the top-left of an R x R canvas filled with the weights' fill colour, and normalised with their
mean/std (`Pretrained`: ImageNet's for D, 0.5 for Lite and AdvProp). Resizing stays on the CPU
workers (uint8 travels to the device, 4x smaller than float); `normalize` runs on the device.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image

__all__ = ["letterbox", "normalize"]


def letterbox(image: np.ndarray, size: int, fill: Sequence[int]) -> tuple[np.ndarray, float]:
    """Fit an H x W x 3 uint8 RGB image into a size x size canvas filled with `fill`, top-left aligned.

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
    canvas[...] = fill
    if (new_w, new_h) == (width, height):
        canvas[:height, :width] = image
    else:
        resized = Image.fromarray(image).resize((max(new_w, 1), max(new_h, 1)), Image.Resampling.BILINEAR)
        canvas[: resized.height, : resized.width] = np.asarray(resized)
    return canvas, scale


def normalize(canvases: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """uint8 [B, R, R, 3] (any device) -> float32 [B, 3, R, R], (x / 255 - mean) / std, channels_last
    in memory.

    Permuting the NHWC batch gives NCHW with channels-last strides for free.
    """
    x = canvases.permute(0, 3, 1, 2).float()
    mean_255 = torch.tensor([255 * m for m in mean], device=x.device).view(1, 3, 1, 1)
    std_255 = torch.tensor([255 * s for s in std], device=x.device).view(1, 3, 1, 1)
    return (x - mean_255) / std_255
