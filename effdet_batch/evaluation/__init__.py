"""Evaluation of the job's output: COCO bbox metrics from its Parquet against COCO ground truth."""
from .coco import STAT_NAMES, EvalResult, evaluate
from .ground_truth import load_ground_truth
from .predictions import MATCH_MODES, read_predictions, read_run_facts
from .write import evaluate_to, write_evaluation

__all__ = ["STAT_NAMES", "EvalResult", "evaluate", "load_ground_truth", "MATCH_MODES", "read_predictions",
           "read_run_facts", "write_evaluation", "evaluate_to"]
