"""What the detector actors reserve and how Ray Data calls them (no Ray in here: plain numbers)."""
from __future__ import annotations

import os

__all__ = ["IO_CPUS", "FILTER_CPUS", "cpu_actor_share", "detector_share", "actor_calls"]

IO_CPUS = 0.25  # reads and writes wait on storage, not on a core
FILTER_CPUS = 1  # Ray Data's checkpoint filter actor, on a rerun: its default reservation


def cpu_actor_share(actors: int, node_cpus: int) -> tuple[float, int]:
    """The CPU reservation and the torch threads of each of `actors` CPU detector actors on a node
    of `node_cpus`.

    Reservation: it only places the actor, and the actors together leave room on a node for Ray
    Data's checkpoint filter actor (a whole CPU, on a rerun) and an I/O task: reserving more, the
    run would wait forever for a CPU to read or write with.
    Threads: the node's cores shared by the actors (Ray starts a worker with OMP_NUM_THREADS set to
    its whole reserved CPUs, at least 1).
    """
    room = max(node_cpus - FILTER_CPUS - IO_CPUS, IO_CPUS)
    threads = max(1, min(node_cpus, os.cpu_count() or 1) // actors)
    return min(0.5, room / actors), threads


def detector_share(gpu: bool, actors: int, node_cpus: int) -> tuple[float, int | None]:
    """The CPUs each detector actor reserves and its torch threads (None: torch's default): a GPU
    actor one CPU to feed its GPU, a CPU actor its `cpu_actor_share`."""
    return (1, None) if gpu else cpu_actor_share(actors, node_cpus)


def actor_calls(gpu: bool) -> dict[str, object]:
    """How Ray Data calls a detector actor (`ActorPoolStrategy` keywords).

    Both skip Ray Data's wrapper that runs the stage on a thread of its own. A CPU actor takes one
    batch at a time on its main thread, so the threads its constructor sets apply, activations come
    from glibc's main arena, the one that keeps freed memory (model/cpu.py), and OpenMP keeps
    spinning between the network's many small parallel regions (it sleeps early when a team is led
    by a thread other than the main one).
    A GPU actor runs two batches at once, each on its own CUDA stream (`Detector.detect`): one
    batch's upload and post-processing overlap the other's compute.
    """
    if gpu:
        return {"max_concurrent_calls_per_actor": 2, "enable_true_multi_threading": True}
    return {"enable_true_multi_threading": True}
