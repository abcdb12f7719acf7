"""Everything one model selection needs, validated once."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError
from ..evaluation.coco import CATEGORY_MODES
from ..evaluation.predictions import MATCH_MODES
from ..reports import Criteria
from ..uri import check_scheme
from .plan import PlannedModel

__all__ = ["SelectionConfig"]


@dataclass(frozen=True)
class SelectionConfig:
    """Settings of `jobs/select.py`.

    `models`: the candidates; `inputs`, `annotations`: where the sample is drawn from (`sample`
    images, `seed`; matched to the ground truth by `match`, evaluated by `categories` as
    jobs/evaluate.py does); `output`: the selection's folder or prefix; `criteria`: the price,
    what the chosen model must meet and the nightly volume its capacity plan is for; `smoke`: random weights allowed, and every output says SMOKE; `bench_iterations`,
    `bench_batch_size`: the model-alone benchmark's timed batches and batch size (default: the
    runs'); `run`: `PipelineConfig` keyword arguments every candidate's run shares."""

    models: tuple[PlannedModel, ...]
    inputs: tuple[str, ...]
    annotations: str
    output: str
    criteria: Criteria = field(default_factory=Criteria)
    sample: int = 500
    seed: int = 0
    match: str = "basename"
    categories: str = "id"
    smoke: bool = False
    bench_iterations: int = 10
    bench_batch_size: int | None = None
    run: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.models:
            raise ConfigError("nothing to choose from: give --models and/or --candidates")
        random = [m.name for m in self.models if m.weights == "random"]
        if random and not self.smoke:
            raise ConfigError(f"random weights ({', '.join(random)}) measure no accuracy: they are refused unless "
                              "--smoke is given (a smoke run of the plumbing, with every output marked SMOKE)")
        for name in ("sample", "bench_iterations", "bench_batch_size"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, int) and value >= 1):
                raise ConfigError(f"--{name.replace('_', '-')} must be a positive integer, got {value!r}")
        if self.match not in MATCH_MODES:
            raise ConfigError(f"unknown --match {self.match!r}: expected one of {', '.join(MATCH_MODES)}")
        if self.categories not in CATEGORY_MODES:
            raise ConfigError(f"unknown --categories {self.categories!r}: expected one of {', '.join(CATEGORY_MODES)}")
        check_scheme(self.annotations, "annotations file")
