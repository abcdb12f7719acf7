"""COCO exports: a results list (what pycocotools' `loadRes` and COCO leaderboards take) and a
detection dataset with scores (what FiftyOne's `COCODetectionDataset` and CVAT import).

Boxes become COCO's [x, y, width, height] in displayed pixels here and nowhere else in the export.
"""
from __future__ import annotations

from typing import Any

import pandas as pd

from ..evaluation.coco import _category_ids
from ..evaluation.predictions import match_rows
from .rows import ExportRows

__all__ = ["on_ground_truth", "coco_results", "coco_dataset"]


def _xywh(box) -> list[float]:
    x1, y1, x2, y2 = (float(v) for v in box)
    return [x1, y1, x2 - x1, y2 - y1]


def on_ground_truth(rows: pd.DataFrame, gt: dict[str, Any], match: str = "basename",
                    categories: str = "id") -> pd.DataFrame:
    """The `rows` of images in the ground truth `gt`, with its image ids and (with
    `categories="name"`) its category ids for their labels, matched as `jobs/evaluate.py`
    matches; a label the ground truth has no name for gets the category id None."""
    gt_ids = match_rows(rows, gt["images"], match)
    matched = rows[gt_ids.notna()]
    return matched.assign(image_id=gt_ids[matched.index].astype("int64"),
                          category_ids=_category_ids(matched, gt["categories"], categories))


def coco_results(rows: pd.DataFrame) -> list[dict[str, Any]]:
    """One COCO result per detection: `image_id` (the row's), `category_id`, `bbox`, `score`;
    detections whose category id is None are left out."""
    return [{"image_id": image_id, "category_id": int(category), "bbox": _xywh(box), "score": float(score)}
            for image_id, boxes, scores, classes in zip(rows["image_id"].tolist(), rows["boxes"], rows["scores"],
                                                        rows["category_ids"])
            for box, score, category in zip(boxes, scores, classes) if category is not None]


def coco_dataset(data: ExportRows) -> dict[str, Any]:
    """A COCO detection dataset of the processed rows: images numbered 1.. with the source image
    (its URI or path; `<shard URI>#<member>` for tar members and Parquet rows) as `file_name`,
    the run's categories, and one annotation with its `score` per detection."""
    rows = data.rows
    images, annotations = [], []
    for image_id, (name, width, height, boxes, scores, classes) in enumerate(
            zip(rows["image_id"], rows["width"], rows["height"], rows["boxes"], rows["scores"],
                rows["category_ids"]), start=1):
        images.append({"id": image_id, "file_name": name, "width": int(width), "height": int(height)})
        for box, score, category in zip(boxes, scores, classes):
            bbox = _xywh(box)
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": int(category),
                                "bbox": bbox, "area": bbox[2] * bbox[3], "iscrowd": 0, "score": float(score)})
    return {"images": images, "categories": data.categories, "annotations": annotations}
