"""The batch-inference job: image URIs -> Ray Data -> detector actors -> Parquet."""
from .config import PipelineConfig
from .run import run_inference, summary_text
from .schema import OUTPUT_SCHEMA

__all__ = ["PipelineConfig", "run_inference", "summary_text", "OUTPUT_SCHEMA"]
