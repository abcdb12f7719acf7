"""Anchor boxes of an EfficientDet variant, in the order of the flattened head outputs.

Order: level-major (P3 first), then row (y), column (x), then anchor = octave * len(aspects) + aspect,
which is how `[B, A*K, H, W]` head outputs flatten after a channels-last reshape.
"""
from __future__ import annotations

import functools

import torch

from .config import DetectorSpec

__all__ = ["generate_anchors", "anchors_for"]


def generate_anchors(spec: DetectorSpec) -> torch.Tensor:
    """float32 [N, 4] anchors as (x1, y1, x2, y2) in input-canvas pixels.

    A level's anchors are centred on its feature-map cells, of stride image_size / feature size (2^l
    when the size divides evenly), with side anchor_scale * stride * 2^(octave/num_scales) stretched
    by the aspect pair. Computed in float64 like the reference, then cast.
    """
    boxes = []
    for feature_size in spec.feature_sizes:
        stride = spec.image_size / feature_size
        centers = stride / 2 + torch.arange(feature_size, dtype=torch.float64) * stride
        cy, cx = torch.meshgrid(centers, centers, indexing="ij")
        half_sizes = torch.tensor(
            [
                (spec.anchor_scale * stride * 2 ** (octave / spec.num_scales) * ax / 2,
                 spec.anchor_scale * stride * 2 ** (octave / spec.num_scales) * ay / 2)
                for octave in range(spec.num_scales)
                for ax, ay in spec.aspect_ratios
            ],
            dtype=torch.float64,
        )  # [A, 2] as (half width, half height)
        center = torch.stack([cx, cy], -1).reshape(-1, 1, 2)  # [H*W, 1, 2]
        level_boxes = torch.cat([center - half_sizes, center + half_sizes], -1)  # [H*W, A, 4]
        boxes.append(level_boxes.reshape(-1, 4))
    return torch.cat(boxes).float()


@functools.lru_cache(maxsize=32)
def anchors_for(spec: DetectorSpec, device: torch.device) -> torch.Tensor:
    """`generate_anchors`, computed once per variant and device."""
    return generate_anchors(spec).to(device)
