"""Raw head outputs -> detections in original-image pixels, for a whole batch at once.

Steps (as the reference evaluation): top-5000 over every anchor x class logit, sigmoid, decode
against the anchors, clip to the image, per-class NMS at IoU 0.5, at most `max_detections` per
image. The number of classes is read off the class outputs (channels / anchors per location), so
any head works. Internally xyxy float32 and 0-based classes; 1-based class indices in the returned
dicts (for COCO's 90-class head these are the COCO ids; `LabelSet` maps others to their ids).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from .anchors import anchors_for
from .box_coder import decode_boxes
from .config import get_spec
from .nms import batched_nms, batched_soft_nms

__all__ = ["MAX_CANDIDATES", "NMS_IOU", "postprocess", "postprocess_batch", "split_detections"]

MAX_CANDIDATES = 5000  # logits kept before NMS (the reference's max_detection_points)
NMS_IOU = 0.5


def _per_anchor(output: torch.Tensor, per_anchor: int) -> torch.Tensor:
    """One level's [B, A*k, H, W] -> [B, H*W*A, k] (a view for channels-last outputs)."""
    return output.permute(0, 2, 3, 1).reshape(output.shape[0], -1, per_anchor)


def _top_candidates(
    class_outputs: Sequence[torch.Tensor], num_classes: int, k: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Exact top-k over all anchor x class logits -> (values, anchor ids, class ids), each [B, k].

    A logit in the top k belongs to one of the k anchors with the highest best-class logit (else k
    other anchors would each hold a larger logit), so a top-k over the N anchor maxima, then over
    those anchors' k x C logits, replaces a top-k over N x C values and never copies all N x C.
    """
    levels = [_per_anchor(o, num_classes) for o in class_outputs]
    maxima = torch.cat([level.amax(2) for level in levels], 1)  # [B, N]
    k = min(k, maxima.shape[1] * num_classes)
    _, anchor_ids = maxima.topk(min(k, maxima.shape[1]), dim=1)  # [B, kA]
    rows = None
    start = 0
    for level in levels:  # gather the chosen anchors' rows level by level
        local = (anchor_ids - start).clamp(0, level.shape[1] - 1)
        level_rows = level.gather(1, local.unsqueeze(2).expand(-1, -1, num_classes))
        inside = ((anchor_ids >= start) & (anchor_ids < start + level.shape[1])).unsqueeze(2)
        rows = level_rows if rows is None else torch.where(inside, level_rows, rows)
        start += level.shape[1]
    values, flat = rows.flatten(1).topk(k, dim=1)
    return values, anchor_ids.gather(1, flat // num_classes), flat % num_classes


@torch.no_grad()
def postprocess_batch(
    class_outputs: Sequence[torch.Tensor],
    box_outputs: Sequence[torch.Tensor],
    name: str,
    scales: torch.Tensor,
    image_sizes: torch.Tensor,
    max_detections: int = 100,
    soft_nms: bool = False,
) -> dict[str, torch.Tensor]:
    """Batched postprocess on the outputs' device.

    Args:
        scales: [B] resized / original, as returned by `letterbox`.
        image_sizes: [B, 2] original (width, height).

    Returns:
        `boxes` float32 [B, D, 4] xyxy original pixels, `scores` float32 [B, D], `classes` int64
        [B, D] (0-based), `valid` bool [B, D]; padded rows are invalid.
    """
    spec = get_spec(name)
    num_classes = class_outputs[0].shape[1] // spec.num_anchors
    deltas = torch.cat([_per_anchor(o, 4) for o in box_outputs], 1)  # [B, N, 4]
    device = deltas.device
    values, anchor_ids, classes = _top_candidates(class_outputs, num_classes, MAX_CANDIDATES)
    anchors = anchors_for(spec, device)[anchor_ids]  # [B, K, 4]
    boxes = decode_boxes(deltas.gather(1, anchor_ids.unsqueeze(2).expand(-1, -1, 4)), anchors)
    boxes = boxes / scales.to(device, torch.float32).view(-1, 1, 1)
    limits = image_sizes.to(device, torch.float32).repeat(1, 2).unsqueeze(1)  # [B, 1, 4] = (w, h, w, h)
    boxes = torch.minimum(boxes.clamp(min=0), limits)
    scores = values.float().sigmoid()
    if soft_nms:
        keep, scores, valid = batched_soft_nms(boxes, scores, classes, max_detections)
    else:
        keep, valid = batched_nms(boxes, classes, NMS_IOU, max_detections)
        scores = scores.gather(1, keep)
    return {
        "boxes": boxes.gather(1, keep.unsqueeze(2).expand(-1, -1, 4)),
        "scores": scores,
        "classes": classes.gather(1, keep),
        "valid": valid,
    }


def postprocess(
    class_outputs: Sequence[torch.Tensor],
    box_outputs: Sequence[torch.Tensor],
    name: str,
    scales: Sequence[float],
    image_sizes: Sequence[tuple[int, int]],
    max_detections: int = 100,
    soft_nms: bool = False,
) -> list[dict[str, np.ndarray]]:
    """Detections per image from raw head outputs.

    Args:
        class_outputs, box_outputs: per level [B, A*C, H, W] and [B, A*4, H, W].
        name: the variant (`d0`...), which fixes the anchors.
        scales: per image, resized / original as returned by `letterbox`.
        image_sizes: per image, original (width, height).
        max_detections: kept per image after NMS.
        soft_nms: Gaussian soft-NMS (sigma 0.5) instead of hard NMS at IoU 0.5.

    Returns:
        One dict per image: `boxes` float32 [N, 4] (x1, y1, x2, y2) original pixels, `scores`
        float32 [N] descending, `classes` int32 [N] 1-based class indices.
    """
    out = postprocess_batch(
        class_outputs,
        box_outputs,
        name,
        torch.as_tensor(scales, dtype=torch.float32),
        torch.as_tensor(image_sizes, dtype=torch.float32).reshape(-1, 2),
        max_detections,
        soft_nms,
    )
    return split_detections(out)


def split_detections(batch: dict[str, torch.Tensor]) -> list[dict[str, np.ndarray]]:
    """Padded batch tensors -> one dict of numpy arrays per image, 1-based class indices."""
    boxes, scores = batch["boxes"].cpu().numpy(), batch["scores"].float().cpu().numpy()
    classes, valid = batch["classes"].cpu().numpy(), batch["valid"].cpu().numpy()
    return [
        {
            "boxes": boxes[i][valid[i]].astype(np.float32),
            "scores": scores[i][valid[i]].astype(np.float32),
            "classes": (classes[i][valid[i]] + 1).astype(np.int32),
        }
        for i in range(len(valid))
    ]
