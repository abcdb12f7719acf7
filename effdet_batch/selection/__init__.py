"""Model selection in one command: a fixed sample of the user's images with ground truth, each
candidate run, evaluated and benchmarked on it, and the selection report."""
from .config import SelectionConfig
from .plan import PlannedModel, plan_models
from .run import select_model, selection_text

__all__ = ["SelectionConfig", "PlannedModel", "plan_models", "select_model", "selection_text"]
