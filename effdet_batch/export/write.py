"""One export of the job's output: read it, convert it to a format, write the file (and Label
Studio's labeling config beside it), and count what was written and what was left out."""
from __future__ import annotations

import json
import posixpath
from typing import Any

from ..errors import ConfigError, OutputError, first_line
from ..evaluation.ground_truth import load_ground_truth
from ..uri import check_scheme, is_remote, redact
from .coco import coco_dataset, coco_results, on_ground_truth
from .label_studio import label_studio_tasks, labeling_config
from .rows import read_export_rows

__all__ = ["FORMATS", "config_uri", "export", "summary_text"]

FORMATS = ("coco", "coco-dataset", "label-studio")


def config_uri(output: str) -> str:
    """Where the labeling config goes by default: `output` with the suffix `.xml`."""
    return posixpath.splitext(output)[0] + ".xml"


def _check_options(fmt: str, annotations: str | None, match: str | None, categories: str | None,
                   url_prefix: str | None, config: str | None) -> None:
    """ConfigError for an option the format does not read: it would do nothing, silently."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown --format {fmt!r}: expected one of {', '.join(FORMATS)}")
    for flag, value, only in (("--annotations", annotations, "coco"), ("--url-prefix", url_prefix, "label-studio"),
                              ("--config", config, "label-studio")):
        if value is not None and fmt != only:
            raise ConfigError(f"{flag} is an option of --format {only}, not of --format {fmt}")
    for flag, value in (("--match", match), ("--categories", categories)):
        if value is not None and annotations is None:
            raise ConfigError(f"{flag} says how rows match --annotations: give --annotations too")


def _write(uri: str, text: str) -> None:
    import fsspec

    try:
        fs, path = fsspec.core.url_to_fs(uri)
        if not is_remote(uri) and posixpath.dirname(path):  # object stores have no folders (s3fs would make a bucket)
            fs.makedirs(posixpath.dirname(path), exist_ok=True)
        with fsspec.open(uri, "w") as f:
            f.write(text)
    except Exception as exc:  # any filesystem's refusal: permissions, missing bucket, a folder in the way
        raise OutputError(f"cannot write {redact(uri)}: {first_line(exc)}") from None


def export(predictions: str, fmt: str, output: str, *, min_score: float | None = None,
           annotations: str | None = None, match: str | None = None, categories: str | None = None,
           url_prefix: str | None = None, config: str | None = None) -> dict[str, Any]:
    """Write the job output `predictions` to the file `output` in format `fmt` (one of FORMATS),
    detections scoring `min_score` or more only (all when None); error rows are left out. For
    `coco`, `annotations` (COCO instances JSON) gives the image ids, rows matched by `match` and
    categories by `categories` as in `jobs/evaluate.py`; for `label-studio`, see
    `label_studio_tasks` for `url_prefix`, and the labeling config goes to `config` (default
    `config_uri(output)`). Returns what was written and left out."""
    _check_options(fmt, annotations, match, categories, url_prefix, config)
    check_scheme(output, "output")
    config = config or config_uri(output)  # written for label-studio only
    if fmt == "label-studio":
        check_scheme(config, "labeling config")
        if config == output:
            raise ConfigError(f"the labeling config would overwrite the output {redact(output)}: give --config")
    gt = load_ground_truth(annotations) if annotations is not None else None  # a bad file fails before the read
    data = read_export_rows(predictions, min_score)
    summary: dict[str, Any] = {"format": fmt, "output": redact(output), "rows_error": data.rows_error,
                               "detections_below_min_score": data.detections_below}
    if fmt == "coco":
        rows = data.rows
        if gt is not None:
            rows = on_ground_truth(rows, gt, match or "basename", categories or "id")
            summary["rows_not_in_gt"] = len(data.rows) - len(rows)
        results = coco_results(rows)
        _write(output, json.dumps(results))
        summary.update(images=len(rows), detections=len(results))
    elif fmt == "coco-dataset":
        dataset = coco_dataset(data)
        _write(output, json.dumps(dataset))
        summary.update(images=len(dataset["images"]), detections=len(dataset["annotations"]))
    else:
        tasks = label_studio_tasks(data, url_prefix)
        _write(output, json.dumps(tasks))
        _write(config, labeling_config([str(c["name"]) for c in data.categories]))
        summary.update(images=len(tasks), detections=sum(len(t["predictions"][0]["result"]) for t in tasks),
                       config=redact(config))
    return summary


def summary_text(summary: dict[str, Any]) -> str:
    """One line for people: what was written where, and what was left out."""
    config = f" and its labeling config to {summary['config']}" if "config" in summary else ""
    left_out = [f"{summary['rows_error']} error rows"]
    if "rows_not_in_gt" in summary:
        left_out.append(f"{summary['rows_not_in_gt']} rows not in the ground truth")
    left_out.append(f"{summary['detections_below_min_score']} detections below --min-score")
    return (f"wrote {summary['detections']} detections of {summary['images']} images as {summary['format']} to "
            f"{summary['output']}{config}; left out {', '.join(left_out)}")
