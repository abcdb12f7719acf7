"""COCO bbox evaluation (pycocotools) of matched prediction rows: the 12 standard statistics,
per-class AP and AP50, and the counts that say what was and was not evaluated."""
from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError
from .matching import ImageMatch, image_matches, unmatched_images
from .predictions import match_rows

__all__ = ["STAT_NAMES", "CATEGORY_MODES", "EvalResult", "evaluate"]

STAT_NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")
CATEGORY_MODES = ("id", "name")


@dataclass
class EvalResult:
    stats: dict[str, float]
    per_class: pd.DataFrame  # category_id, name, gt_count, AP, AP50
    counts: dict[str, int]
    missed_images: list[str]  # ground-truth file names with no prediction row
    error_rows: list[dict[str, str]]
    source: dict[str, str | None]  # the model and weights_sha256 the rows came from (None: several)
    precision: np.ndarray | None = field(default=None, repr=False)  # COCOeval's [T, R, K, A, M]
    recall_thresholds: np.ndarray | None = field(default=None, repr=False)
    images: list[ImageMatch] = field(default_factory=list, repr=False)  # per ground-truth image, at IoU 0.5

    def metrics(self) -> dict[str, Any]:
        return {**self.source, **self.stats, **self.counts, "missed_images": self.missed_images,
                "error_rows": self.error_rows}


def _only_value(column: pd.Series) -> str | None:
    """The column's one distinct value; None when it has several (or none)."""
    values = column.dropna().unique()
    return str(values[0]) if len(values) == 1 else None


def _results(rows: pd.DataFrame, category_ids: pd.Series) -> list[dict[str, Any]]:
    """COCO results ([x, y, w, h] boxes) of the matched, processed rows."""
    out = []
    for image_id, boxes, scores, classes in zip(rows["gt_image_id"], rows["boxes"], rows["scores"], category_ids):
        for box, score, category in zip(boxes, scores, classes):
            if category is None:
                continue
            x1, y1, x2, y2 = (float(v) for v in box)
            out.append({"image_id": int(image_id), "category_id": int(category),
                        "bbox": [x1, y1, x2 - x1, y2 - y1], "score": float(score)})
    return out


def _valid_mean(precision: np.ndarray) -> float:
    """Mean of COCOeval precisions, -1 (no ground truth) excluded; NaN when all are -1."""
    valid = precision[precision > -1]
    return float(valid.mean()) if valid.size else np.nan


def _category_ids(rows: pd.DataFrame, categories: list[dict], mode: str) -> pd.Series:
    if mode == "id":
        return rows["category_ids"]
    if mode != "name":
        raise ConfigError(f"unknown --categories {mode!r}: expected one of {', '.join(CATEGORY_MODES)}")
    by_name = {str(c["name"]).lower(): int(c["id"]) for c in categories}
    return rows["labels"].map(lambda labels: [by_name.get(str(n).lower()) for n in labels])


def evaluate(gt: dict[str, Any], rows: pd.DataFrame, match: str = "basename", categories: str = "id") -> EvalResult:
    """Evaluate prediction rows (the job's schema) against COCO ground truth `gt`."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    rows = rows.assign(gt_image_id=match_rows(rows, gt["images"], match))
    failed = rows["error"].notna()
    matched = rows[rows["gt_image_id"].notna()]
    ok = matched[~failed.loc[matched.index]]
    predicted = set(ok["gt_image_id"].astype(int))
    missed = sorted(str(i["file_name"]) for i in gt["images"] if int(i["id"]) not in predicted)
    results = _results(ok, _category_ids(ok, gt["categories"], categories)) if len(ok) else []
    counts = {
        "images_gt": len(gt["images"]),
        "images_evaluated": len(predicted),
        "images_missed": len(missed),
        "rows": len(rows),
        "rows_not_in_gt": int(rows["gt_image_id"].isna().sum()),
        "rows_error": int(failed.sum()),
        "detections": len(results),
        "annotations": len(gt["annotations"]),
    }
    errors = [{"image_id": i, "error": e} for i, e in zip(rows.loc[failed, "image_id"], rows.loc[failed, "error"])]
    # The report attributes these metrics to a model by this.
    source = {"model": _only_value(rows["model"]), "weights_sha256": _only_value(rows["weights_sha256"])}
    row_of = {int(g): (i, u) for g, i, u in zip(ok["gt_image_id"], ok["image_id"], ok["source_uri"])}

    names = {int(c["id"]): str(c["name"]) for c in gt["categories"]}
    gt_counts = pd.Series([int(a["category_id"]) for a in gt["annotations"]], dtype="int64").value_counts()
    per_class = pd.DataFrame({"category_id": list(names), "name": list(names.values())})
    per_class["gt_count"] = per_class["category_id"].map(gt_counts).fillna(0).astype(int)
    if not results:  # loadRes cannot take an empty list; nothing detected scores zero
        per_class["AP"] = np.where(per_class["gt_count"] > 0, 0.0, np.nan)
        per_class["AP50"] = per_class["AP"]
        return EvalResult(dict.fromkeys(STAT_NAMES, 0.0), per_class, counts, missed, errors, source,
                          images=unmatched_images(gt, row_of))

    coco = COCO()
    coco.dataset = gt
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
        coco.createIndex()
        detections = coco.loadRes(results)
        evaluator = COCOeval(coco, detections, "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    precision = evaluator.eval["precision"]  # [T IoUs, R recalls, K classes, A areas, M maxDets]
    ap = [_valid_mean(precision[:, :, k, 0, -1]) for k in range(precision.shape[2])]
    ap50 = [_valid_mean(precision[0, :, k, 0, -1]) for k in range(precision.shape[2])]
    order = {c: k for k, c in enumerate(evaluator.params.catIds)}
    per_class["AP"] = [ap[order[c]] for c in per_class["category_id"]]
    per_class["AP50"] = [ap50[order[c]] for c in per_class["category_id"]]
    stats = {name: float(v) for name, v in zip(STAT_NAMES, evaluator.stats)}
    return EvalResult(stats, per_class, counts, missed, errors, source, precision, evaluator.params.recThrs,
                      image_matches(evaluator, gt, row_of))
