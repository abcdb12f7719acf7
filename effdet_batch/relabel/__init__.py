"""Nightly incremental re-labeling: what changed in the lake since the last good run, labelled
into a date partition, with the label churn against the previous labels of the same images."""
from .churn import churn_by_class
from .run import relabel
from .state import changed_objects, list_lake

__all__ = ["relabel", "churn_by_class", "changed_objects", "list_lake"]
