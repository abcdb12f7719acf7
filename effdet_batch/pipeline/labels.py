"""The label set of a run, resolved on the driver before any inference: the checkpoint's class head
fixes how many classes there are, `--labels`/`--label-order` their ids and names. The actors get the
resolved set, not the file (which may exist only where the job was submitted)."""
from __future__ import annotations

import logging

from ..model import get_spec
from ..model.factory import checkpoint_head
from ..model.labels import LabelSet, resolve_labels
from ..uri import redact

__all__ = ["run_labels"]

log = logging.getLogger(__name__)


def run_labels(model: str, weights: str | None, labels: str | None, order: str | None) -> tuple[LabelSet, str]:
    """The label set `Detector` will use for this run's checkpoint, and which state dict of a
    training file it loads ("" for a plain one); a one-line error when the labels cannot map onto
    the checkpoint's head, or the checkpoint cannot be read."""
    num_classes, state = checkpoint_head(get_spec(model), weights)
    resolved = resolve_labels(labels, num_classes, order)  # type: ignore[arg-type]
    if labels is None and num_classes != 90:
        log.warning("no --labels for a %d-class checkpoint: its classes are written as ids 1..%d named "
                    "class_<id>; give --labels FILE for their names", num_classes, num_classes)
    if state:
        log.info("weights: the %s of training file %s", state, redact(weights))
    return resolved, state
