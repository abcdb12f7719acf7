"""The Ray Data wiring, and the only module that imports ray.

    ShardDatasource    read tasks: shards -> work rows (one per image; ids, and bytes for tar/Parquet)
      [CheckpointFilter added by Ray Data on a rerun: drops images that already have a row]
      -> read_and_prepare   CPU tasks: read, decode, letterbox (uint8 canvases travel on)
      -> DetectStage        actor pool, model loaded once per actor, GPU when the cluster has one
                            (two batches in flight per GPU actor: upload overlaps compute;
                            a CPU actor runs its batches on its main thread)
      -> write_parquet      checkpointed: a row is committed together with its file
"""
from __future__ import annotations

import os

import ray
from ray.data import Datasource, ReadTask
from ray.data.block import BlockMetadata
from ray.data.checkpoint import CheckpointConfig

from ..model import get_spec
from ..model.labels import LabelSet
from .config import PipelineConfig
from .readers import WORK_SCHEMA, ReadOptions, read_shards
from .sources import Shard
from .stages import DetectStage, read_and_prepare

__all__ = ["ShardDatasource", "connect", "disconnect", "start_data_services", "build_dataset", "run_pipeline",
           "cluster_gpus", "cluster_nodes", "describe_device", "checkpoint_path"]

IO_CPUS = 0.25  # reads and writes wait on storage, not on a core
FILTER_CPUS = 1  # Ray Data's checkpoint filter actor, on a rerun: its default reservation
FILES_PER_READ_TASK = 512
CHECKPOINT_DIR = "_checkpoint"  # pyarrow and Ray skip "_"-prefixed names when reading the output


def connect(address: str | None, worker_env: dict[str, str] | None = None) -> bool:
    """Join the Ray cluster at `address` (or RAY_ADDRESS, or start a local one); `worker_env` is
    set in every worker (they read and write object storage themselves). True when this call
    connected, False when the process already was."""
    if ray.is_initialized():
        return False
    ray.init(address=address, logging_level="WARNING",
             runtime_env={"env_vars": worker_env} if worker_env else None)
    return True


def disconnect() -> None:
    """Leave Ray (and stop the local one this process started); its log lines stop with it."""
    ray.shutdown()


def start_data_services() -> None:
    """Start Ray Data's helper actors (stats, actor locations, autoscaling requests): detached,
    made by the first dataset run on a cluster and reused by every later job on it."""
    ray.data.range(1).materialize()


def cluster_gpus() -> int:
    return int(ray.cluster_resources().get("GPU", 0))


def cluster_nodes() -> int:
    return sum(1 for n in ray.nodes() if n["Alive"])


def describe_device(cfg: PipelineConfig, device: str) -> dict[str, str]:
    """The device the detector actors run on and the precision they resolve `cfg.precision` to,
    asked of a worker set up like them (the driver may have no GPU)."""
    gpu = device.startswith("cuda")

    threads = None if gpu else _cpu_actor_share(cfg.actors[1])[1]

    @ray.remote(num_gpus=cfg.num_gpus_per_actor if gpu else 0, num_cpus=0)
    def probe() -> dict[str, str]:
        import torch

        from ..benchmark import device_name
        from ..model.detector import resolve_device, resolve_precision

        if threads:
            torch.set_num_threads(threads)
        resolved = resolve_device(device)
        return {"device_name": device_name(resolved), "precision": resolve_precision(cfg.precision, resolved)}

    return ray.get(probe.remote())


