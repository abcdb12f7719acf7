"""Decoding of box regression outputs against anchors."""
from __future__ import annotations

import torch

__all__ = ["decode_boxes"]


def decode_boxes(deltas: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    """Apply (ty, tx, th, tw) regressions to (x1, y1, x2, y2) anchors.

    Args:
        deltas: [..., 4] in the head's channel order (ty, tx, th, tw).
        anchors: [..., 4] xyxy, broadcastable to `deltas`.

    Returns:
        float32 [..., 4] xyxy boxes, decoded in float32 whatever the input dtype. As in the
        reference, the size exponent is not clamped; boxes are clipped to the image afterwards.
    """
    deltas = deltas.float()
    wa = anchors[..., 2] - anchors[..., 0]
    ha = anchors[..., 3] - anchors[..., 1]
    xa = anchors[..., 0] + 0.5 * wa
    ya = anchors[..., 1] + 0.5 * ha
    ty, tx, th, tw = deltas.unbind(-1)
    w = torch.exp(tw) * wa
    h = torch.exp(th) * ha
    x = tx * wa + xa
    y = ty * ha + ya
    return torch.stack([x - w / 2, y - h / 2, x + w / 2, y + h / 2], -1)
