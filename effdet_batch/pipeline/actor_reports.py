"""What the detector actors report, by themselves: what they resolved (device name, precision: the
driver may have no GPU, so only they know what they run on), and when each batch finished, kept
in one small actor so that the driver reads the run's batch figures, not every batch."""
from __future__ import annotations

from typing import Any

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from .batch_times import Batch, BatchFigures, batch_figures

__all__ = ["ActorReports"]


@ray.remote(num_cpus=0)
class _Collector:
    def __init__(self) -> None:
        self.reports: list[dict[str, Any]] = []
        self.batches: list[Batch] = []

    def add(self, report: dict[str, Any]) -> None:
        self.reports.append(report)

    def add_batch(self, batch: Batch) -> None:
        self.batches.append(batch)

    def collected(self) -> list[dict[str, Any]]:
        return self.reports

    def figures(self, started_at: float) -> BatchFigures:
        return batch_figures(self.batches, started_at)


class ActorReports:
    """A callable the actors report through (it travels to them with the stage's arguments), and
    what they reported, read on the driver after the run."""

    def __init__(self) -> None:
        # On the driver's node: a worker node may be lost mid-run (the driver's cannot be without
        # the run), and the detector actors restarted elsewhere must still find it.
        here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
        self._collector = _Collector.options(scheduling_strategy=here).remote()

    def __call__(self, report: dict[str, Any]) -> None:
        ray.get(self._collector.add.remote(report))

    def batch_finished(self, batch: Batch) -> None:
        # Waited for: the batch is on the record before its rows go on to be written.
        ray.get(self._collector.add_batch.remote(batch))

    def collected(self) -> list[dict[str, Any]]:
        return ray.get(self._collector.collected.remote())

    def figures(self, started_at: float) -> BatchFigures:
        """The run's batch figures (`batch_times.batch_figures`), for a run started at `started_at`."""
        return ray.get(self._collector.figures.remote(started_at))
