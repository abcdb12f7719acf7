"""The job's output read for an export: the processed rows with their detections at or above a
score, the error rows counted, and the run's label set from its manifests."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..datasets import open_dataset
from ..errors import InputError
from ..evaluation.predictions import read_predictions
from ..uri import redact

__all__ = ["ExportRows", "read_export_rows"]


@dataclass(frozen=True)
class ExportRows:
    """`rows`: one per processed image, sorted by `image_id`, with `width`, `height` (displayed
    pixels), `boxes` (float64 [N, 4] x1, y1, x2, y2 of float32 values, displayed pixels), `scores`,
    `category_ids`, `labels`, `model`, `weights_sha256`. `categories`: [{id, name}] of the run's
    label set."""

    rows: pd.DataFrame
    categories: list[dict[str, object]]
    rows_error: int
    detections_below: int  # left out by the score threshold


def _category_list(pairs: Iterable[tuple[int, str]], where: str) -> list[dict[str, object]]:
    """[{id, name}] by id; one id with two names means the rows are of different label sets."""
    names: dict[int, str] = {}
    for i, name in pairs:
        if names.setdefault(int(i), str(name)) != str(name):
            raise InputError(f"{where} give category {i} two names, {names[int(i)]!r} and {name!r} (runs with "
                             "different label sets): export each run's Parquet files on their own")
    return [{"id": i, "name": names[i]} for i in sorted(names)]


def _manifest_categories(uri: str) -> list[dict[str, object]] | None:
    """The label set of the run manifests beside the Parquet; None when there are none."""
    from ..model.labels import coco_labels
    from ..pipeline.summary import read_manifests

    runs = read_manifests(uri)
    if not runs:
        return None
    pairs = []
    for run in runs:
        # Runs from before label sets were recorded used COCO's.
        categories = run.labels["categories"] if run.labels else coco_labels().categories()
        pairs += [(c["id"], c["name"]) for c in categories]
    return _category_list(pairs, f"the run manifests of {redact(uri)}")


def _at_or_above(rows: pd.DataFrame, min_score: float | None) -> pd.DataFrame:
    """`rows` with only their detections scoring `min_score` or more (all when None), as arrays."""
    columns: dict[str, list] = {"boxes": [], "scores": [], "category_ids": [], "labels": []}
    for boxes, scores, ids, labels in zip(rows["boxes"], rows["scores"], rows["category_ids"], rows["labels"]):
        scores = np.asarray(scores, dtype=np.float64)
        keep = scores >= min_score if min_score is not None else np.ones(len(scores), dtype=bool)
        columns["boxes"].append(np.array([list(b) for b in boxes], dtype=np.float64).reshape(-1, 4)[keep])
        columns["scores"].append(scores[keep])
        columns["category_ids"].append(np.asarray(ids, dtype=np.int64)[keep])
        columns["labels"].append([name for name, k in zip(labels, keep) if k])
    return rows.assign(**columns)


def read_export_rows(uri: str, min_score: float | None = None) -> ExportRows:
    """The processed rows of the job output `uri` with their detections scoring `min_score` or
    more (all when None), and the run's label set: its manifests', else the ids and names the
    rows hold."""
    rows = read_predictions(uri)
    # The same dataset scanned again in the same order; read_predictions reads no sizes.
    sizes = open_dataset(uri).to_table(columns=["width", "height"]).to_pandas()
    assert len(sizes) == len(rows)
    rows = rows.assign(width=sizes["width"], height=sizes["height"])
    failed = rows["error"].notna()
    ok = rows[~failed].sort_values("image_id", ignore_index=True)
    total = int(ok["scores"].map(len).sum())
    ok = _at_or_above(ok, min_score)
    below = total - int(ok["scores"].map(len).sum())
    categories = _manifest_categories(uri)
    if categories is None:
        seen = ((i, n) for ids, names in zip(ok["category_ids"], ok["labels"]) for i, n in zip(ids, names))
        categories = _category_list(seen, f"the rows of {redact(uri)}")
    return ExportRows(ok.drop(columns="error"), categories, int(failed.sum()), below)
