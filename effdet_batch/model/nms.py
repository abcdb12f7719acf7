"""Per-class non-maximum suppression over a whole batch: torchvision's kernel where torchvision
imports, else plain torch with the same results.

Both functions take candidates already sorted by descending score, padded to the same count K
per image, and return the indices of the kept candidates in selection order.
"""
from __future__ import annotations

import functools
from collections.abc import Callable

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


# Candidates per step and images per step: one [4, 512, 512] fp32 matrix is 4 MiB, and the IoU
# holds four at once. On CPU these cache-sized steps are also faster than one [B, 1024, 1024]
# solve (benchmarks/results/nms_memory_cpu_2026-12-01.json).
_BLOCK = 512
_GROUP = 4


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

    Memory is bounded whatever B and K. torchvision's kernel runs one image at a time: for a whole
    batch its CUDA kernel holds a (BK)^2-bit mask, 800 MB at 16 x 5,000. The plain-torch path
    solves blocks of candidates for a few images at a time. Both are exact greedy NMS; they can
    differ only where an IoU is within float32 rounding of the threshold.
    """
    if boxes.shape[:2] != classes.shape:
        raise ValueError(f"boxes {tuple(boxes.shape)} and classes {tuple(classes.shape)} must agree on [B, K]")
    nms = _torchvision_nms()
    if nms is None:
        keep = _greedy_keep(boxes, classes, iou_threshold, max_detections)
    else:
        keep = _torchvision_keep(nms, boxes, classes, iou_threshold)
    return _first_kept(keep, max_detections)


@functools.cache
def _torchvision_nms() -> Callable[..., torch.Tensor] | None:
    """torchvision.ops.nms, or None where torchvision does not import."""
    try:
        from torchvision.ops import nms
    except (ImportError, RuntimeError):  # RuntimeError: a torchvision built for another torch
        return None
    return nms


def _torchvision_keep(
    nms: Callable[..., torch.Tensor], boxes: torch.Tensor, classes: torch.Tensor, iou_threshold: float
) -> torch.Tensor:
    """Keep mask [B, K] by torchvision's nms per image, classes kept apart by a coordinate offset."""
    keep = torch.zeros(classes.shape, dtype=torch.bool, device=classes.device)
    if keep.numel() == 0:
        return keep
    # Decreasing scores that keep the given order.
    scores = torch.arange(classes.shape[1], 0, -1, dtype=torch.float64, device=boxes.device)
    for image in range(classes.shape[0]):
        # float64: the offset (about 4e5 for 90 classes of a 4k photo) would round float32
        # coordinates to 1/32 px, float64 to 1e-10 px.
        image_boxes = boxes[image].double()
        offset = classes[image].unsqueeze(1) * (image_boxes.max() - image_boxes.min() + 1)
        keep[image, nms(image_boxes + offset, scores, iou_threshold)] = True
    return keep


def _greedy_keep(
    boxes: torch.Tensor, classes: torch.Tensor, iou_threshold: float, count: int
) -> torch.Tensor:
    """Greedy NMS keep mask [B, K] of sorted candidates, _GROUP images at a time."""
    keep = torch.zeros(classes.shape, dtype=torch.bool, device=classes.device)
    for start in range(0, classes.shape[0], _GROUP):
        rows = slice(start, start + _GROUP)
        keep[rows] = _blocked_keep(boxes[rows], classes[rows], iou_threshold, count)
    return keep


def _blocked_keep(
    boxes: torch.Tensor, classes: torch.Tensor, iou_threshold: float, count: int
) -> torch.Tensor:
    """Keep mask [b, K], exact up to each image's `count`-th survivor (False after it where the
    image needed no more candidates).

    Whether candidate i survives depends only on the candidates before it, so blocks of _BLOCK are
    solved in score order, stopping once every image has `count` survivors. A block's candidates
    first lose to the earlier survivors that overlap them (only the first `count` can matter),
    then `_solve_block` settles the block itself.
    """
    keep = torch.zeros(classes.shape, dtype=torch.bool, device=classes.device)
    for start in range(0, classes.shape[1], _BLOCK):
        if bool((keep.sum(1) >= count).all()):
            break
        block = slice(start, start + _BLOCK)
        alive = torch.ones_like(keep[:, block])
        earlier, valid = _first_kept(keep[:, :start], count)
        for cols, cols_valid in zip(earlier.split(_BLOCK, 1), valid.split(_BLOCK, 1)):
            hits = _overlaps(boxes[:, block], classes[:, block], _gather_boxes(boxes, cols),
                             classes.gather(1, cols), iou_threshold)
            alive &= ~hits.logical_and_(cols_valid.unsqueeze(1)).any(2)
        keep[:, block] = _solve_block(boxes[:, block], classes[:, block], alive, iou_threshold)
    return keep


def _solve_block(
    boxes: torch.Tensor, classes: torch.Tensor, alive: torch.Tensor, iou_threshold: float
) -> torch.Tensor:
    """keep[i] = alive[i] and no kept j < i of the block overlaps i, for [B, T] candidates.

    Greedy NMS is the unique solution of that equation. Iterating it from `alive` fixes one more
    leading candidate per round and stops at the solution, usually after a handful of rounds,
    each one batched matrix-vector product.
    """
    suppressors = _overlaps(boxes, classes, boxes, classes, iou_threshold).triu_(1).float()  # [b, j, i]
    keep = alive
    for _ in range(classes.shape[1]):
        new_keep = alive & (torch.bmm(keep.float().unsqueeze(1), suppressors).squeeze(1) == 0)
        if torch.equal(new_keep, keep):
            break
        keep = new_keep
    return keep


def _overlaps(
    a: torch.Tensor, a_classes: torch.Tensor, b: torch.Tensor, b_classes: torch.Tensor, iou_threshold: float
) -> torch.Tensor:
    """[B, M, N] bool: same class and IoU above the threshold."""
    same = a_classes.unsqueeze(2) == b_classes.unsqueeze(1)
    return same.logical_and_(pairwise_iou(a, b) > iou_threshold)


def _gather_boxes(boxes: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    return boxes.gather(1, index.unsqueeze(2).expand(-1, -1, 4))


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
