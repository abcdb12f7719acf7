"""The model-selection report: accuracy, throughput and cost per model, from run manifests,
evaluation metrics and benchmark records."""
from .inputs import load_benchmarks, load_metrics, load_runs
from .render import write_report
from .table import Criteria, Report, build_report, display_name

__all__ = ["Criteria", "Report", "build_report", "display_name", "load_runs", "load_metrics", "load_benchmarks",
           "write_report"]
