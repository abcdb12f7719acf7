"""Per-class non-maximum suppression over a whole batch, in plain torch (no torchvision needed).

Both functions take candidates already sorted by descending score, padded to the same count K
per image, and return the indices of the kept candidates in selection order.
"""
from __future__ import annotations

import torch

__all__ = ["box_area", "pairwise_iou", "batched_nms", "batched_soft_nms"]


def box_area(boxes: torch.Tensor) -> torch.Tensor:
    return (boxes[..., 2] - boxes[..., 0]).clamp(min=0) * (boxes[..., 3] - boxes[..., 1]).clamp(min=0)


def pairwise_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of xyxy boxes a [B, M, 4] and b [B, N, 4] -> [B, M, N] (float32).

    Two empty boxes give 0/0 = NaN, which compares False with any threshold, so degenerate boxes
    never suppress or get suppressed (the behaviour of torchvision's nms).
    """
    a, b = a.float(), b.float()
    ax1, ay1, ax2, ay2 = (c.unsqueeze(2) for c in a.unbind(-1))  # [B, M, 1]
    bx1, by1, bx2, by2 = (c.unsqueeze(1) for c in b.unbind(-1))  # [B, 1, N]
    inter = (torch.minimum(ax2, bx2) - torch.maximum(ax1, bx1)).clamp_(min=0)
    inter.mul_((torch.minimum(ay2, by2) - torch.maximum(ay1, by1)).clamp_(min=0))
    union = (box_area(a).unsqueeze(2) + box_area(b).unsqueeze(1)).sub_(inter)
    return inter.div_(union)


def _greedy_keep(boxes: torch.Tensor, classes: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Exact greedy NMS of [B, P] sorted candidates -> keep mask [B, P].

    Greedy NMS is the unique solution of keep[i] = no kept j < i of the same class overlaps i.
    Iterating that equation from all-True fixes one more leading candidate per round and stops at
    the solution, usually after a handful of rounds, each one batched matrix-vector product.
    """
    overlaps = (pairwise_iou(boxes, boxes) > iou_threshold) & (classes[:, :, None] == classes[:, None, :])
    suppressors = overlaps.triu(1).float()  # [b, j, i]: earlier candidate j suppresses i
    keep = torch.ones(classes.shape, dtype=torch.bool, device=classes.device)
    for _ in range(classes.shape[1]):
        new_keep = torch.bmm(keep.float().unsqueeze(1), suppressors).squeeze(1) == 0
        if torch.equal(new_keep, keep):
            break
        keep = new_keep
    return keep


def batched_nms(
    boxes: torch.Tensor,
    classes: torch.Tensor,
    iou_threshold: float,
    max_detections: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Greedy per-class NMS, keeping at most `max_detections` per image.

    Args:
        boxes: [B, K, 4] xyxy, sorted by descending score per image.
        classes: [B, K] integer class per candidate.

    Returns:
        indices [B, D] into K (D = min(max_detections, K)) in descending score, and a
        valid mask [B, D] (False where an image kept fewer than D).

    Whether candidate i survives depends only on candidates before it, so the first D survivors of
    a prefix are final. NMS runs on a prefix and doubles it only while an image lacks D survivors;
    that keeps the IoU matrix at about 1k x 1k instead of K x K.
    """
    if boxes.shape[:2] != classes.shape:
        raise ValueError(f"boxes {tuple(boxes.shape)} and classes {tuple(classes.shape)} must agree on [B, K]")
    total = classes.shape[1]
    prefix = min(total, max(1024, 8 * max_detections))
    while True:
        keep = _greedy_keep(boxes[:, :prefix], classes[:, :prefix], iou_threshold)
        if prefix == total or bool((keep.sum(1) >= max_detections).all()):
            break
        prefix = min(total, 2 * prefix)
    return _first_kept(keep, max_detections)


def _first_kept(keep: torch.Tensor, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Positions of the first `count` True entries of each row, and which of them exist."""
    count = min(count, keep.shape[1])
    order = torch.argsort((~keep).to(torch.uint8), dim=1, stable=True)[:, :count]
    return order, keep.gather(1, order)


def batched_soft_nms(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    classes: torch.Tensor,
    max_detections: int,
    sigma: float = 0.5,
    score_threshold: float = 0.001,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gaussian soft-NMS (Bodla et al., 2017): each pick decays same-class scores by exp(-IoU^2/sigma).

    Returns:
        indices [B, D], decayed scores [B, D] and a valid mask [B, D], in selection order. The loop
        runs over picks (at most D), each step batched over images and candidates.
    """
    remaining = scores.float().clone()
    alive = remaining > score_threshold
    rows = torch.arange(scores.shape[0], device=scores.device)
    picks, picked_scores, valid = [], [], []
    for _ in range(min(max_detections, scores.shape[1])):
        best = torch.where(alive, remaining, float("-inf")).argmax(1)  # [B]
        valid.append(alive[rows, best])
        picks.append(best)
        picked_scores.append(remaining[rows, best])
        iou = pairwise_iou(boxes[rows, best].unsqueeze(1), boxes).squeeze(1).nan_to_num(0.0)
        same = classes == classes[rows, best].unsqueeze(1)
        remaining = remaining * torch.where(same, torch.exp(-(iou**2) / sigma), 1.0)
        alive = alive & (remaining > score_threshold)
        alive[rows, best] = False
    return torch.stack(picks, 1), torch.stack(picked_scores, 1), torch.stack(valid, 1)
