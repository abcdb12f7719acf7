"""Label churn: how an image's detections changed between two runs, per image and summed per class.

Detections at or above a score are compared per image: each new box is paired with the unpaired
old box it overlaps most (IoU >= 0.5, highest first). Per class of the old detection:
kept (paired, same class), changed (paired, now another class), removed (unpaired); per class of
the new detection: added (unpaired).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ..model.nms import pairwise_iou

__all__ = ["churn_by_class", "churn_by_image", "class_churn", "Detections", "ImageChurn", "MATCH_IOU"]

MATCH_IOU = 0.5
COLUMNS = ["category_id", "label", "added", "removed", "changed", "kept"]


@dataclass(frozen=True)
class Detections:
    """One side's compared detections: boxes [N, 4] x1, y1, x2, y2; their ids, labels and scores;
    `outcome`: kept, changed, removed (old side) or added (new side), one per box."""

    boxes: np.ndarray
    category_ids: np.ndarray
    labels: np.ndarray
    scores: np.ndarray
    outcome: tuple[str, ...] = ()


@dataclass(frozen=True)
class ImageChurn:
    image_id: str
    old: Detections
    new: Detections

    def count(self, outcome: str) -> int:
        side = self.new if outcome == "added" else self.old
        return side.outcome.count(outcome)

    @property
    def changes(self) -> int:
        """Boxes added, removed or of another class: how much the image's labels changed."""
        return sum(self.count(o) for o in ("added", "removed", "changed"))


def _detections(row: pd.Series, min_score: float) -> Detections:
    if row is None or row["boxes"] is None:
        return Detections(np.zeros((0, 4)), np.zeros(0, np.int64), np.zeros(0, object), np.zeros(0))
    scores = np.asarray(row["scores"], np.float64)
    keep = scores >= min_score
    boxes = np.asarray([list(b) for b in row["boxes"]], np.float64).reshape(-1, 4)[keep]
    return Detections(boxes, np.asarray(row["category_ids"], np.int64)[keep], np.asarray(row["labels"], object)[keep],
                      scores[keep])


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


def _compare(image_id: str, old: Detections, new: Detections) -> ImageChurn:
    pairs = _pairs(old.boxes, new.boxes)
    old_outcome = ["removed"] * len(old.boxes)
    new_outcome = ["added"] * len(new.boxes)
    for i, j in pairs:
        old_outcome[i] = new_outcome[j] = "kept" if old.category_ids[i] == new.category_ids[j] else "changed"
    return ImageChurn(image_id, Detections(old.boxes, old.category_ids, old.labels, old.scores, tuple(old_outcome)),
                      Detections(new.boxes, new.category_ids, new.labels, new.scores, tuple(new_outcome)))


def churn_by_image(previous: pd.DataFrame, current: pd.DataFrame, min_score: float = 0.5) -> list[ImageChurn]:
    """Each image that has a row in both `previous` and `current` (job schema, one row per
    image_id), its old and new detections paired."""
    old_rows = previous.set_index("image_id")
    return [_compare(new_row["image_id"], _detections(old_rows.loc[new_row["image_id"]], min_score),
                     _detections(new_row, min_score))
            for _, new_row in current.iterrows() if new_row["image_id"] in old_rows.index]


def class_churn(images: list[ImageChurn]) -> pd.DataFrame:
    """Per class, detections added, removed, changed (counted under the old class) and kept."""
    counts: dict[tuple[int, str], dict[str, int]] = {}
    for image in images:
        for side in (image.old, image.new):
            for category, label, outcome in zip(side.category_ids, side.labels, side.outcome):
                if side is image.new and outcome != "added":  # a pair counts once, under its old class
                    continue
                counts.setdefault((int(category), str(label)), dict.fromkeys(COLUMNS[2:], 0))[outcome] += 1
    rows = [{"category_id": c, "label": lbl, **n} for (c, lbl), n in sorted(counts.items())]
    return pd.DataFrame(rows, columns=COLUMNS)


def churn_by_class(previous: pd.DataFrame, current: pd.DataFrame, min_score: float = 0.5) -> pd.DataFrame:
    """Per class, detections added, removed, changed (to another class) and kept, over the images
    that have a row in both `previous` and `current` (job schema, one row per image_id)."""
    return class_churn(churn_by_image(previous, current, min_score))
