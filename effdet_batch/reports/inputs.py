"""What the model-selection report reads: run manifests, evaluation metrics and benchmark
records, from files or folders, local or in object storage."""
from __future__ import annotations

import json
from typing import Any

from ..errors import InputError, first_line
from ..listing import list_files
from ..pipeline.summary import RunSummary
from ..uri import check_scheme, redact

__all__ = ["load_runs", "load_metrics", "load_benchmarks"]


def _expand(uri: str, pattern: str) -> list[str]:
    """`uri` itself when it names a file, else the files named like `pattern` below it (sorted)."""
    check_scheme(uri, "report input")
    found = list_files(uri, "report input", pattern=pattern).uris
    if not found:
        raise InputError(f"no {pattern} under {redact(uri)}")
    return found


def _read_text(uri: str) -> str:
    import fsspec

    try:
        with fsspec.open(uri, "r") as f:
            return f.read()
    except Exception as exc:
        raise InputError(f"cannot read {redact(uri)}: {first_line(exc)}") from None


def _json_object(uri: str, text: str, line: int | None = None) -> dict[str, Any]:
    where = f"{redact(uri)}" + (f" line {line}" if line else "")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{where} is not JSON: {exc.msg} at column {exc.colno}") from None
    if not isinstance(value, dict):
        raise InputError(f"{where} is not a JSON object")
    return {**value, "_source": redact(uri)}


def _require(record: dict[str, Any], keys: tuple[str, ...], what: str) -> dict[str, Any]:
    missing = [k for k in keys if k not in record]
    if missing:
        raise InputError(f"{record['_source']} is not {what}: no {', '.join(missing)}")
    return record


def load_runs(uris: list[str]) -> list[RunSummary]:
    """Run manifests (`_manifest-<run>.json`, or every one under a job's output prefix), of this
    version or an older one."""
    keys = ("run_id", "model", "images_total", "images_per_second", "device", "device_count", "device_name",
            "precision")
    runs = []
    for uri in uris:
        for u in _expand(uri, "_manifest-*.json"):
            record = _require(_json_object(u, _read_text(u)), keys, "a run manifest of jobs/infer.py")
            del record["_source"]
            runs.append(RunSummary.from_json(record))
    return runs


def load_metrics(uris: list[str]) -> list[dict[str, Any]]:
    """`metrics.json` files of jobs/evaluate.py (or every one under a folder)."""
    return [_require(_json_object(u, _read_text(u)), ("model", "AP", "AP50"), "metrics of jobs/evaluate.py")
            for uri in uris for u in _expand(uri, "metrics.json")]


def load_benchmarks(uris: list[str]) -> list[dict[str, Any]]:
    """Records of jobs/benchmark.py: JSON lines files (or every *.jsonl under a folder)."""
    records = []
    for uri in uris:
        for u in _expand(uri, "*.jsonl"):
            for number, line in enumerate(_read_text(u).splitlines(), 1):
                if line.strip():
                    records.append(_require(_json_object(u, line, number), ("benchmark", "model"),
                                            "a record of jobs/benchmark.py"))
    return records
