"""Exports of the job's output to the tools people use: COCO results, a COCO detection dataset
(FiftyOne, CVAT) and Label Studio pre-annotations with their labeling config."""
from .write import FORMATS, config_uri, export, summary_text

__all__ = ["FORMATS", "config_uri", "export", "summary_text"]
