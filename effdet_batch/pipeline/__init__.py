"""The batch-inference job: image URIs -> Ray Data -> detector actors -> Parquet.

The names below are loaded when first used: Ray's read tasks import this package's datasource in
worker processes of their own, and each would otherwise import torch (through the run's config)
before reading a single row: seconds of CPU per worker, on the cores the detectors use."""
from importlib import import_module

_EXPORTS = {"PipelineConfig": "config", "run_inference": "run", "RunSummary": "summary",
            "summary_text": "summary", "OUTPUT_SCHEMA": "schema"}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
