"""The Ray Data wiring: the one place where the stages become a dataset.

    ShardDatasource    read tasks: shards -> work rows (one per image; ids, and bytes for tar/Parquet)
      [CheckpointFilter added by Ray Data on a rerun: drops images that already have a row]
    on GPUs:
      -> read_and_prepare   CPU tasks: read (a batch's GETs in flight together), decode, letterbox
                            (uint8 canvases travel on)
      -> DetectStage        actor pool, model loaded once per actor, two batches in flight per
                            actor (upload overlaps compute)
    on CPUs:
      -> PrepareAndDetect   actor pool: both of the above in the actor, a batch at a time on its
                            main thread, the next batch's GETs in flight meanwhile; each actor
                            reserves the memory its model, batches and decodes take
      -> write_parquet      checkpointed: a row is committed together with its file
"""
from __future__ import annotations

import logging

import ray
from ray.data.checkpoint import CheckpointConfig

from ..model import get_spec
from ..model.config import DetectorSpec
from ..model.info import param_count
from ..model.labels import LabelSet
from ..uri import join
from .actor_reports import ActorReports
from .config import PipelineConfig
from .datasource import ShardDatasource
from .readers import ReadOptions
from .resources import IO_CPUS, actor_calls, cpu_actor_memory, detector_share
from .session import node_cpus, node_memory
from .sources import WorkList
from .stages import DetectStage, PrepareAndDetect, read_and_prepare

__all__ = ["build_dataset", "run_pipeline"]

log = logging.getLogger(__name__)

# A CPU actor's call is this many detector batches, each one's image files read while the one
# before it is worked on.
READ_AHEAD_PARTS = 4
CHECKPOINT_DIR = "_checkpoint"  # pyarrow and Ray skip "_"-prefixed names when reading the output


def checkpoint_path(output: str) -> str:
    return join(output, CHECKPOINT_DIR)


def _configure_run(output: str) -> None:
    """Rows are committed with their Parquet file and a rerun skips the committed images. The
    checkpoint is kept after success, so rerunning a finished command writes nothing twice.

    No block may be given up on (Ray Data's `max_errored_blocks`, 0 by default): a dropped block
    would be images without a row. A lost node's blocks are redone elsewhere instead."""
    context = ray.data.DataContext.get_current()
    context.checkpoint_config = CheckpointConfig(
        id_column="image_id", checkpoint_path=checkpoint_path(output), delete_checkpoint_on_success=False
    )
    context.max_errored_blocks = 0


def _cpu_actor_memory(cfg: PipelineConfig, spec: DetectorSpec, num_classes: int, threads: int) -> int:
    """What each CPU detector actor reserves (`resources.cpu_actor_memory`), at most what the
    largest node with CPUs offers: an actor that reserves more than any node has would never start."""
    need = cpu_actor_memory(spec.image_size, spec.backbone_spec.stages[0].out_channels,
                            param_count(spec.name, num_classes), cfg.batch_size, threads, READ_AHEAD_PARTS)
    largest = node_memory()
    if largest is not None and need > largest:
        log.warning("%s at --batch-size %d needs about %.1f GiB per CPU detector actor, more than the largest "
                    "node's %.1f GiB of Ray memory: it may run out; a smaller --batch-size needs less",
                    spec.name, cfg.batch_size, need / 2**30, largest / 2**30)
        return largest
    return need


def build_dataset(
    cfg: PipelineConfig, shards: WorkList, device: str, labels: LabelSet, reports: ActorReports | None = None
) -> ray.data.Dataset:
    """The lazy dataset of output rows for `shards`; `device` is `cuda` or `cpu` for the actors,
    `labels` the run's label set (resolved on the driver); the actors tell `reports` what they run on
    and when each batch finished."""
    spec = get_spec(cfg.model)
    options = ReadOptions(cfg.image_column, cfg.id_column, rows_per_block=cfg.batch_size)
    work = ray.data.read_datasource(ShardDatasource(shards, options), num_cpus=IO_CPUS)
    if cfg.limit is not None:
        work = work.limit(cfg.limit)
    gpu = device.startswith("cuda")
    stage_cpus, threads = detector_share(gpu, cfg.actors[1], node_cpus())
    prepare = {"image_size": spec.image_size, "fill": spec.pretrained.fill, "decode_mode": cfg.decode}
    detect = {
        "model": cfg.model,
        "weights": cfg.weights,
        "device": device,
        "precision": cfg.precision,
        "run_id": cfg.run_id,
        "max_detections": cfg.max_detections,
        "min_score": cfg.min_score,
        "threads": threads,
        "labels": labels,
        "report": reports,
        "on_batch": reports.batch_finished if reports is not None else None,
    }
    actors = ray.data.ActorPoolStrategy(min_size=cfg.actors[0], max_size=cfg.actors[1], **actor_calls(gpu))
    if not gpu:
        # On CPUs the actor decodes too: the cores are the same, and it saves a process per task
        # and moving the canvases through the object store. Its cores would idle while it
        # decodes, so it decodes on all of them.
        return work.map_batches(
            PrepareAndDetect,
            fn_constructor_kwargs={"part": cfg.batch_size, "prepare": {**prepare, "threads": threads}, **detect},
            batch_size=cfg.batch_size * READ_AHEAD_PARTS,
            batch_format="numpy",
            compute=actors,
            num_cpus=stage_cpus,
            memory=_cpu_actor_memory(cfg, spec, labels.num_classes, threads),
        )
    # On GPUs, decoding runs in CPU tasks of its own, many at once (their reads overlap), so that a
    # node's cores feed its GPUs.
    prepared = work.map_batches(
        read_and_prepare,
        fn_kwargs={**prepare, "threads": 1},
        batch_size=cfg.batch_size,
        batch_format="numpy",
        num_cpus=stage_cpus,
    )
    return prepared.map_batches(
        DetectStage,
        fn_constructor_kwargs=detect,
        batch_size=cfg.batch_size,
        batch_format="numpy",
        compute=actors,
        num_gpus=cfg.num_gpus_per_actor,
        num_cpus=stage_cpus,
    )


def run_pipeline(
    cfg: PipelineConfig, shards: WorkList, device: str, labels: LabelSet
) -> tuple[str, ActorReports]:
    """Run the job into `cfg.output` (checkpointed, so a rerun resumes); returns Ray Data's stats and
    what the detector actors reported (device name, precision, their batches), to read while the
    session lasts."""
    _configure_run(cfg.output)
    reports = ActorReports()
    dataset = build_dataset(cfg, shards, device, labels, reports)
    dataset.write_parquet(cfg.output, min_rows_per_file=cfg.rows_per_file, ray_remote_args={"num_cpus": IO_CPUS})
    return dataset.stats(), reports
