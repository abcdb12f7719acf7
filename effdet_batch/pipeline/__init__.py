"""The batch-inference job: image URIs -> Ray Data -> detector actors -> Parquet."""
from .config import PipelineConfig
from .run import run_inference
from .schema import OUTPUT_SCHEMA
from .summary import RunSummary, summary_text

__all__ = ["PipelineConfig", "run_inference", "RunSummary", "summary_text", "OUTPUT_SCHEMA"]
