"""An evaluation as files: metrics.json, per_class.csv, precision_recall.png and the page that
shows them (index.html, with thumbnails) under a folder or prefix."""
from __future__ import annotations

import json
from typing import Any

from ..pipeline.readers import ReadOptions
from ..uri import basename, join
from ..views.page import write_page
from ..views.thumbnails import read_options
from .charts import precision_recall_png
from .coco import EvalResult, evaluate
from .page import evaluation_page
from .predictions import read_predictions, read_run_facts

__all__ = ["write_evaluation", "evaluate_to"]


def write_evaluation(result: EvalResult, metrics: dict[str, Any], output: str, title: str,
                     predictions: str | None = None) -> list[str]:
    """Write `metrics` (the result's, with whatever the caller adds), the per-class table, the
    precision-recall chart and the page under `output`; returns the URIs written. The page's
    thumbnails read Parquet shards as the runs beside `predictions` did."""
    import fsspec

    fs, root = fsspec.core.url_to_fs(output)
    fs.makedirs(root, exist_ok=True)
    written = [join(output, name) for name in ("metrics.json", "per_class.csv", "precision_recall.png")]
    with fsspec.open(written[0], "w") as f:
        json.dump(metrics, f, indent=1)
    with fsspec.open(written[1], "w") as f:
        result.per_class.to_csv(f, index=False, float_format="%.6f")
    with fsspec.open(written[2], "wb") as f:
        f.write(precision_recall_png(result, title))
    options = read_options(predictions) if predictions else ReadOptions()
    page, thumbnails = evaluation_page(result, metrics, title, "precision_recall.png", options)
    return written + write_page(output, page, thumbnails)


def evaluate_to(output: str, predictions: str, gt: dict[str, Any], annotations: str, match: str = "basename",
                categories: str = "id") -> dict[str, Any]:
    """What jobs/evaluate.py does: the job output `predictions` evaluated against `gt` (read from
    `annotations`), with the runs' weights and label set, written under `output`; returns the metrics."""
    result = evaluate(gt, read_predictions(predictions), match, categories)
    metrics = {**result.metrics(), **read_run_facts(predictions)}
    write_evaluation(result, metrics, output, f"{predictions} vs {basename(annotations)}", predictions)
    return metrics
