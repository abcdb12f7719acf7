"""The model-alone benchmark of a candidate, run where its detector actors ran: a Ray task with the
processors a detector actor reserves (a GPU, or a CPU actor's share and threads; not its memory,
which a model-alone batch needs less of), so on a GPU node when the head has none, and on photos of
the sample."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ray

from ..pipeline.resources import detector_share
from ..pipeline.session import node_cpus

__all__ = ["benchmark_on_actor_device"]

WARMUP = 1  # batches before the clock: the first pays for lazy initialisation


def _benchmark(model: str, weights: str | None, device: str, precision: str, batch_size: int, iterations: int,
               threads: int | None, images: Sequence[str]) -> list[dict[str, Any]]:
    """On the worker: the forward and predict records of `benchmark_model`, set up as a detector
    actor is (its torch threads, freed memory kept) and timed on `images` (URIs)."""
    import torch

    from ..benchmark import benchmark_model
    from ..model.cpu import keep_freed_memory
    from ..pipeline.decode import decode_image
    from ..pipeline.readers import read_bytes

    if threads:
        torch.set_num_threads(threads)
    keep_freed_memory()  # this worker process is an entry point, as an actor's is
    photos = [decode_image(read_bytes(uri)) for uri in images]
    return list(benchmark_model(model, device=device, precision=precision, batch_size=batch_size,
                                iterations=iterations, warmup=WARMUP, weights=weights, images=photos))


def benchmark_on_actor_device(model: str, weights: str | None, *, device: str, precision: str, batch_size: int,
                              iterations: int, images: Sequence[str], actors: int = 1,
                              num_gpus_per_actor: float = 1.0) -> list[dict[str, Any]]:
    """`benchmark_model`'s records for a candidate, measured in a Ray task that reserves the processors
    one of its `actors` detector actors on `device` ("cuda" or "cpu", as its run resolved it) reserves."""
    gpu = device.startswith("cuda")
    cpus, threads = detector_share(gpu, actors, node_cpus())
    options = {"num_cpus": cpus, **({"num_gpus": num_gpus_per_actor} if gpu else {})}
    task = ray.remote(_benchmark).options(**options, max_retries=0)
    return ray.get(task.remote(model, weights, device.split(":", 1)[0], precision, batch_size, iterations,
                               threads, list(images[:batch_size])))
