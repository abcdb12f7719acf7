"""What the detector actors reserve and how Ray Data calls them (no Ray in here: plain numbers)."""
from __future__ import annotations

import os

__all__ = ["IO_CPUS", "FILTER_CPUS", "cpu_actor_share", "cpu_actor_memory", "detector_share", "actor_calls"]

IO_CPUS = 0.25  # reads and writes wait on storage, not on a core
FILTER_CPUS = 1  # Ray Data's checkpoint filter actor, on a rerun: its default reservation

# What a CPU detector actor's memory is made of (measured on CPU, torch 2.13, glibc keeping freed memory):
# the Ray worker with torch and Ray Data's blocks, before the model (idle: 0.24 GiB; in a 12 MP run
# Ray Data saw 1.4 GiB against 1.1 GiB for the same work outside Ray)
WORKER_BYTES = 600 * 2**20
BYTES_PER_PARAM = 12  # the checkpoint's fp32 weights and the inference copy (BatchNorm folded, channels-last)
# One image's activation peak is in the backbone's first stride-2 block, whose expanded tensors have
# 6x the first stage's channels at half the input's side: measured 19-30 bytes per input pixel per
# first-stage channel for D0-D5, Lite0 and Lite3 (D0 at 512 px: 0.10 GiB; D5 at 1280: 0.94 GiB).
ACTIVATION_BYTES = 30
# A decoding thread's working set on 12 MP photos at full size (HEIC, or JPEGs with --decode exact):
# the decoded image, its turned and converted copies, in the thread's own malloc arena (measured
# 0.15-0.25 GiB per thread).
DECODE_BYTES = 300 * 2**20
ENCODED_BYTES = 3 * 2**20  # a phone photo's file, read ahead
HEADROOM = 1.25  # what Ray Data adds to a use it observed when it recommends a request


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


def cpu_actor_memory(image_size: int, first_channels: int, params: int, batch: int, threads: int,
                     parts: int) -> int:
    """Bytes a CPU detector actor reserves (Ray's `memory`): its worker, the model of `params`, the
    activations of a `batch` of `image_size` canvases through a backbone whose first stage has
    `first_channels`, a photo decoded on each of `threads` (at most a batch at once) and the files
    of `parts` batches read ahead.

    Ray places actors by what they reserve: without it, a node's cores would take more actors than
    its memory holds (a CPU actor reserves half a CPU), and they would be killed when it runs out."""
    need = (WORKER_BYTES + BYTES_PER_PARAM * params + ACTIVATION_BYTES * first_channels * image_size**2 * batch
            + DECODE_BYTES * min(threads, batch) + ENCODED_BYTES * batch * parts)
    return int(HEADROOM * need)


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
