"""What the detector actors resolved (device name, precision), reported by the actors themselves:
the driver may have no GPU, so only they know what they run on."""
from __future__ import annotations

from typing import Any

import ray

__all__ = ["ActorReports"]


@ray.remote(num_cpus=0)
class _Collector:
    def __init__(self) -> None:
        self.reports: list[dict[str, Any]] = []

    def add(self, report: dict[str, Any]) -> None:
        self.reports.append(report)

    def collected(self) -> list[dict[str, Any]]:
        return self.reports


class ActorReports:
    """A callable the actors report through (it travels to them with the stage's arguments), and
    what they reported, read on the driver after the run."""

    def __init__(self) -> None:
        self._collector = _Collector.remote()

    def __call__(self, report: dict[str, Any]) -> None:
        ray.get(self._collector.add.remote(report))

    def collected(self) -> list[dict[str, Any]]:
        return ray.get(self._collector.collected.remote())
