"""A run's speed in steady state, from the times at which the detector actors finished their
batches (no Ray in here: the actors report each batch to `actor_reports`, which keeps these).

On a short run most of the wall clock is start-up: Ray's workers, imports, the model's load, the
first batch. The steady state starts once every actor has finished its first batch (all of them
are then past their start-up) and ends with the last batch; its images are those of the batches
finished in between. Start-up is reported apart, as the time from the run's start to the first
finished batch: a fixed cost per run, whatever its size. Times are wall-clock (`time.time()`):
actors on other nodes compare through the nodes' synchronised clocks (milliseconds, against
batches of tenths of seconds or more).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Batch", "BatchFigures", "batch_figures"]


@dataclass(frozen=True)
class Batch:
    """One finished batch: which actor, when (`time.time()`), its images, the CPU seconds spent
    decoding and letterboxing them and their encoded bytes."""

    actor: str
    finished_at: float
    images: int
    decode_cpu_seconds: float
    image_bytes: int


@dataclass(frozen=True)
class BatchFigures:
    """The `RunSummary` fields of a run's batches (None where there is too little to tell)."""

    batches: int
    time_to_first_batch_seconds: float | None
    steady_images: int
    steady_seconds: float
    steady_images_per_second: float | None
    decode_cpu_seconds_per_image: float | None
    mean_image_bytes: float | None


def batch_figures(batches: Sequence[Batch], started_at: float) -> BatchFigures:
    """Steady-state speed, start-up and per-image costs of `batches`, for a run started at
    `started_at` (`time.time()`). Without a batch finished after every actor's first one, there is
    no steady state (`steady_images_per_second` None): the run was too short to have one."""
    if not batches:
        return BatchFigures(0, None, 0, 0.0, None, None, None)
    first_of = {}
    for b in sorted(batches, key=lambda b: b.finished_at):
        first_of.setdefault(b.actor, b.finished_at)
    begin, end = max(first_of.values()), max(b.finished_at for b in batches)
    steady = sum(b.images for b in batches if b.finished_at > begin)
    seconds = end - begin
    images = sum(b.images for b in batches)
    return BatchFigures(
        batches=len(batches),
        time_to_first_batch_seconds=round(min(first_of.values()) - started_at, 3),
        steady_images=steady,
        steady_seconds=round(seconds, 3),
        steady_images_per_second=round(steady / seconds, 3) if steady and seconds > 0 else None,
        decode_cpu_seconds_per_image=round(sum(b.decode_cpu_seconds for b in batches) / images, 5) if images else None,
        mean_image_bytes=round(sum(b.image_bytes for b in batches) / images, 1) if images else None,
    )
