"""The output table: one row per input image, detections or an error.

Boxes are [x1, y1, x2, y2] float32 in original pixels of the displayed (EXIF-rotated) image;
category ids and labels are the run's label set's (COCO's 1-90 for the published weights). `error`
is null for images that were processed.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pyarrow as pa

__all__ = ["SCHEMA_VERSION", "OUTPUT_SCHEMA", "detection_rows", "error_rows"]

SCHEMA_VERSION = 1

OUTPUT_SCHEMA = pa.schema(
    [
        pa.field("image_id", pa.string(), nullable=False),
        pa.field("source_uri", pa.string(), nullable=False),
        pa.field("width", pa.int32()),
        pa.field("height", pa.int32()),
        pa.field("boxes", pa.list_(pa.list_(pa.float32(), 4))),
        pa.field("scores", pa.list_(pa.float32())),
        pa.field("category_ids", pa.list_(pa.int32())),
        pa.field("labels", pa.list_(pa.string())),
        pa.field("num_detections", pa.int32()),
        pa.field("model", pa.string()),
        pa.field("weights_sha256", pa.string()),
        pa.field("run_id", pa.string()),
        pa.field("error", pa.string()),
    ],
    metadata={"effdet_batch.schema_version": str(SCHEMA_VERSION)},
)


def _table(columns: dict[str, list]) -> pa.Table:
    return pa.Table.from_pydict(columns, schema=OUTPUT_SCHEMA)


def detection_rows(
    image_ids: Sequence[str],
    source_uris: Sequence[str],
    sizes: Sequence[tuple[int, int]],
    detections: Sequence[dict[str, np.ndarray]],
    label_names: Mapping[int, str],
    model: str,
    weights_sha256: str,
    run_id: str,
) -> pa.Table:
    """Rows for processed images; `detections` as returned by `Detector.detect`, `label_names`
    the name of each category id."""
    return _table(
        {
            "image_id": list(image_ids),
            "source_uri": list(source_uris),
            "width": [int(w) for w, _ in sizes],
            "height": [int(h) for _, h in sizes],
            "boxes": [d["boxes"].astype(np.float32).tolist() for d in detections],
            "scores": [d["scores"].astype(np.float32).tolist() for d in detections],
            "category_ids": [d["classes"].astype(np.int32).tolist() for d in detections],
            "labels": [[label_names[int(c)] for c in d["classes"]] for d in detections],
            "num_detections": [len(d["scores"]) for d in detections],
            "model": [model] * len(image_ids),
            "weights_sha256": [weights_sha256] * len(image_ids),
            "run_id": [run_id] * len(image_ids),
            "error": [None] * len(image_ids),
        }
    )


def error_rows(
    image_ids: Sequence[str],
    source_uris: Sequence[str],
    errors: Sequence[str],
    model: str,
    weights_sha256: str,
    run_id: str,
) -> pa.Table:
    """Rows for images that could not be processed; detections are null."""
    n = len(image_ids)
    return _table(
        {
            "image_id": list(image_ids),
            "source_uri": list(source_uris),
            "width": [None] * n,
            "height": [None] * n,
            "boxes": [None] * n,
            "scores": [None] * n,
            "category_ids": [None] * n,
            "labels": [None] * n,
            "num_detections": [None] * n,
            "model": [model] * n,
            "weights_sha256": [weights_sha256] * n,
            "run_id": [run_id] * n,
            "error": list(errors),
        }
    )
