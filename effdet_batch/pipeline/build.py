"""The Ray Data wiring, and the only module that imports ray.

    work list (one row per image URI)
      -> read_and_prepare   CPU tasks: read, decode, letterbox (uint8 canvases travel on)
      -> DetectStage        actor pool, model loaded once per actor, GPU when the cluster has one
      -> write_parquet
"""
from __future__ import annotations

import ray

from ..model import get_spec
from .config import PipelineConfig
from .stages import DetectStage, read_and_prepare

__all__ = ["build_dataset", "cluster_has_gpus"]


def cluster_has_gpus() -> bool:
    return ray.cluster_resources().get("GPU", 0) > 0


def build_dataset(cfg: PipelineConfig, uris: list[str], device: str) -> ray.data.Dataset:
    """The lazy dataset of output rows for `uris`; `device` is `cuda` or `cpu` for the actors."""
    spec = get_spec(cfg.model)
    items = ray.data.from_items([{"image_id": u, "source_uri": u} for u in uris])
    prepared = items.map_batches(
        read_and_prepare,
        fn_kwargs={"image_size": spec.image_size},
        batch_size=cfg.batch_size,
        batch_format="numpy",
        num_cpus=1,
    )
    gpu = device.startswith("cuda")
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
        },
        batch_size=cfg.batch_size,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(min_size=cfg.actors[0], max_size=cfg.actors[1]),
        # A GPU stage keeps decoding in separate CPU tasks (no fusion into the actor).
        num_gpus=cfg.num_gpus_per_actor if gpu else None,
        num_cpus=1,
    )