class ShardDatasource(Datasource):
    """Reads shards into work rows; a Read, so that Ray Data's checkpoint filter applies to it."""

    def __init__(self, shards: list[Shard], options: ReadOptions) -> None:
        self.shards = shards
        self.options = options

    def estimate_inmemory_data_size(self) -> int | None:
        return None

    def get_read_tasks(self, parallelism: int, per_task_row_limit: int | None = None, data_context=None):
        files = [s for s in self.shards if s.kind == "files"]
        others = [s for s in self.shards if s.kind != "files"]
        # Image files are a row each, cheap to list: many per task. Every other shard is real
        # reading, and gets a task to itself up to the parallelism Ray asks for.
        groups = _split(files, max(1, min(parallelism, -(-len(files) // FILES_PER_READ_TASK))))
        groups += _split(others, max(1, min(parallelism, len(others))))
        options = self.options
        return [
            ReadTask(
                lambda part=part: read_shards(part, options),
                BlockMetadata(num_rows=len(part) if part[0].kind == "files" else None, size_bytes=None,
                              exec_stats=None, input_files=tuple(s.uri for s in part)),
                schema=WORK_SCHEMA,
                per_task_row_limit=per_task_row_limit,
            )
            for part in groups
            if part
        ]


def _split(items: list, count: int) -> list[list]:
    return [items[i * len(items) // count:(i + 1) * len(items) // count] for i in range(count)]


def checkpoint_path(output: str) -> str:
    return f"{output.rstrip('/')}/{CHECKPOINT_DIR}"


def _enable_checkpointing(output: str) -> None:
    """Rows are committed with their Parquet file and a rerun skips the committed images. The
    checkpoint is kept after success, so rerunning a finished command writes nothing twice."""
    ray.data.DataContext.get_current().checkpoint_config = CheckpointConfig(
        id_column="image_id", checkpoint_path=checkpoint_path(output), delete_checkpoint_on_success=False
    )


def _cpu_actor_share(actors: int) -> tuple[float, int]:
    """The CPU reservation and the torch threads of each CPU detector actor.

    Reservation: it only places the actor, and the actors together leave room on a node for Ray
    Data's checkpoint filter actor (a whole CPU, on a rerun) and an I/O task: reserving more, the
    run would wait forever for a CPU to read or write with.
    Threads: the node's cores shared by the actors (Ray starts a worker with OMP_NUM_THREADS set to
    its whole reserved CPUs, at least 1).
    """
    per_node = max(int(n["Resources"].get("CPU", 1)) for n in ray.nodes() if n["Alive"])
    room = max(per_node - FILTER_CPUS - IO_CPUS, IO_CPUS)
    threads = max(1, min(per_node, os.cpu_count() or 1) // actors)
    return min(0.5, room / actors), threads


def _actor_calls(gpu: bool) -> dict[str, object]:
    """How Ray Data calls a detector actor.

    Both skip Ray Data's wrapper that runs the stage on a thread of its own. A CPU actor takes one
    batch at a time on its main thread, so the threads its constructor sets apply, activations come
    from glibc's main arena, the one that keeps freed memory (model/cpu.py), and OpenMP keeps
    spinning between the network's many small parallel regions (it sleeps early when a team is led
    by a thread other than the main one: D0 on 2 cores, about 15% fewer images/s).
    A GPU actor runs two batches at once, each on its own CUDA stream (`Detector.detect`): one
    batch's upload and post-processing overlap the other's compute.
    """
    if gpu:
        return {"max_concurrent_calls_per_actor": 2, "enable_true_multi_threading": True}
    return {"enable_true_multi_threading": True}


def build_dataset(cfg: PipelineConfig, shards: list[Shard], device: str, labels: LabelSet) -> ray.data.Dataset:
    """The lazy dataset of output rows for `shards`; `device` is `cuda` or `cpu` for the actors,
    `labels` the run's label set (resolved on the driver)."""
    spec = get_spec(cfg.model)
    options = ReadOptions(cfg.image_column, cfg.id_column, rows_per_block=cfg.batch_size)
    work = ray.data.read_datasource(ShardDatasource(shards, options), num_cpus=IO_CPUS)
    if cfg.limit is not None:
        work = work.limit(cfg.limit)
    gpu = device.startswith("cuda")
    # On GPUs, decoding runs in CPU tasks of its own (the stages differ in resources, so Ray Data
    # does not fuse them). On CPUs it is fused into the detector actor: the cores are the same,
    # and fusing saves a process per task and moving the canvases through the object store.
    stage_cpus, threads = (1, None) if gpu else _cpu_actor_share(cfg.actors[1])
    prepared = work.map_batches(
        read_and_prepare,
        fn_kwargs={"image_size": spec.image_size, "fill": spec.pretrained.fill, "decode_mode": cfg.decode},
        batch_size=cfg.batch_size,
        batch_format="numpy",
        num_cpus=stage_cpus,
    )
    return prepared.map_batches(
        DetectStage,
        fn_constructor_kwargs={
            "model": cfg.model,
            "weights": cfg.weights,
            "device": device,
            "precision": cfg.precision,
            "run_id": cfg.run_id,
            "max_detections": cfg.max_detections,
            "min_score": cfg.min_score,
            "threads": threads,
            "labels": labels,
        },
        batch_size=cfg.batch_size,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(min_size=cfg.actors[0], max_size=cfg.actors[1], **_actor_calls(gpu)),
        num_gpus=cfg.num_gpus_per_actor if gpu else None,
        num_cpus=stage_cpus,
    )


def run_pipeline(cfg: PipelineConfig, shards: list[Shard], device: str, labels: LabelSet) -> str:
    """Run the job into `cfg.output` (checkpointed, so a rerun resumes); returns Ray Data's stats."""
    _enable_checkpointing(cfg.output)
    dataset = build_dataset(cfg, shards, device, labels)
    dataset.write_parquet(cfg.output, min_rows_per_file=cfg.rows_per_file, ray_remote_args={"num_cpus": IO_CPUS})
    return dataset.stats()
