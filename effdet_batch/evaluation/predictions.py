"""The job's Parquet output read back, and its rows matched to ground-truth images.

Match modes (the key of a row against the key of a ground-truth `file_name`):
    basename   the image's file name: the file's for files and manifest entries, the member's for
               tar members, against the basename of `file_name` (default)
    stem       the same without the extension
    path       `file_name` as a relative path that the image's path ends with
    id         the text after `#` in `image_id` (Parquet shard ids), against `file_name`
"""
from __future__ import annotations

import posixpath
from typing import Any

import pandas as pd

from ..datasets import open_dataset
from ..errors import ConfigError, InputError, first_line
from ..uri import check_scheme, redact

__all__ = ["MATCH_MODES", "read_predictions", "read_run_facts", "match_rows"]

MATCH_MODES = ("basename", "stem", "path", "id")
_COLUMNS = ["image_id", "source_uri", "boxes", "scores", "category_ids", "labels", "error", "model", "weights_sha256"]


def read_predictions(uri: str) -> pd.DataFrame:
    """The prediction rows of a job output (a folder/prefix of Parquet files, or one file)."""
    import fsspec

    check_scheme(uri, "predictions")
    try:
        fs, root = fsspec.core.url_to_fs(uri)
        if not fs.exists(root):
            raise InputError(f"predictions {redact(uri)} do not exist")
        table = open_dataset(uri).to_table(columns=_COLUMNS)
    except InputError:
        raise
    except Exception as exc:  # not Parquet, missing columns, unreadable
        raise InputError(f"cannot read predictions {redact(uri)}: {first_line(exc)}") from None
    return table.to_pandas()


def read_run_facts(uri: str) -> dict[str, Any]:
    """The weights and the label set (sha256) of the runs that wrote `uri`, from their manifests:
    what, besides the variant, tells one candidate model from another. None where the runs
    disagree; runs from before label sets were recorded used COCO's."""
    from ..model.labels import coco_labels
    from ..pipeline.summary import read_manifests

    facts: dict[str, set] = {"weights": set(), "labels_sha256": set()}
    for run in read_manifests(uri):
        if run.dry_run:
            continue
        facts["weights"].add(run.weights)
        facts["labels_sha256"].add((run.labels or {}).get("sha256", coco_labels().sha256))
    return {k: next(iter(v)) if len(v) == 1 else None for k, v in facts.items()}


def _image_path(image_id: str) -> str:
    """The image's own path: the part after `#` for tar members, else the URI's path."""
    path = image_id.rsplit("#", 1)[-1] if "#" in image_id else image_id
    return path.split("://", 1)[-1]


def _row_key(image_id: str, mode: str) -> str:
    if mode == "id":
        return image_id.rsplit("#", 1)[-1]
    name = posixpath.basename(_image_path(image_id))
    return posixpath.splitext(name)[0] if mode == "stem" else name


def _gt_key(file_name: str, mode: str) -> str:
    if mode in ("id", "path"):
        return file_name.removeprefix("./")
    name = posixpath.basename(file_name)
    return posixpath.splitext(name)[0] if mode == "stem" else name


def match_rows(rows: pd.DataFrame, images: list[dict], mode: str = "basename") -> pd.Series:
    """Ground-truth image id of each row (NA when the row's image is not in the ground truth)."""
    if mode not in MATCH_MODES:
        raise ConfigError(f"unknown --match {mode!r}: expected one of {', '.join(MATCH_MODES)}")
    keys: dict[str, int] = {}
    for image in images:
        key = _gt_key(str(image["file_name"]), mode)
        if key in keys:
            raise ConfigError(f"two ground-truth images have the {mode} {key!r}: use --match path")
        keys[key] = int(image["id"])
    if mode == "path":
        by_name: dict[str, list[str]] = {}
        for key in keys:
            by_name.setdefault(posixpath.basename(key), []).append(key)

        def lookup(image_id: str) -> int | None:
            path = _image_path(image_id)
            candidates = by_name.get(posixpath.basename(path), [])
            return next((keys[k] for k in candidates if path == k or path.endswith("/" + k)), None)
    else:
        def lookup(image_id: str) -> int | None:
            return keys.get(_row_key(image_id, mode))
    return pd.Series([lookup(i) for i in rows["image_id"]], index=rows.index, dtype="Int64")
