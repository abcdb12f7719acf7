"""Label churn: how an image's detections changed between two runs, summed per class.

Detections at or above a score are compared per image: each new box is paired with the unpaired
old box it overlaps most (IoU >= 0.5, highest first). Per class of the old detection:
kept (paired, same class), changed (paired, now another class), removed (unpaired); per class of
the new detection: added (unpaired).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ..model.nms import pairwise_iou

__all__ = ["churn_by_class", "MATCH_IOU"]

MATCH_IOU = 0.5
COLUMNS = ["category_id", "label", "added", "removed", "changed", "kept"]


def _detections(row: pd.Series, min_score: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if row is None or row["boxes"] is None:
        return np.zeros((0, 4)), np.zeros(0, np.int64), np.zeros(0, object)
    keep = np.asarray(row["scores"], np.float64) >= min_score
    boxes = np.asarray([list(b) for b in row["boxes"]], np.float64).reshape(-1, 4)[keep]
    return boxes, np.asarray(row["category_ids"], np.int64)[keep], np.asarray(row["labels"], object)[keep]


def _pairs(old: np.ndarray, new: np.ndarray) -> list[tuple[int, int]]:
    """Greedy one-to-one (old, new) pairs by descending IoU, each at least MATCH_IOU."""
    if not len(old) or not len(new):
        return []
    # Degenerate boxes overlap nothing (NaN, as NMS treats them), so they never pair.
    iou = pairwise_iou(torch.from_numpy(old)[None], torch.from_numpy(new)[None])[0].nan_to_num(0.0).numpy()
    pairs, used_old, used_new = [], set(), set()
    for flat in np.argsort(-iou, axis=None, kind="stable"):
        i, j = divmod(int(flat), iou.shape[1])
        if iou[i, j] < MATCH_IOU:
            break
        if i not in used_old and j not in used_new:
            pairs.append((i, j))
            used_old.add(i)
            used_new.add(j)
    return pairs


def churn_by_class(previous: pd.DataFrame, current: pd.DataFrame, min_score: float = 0.5) -> pd.DataFrame:
    """Per class, detections added, removed, changed (to another class) and kept, over the images
    that have a row in both `previous` and `current` (job schema, one row per image_id)."""
    counts: dict[tuple[int, str], dict[str, int]] = {}

    def bump(category: int, label: str, what: str) -> None:
        counts.setdefault((int(category), str(label)), dict.fromkeys(COLUMNS[2:], 0))[what] += 1

    old_rows = previous.set_index("image_id")
    for _, new_row in current.iterrows():
        if new_row["image_id"] not in old_rows.index:
            continue
        old_boxes, old_cls, old_lbl = _detections(old_rows.loc[new_row["image_id"]], min_score)
        new_boxes, new_cls, new_lbl = _detections(new_row, min_score)
        pairs = _pairs(old_boxes, new_boxes)
        for i, j in pairs:
            bump(old_cls[i], old_lbl[i], "kept" if old_cls[i] == new_cls[j] else "changed")
        for i in set(range(len(old_boxes))) - {i for i, _ in pairs}:
            bump(old_cls[i], old_lbl[i], "removed")
        for j in set(range(len(new_boxes))) - {j for _, j in pairs}:
            bump(new_cls[j], new_lbl[j], "added")
    rows = [{"category_id": c, "label": lbl, **n} for (c, lbl), n in sorted(counts.items())]
    return pd.DataFrame(rows, columns=COLUMNS)
