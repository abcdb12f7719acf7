"""One inference run: validate, list, run the Ray Data pipeline, count, write the run manifest."""
from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from ..errors import OutputError, first_line
from ..uri import redact
from .config import PipelineConfig
from .sources import list_images

__all__ = ["run_inference", "check_writable"]

_logger = logging.getLogger(__name__)


def check_writable(output: str) -> None:
    """Create the output location and write/delete a probe, or fail with one line before any work."""
    import fsspec

    probe = f"{output.rstrip('/')}/_write_check"
    try:
        fs, root = fsspec.core.url_to_fs(output)
        fs.makedirs(root, exist_ok=True)
        with fsspec.open(probe, "wb") as f:
            f.write(b"ok")
        fs.rm(fsspec.core.url_to_fs(probe)[1])
    except Exception as exc:
        reason = first_line(exc)
        raise OutputError(f"cannot write to output {redact(output)}: {reason}") from None


def _versions() -> dict[str, str]:
    out = {}
    for name in ("effdet_batch", "torch", "ray", "pyarrow", "numpy", "pillow"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def run_inference(cfg: PipelineConfig, address: str | None = None, dry_run: bool = False) -> dict[str, Any]:
    """Run (or, with `dry_run`, only validate) the job; returns the run summary (also the manifest)."""
    started, start = _now(), time.perf_counter()
    uris = [uri for source in cfg.inputs for uri in list_images(source)]
    if cfg.limit is not None:
        uris = uris[: cfg.limit]
    check_writable(cfg.output)
    summary: dict[str, Any] = {
        "run_id": cfg.run_id,
        "model": cfg.model,
        "weights": redact(cfg.weights) if cfg.weights else "official",
        "input": [redact(i) for i in cfg.inputs],
        "output": redact(cfg.output),
        "started": started,
        "images_total": len(uris),
        "batch_size": cfg.batch_size,
    }
    if dry_run:
        return {**summary, "dry_run": True}

    import pyarrow.dataset as pds
    import ray

    from .build import build_dataset, cluster_has_gpus

    ray.init(address=address, ignore_reinit_error=True, logging_level=logging.WARNING)
    device = cfg.device if cfg.device != "auto" else ("cuda" if cluster_has_gpus() else "cpu")
    dataset = build_dataset(cfg, uris, device)
    dataset.write_parquet(cfg.output)
    stats = dataset.stats()

    import fsspec

    fs, root = fsspec.core.url_to_fs(cfg.output)
    written = pds.dataset(root, filesystem=fs, format="parquet").to_table(
        columns=["run_id", "error"], filter=pds.field("run_id") == cfg.run_id
    )
    ok = written.column("error").null_count  # error is null exactly for processed images
    wall = time.perf_counter() - start
    summary.update(
        finished=_now(),
        images_ok=ok,
        images_failed=written.num_rows - ok,
        images_written=written.num_rows,
        wall_seconds=round(wall, 3),
        images_per_second=round(written.num_rows / wall, 3) if wall > 0 else None,
        device=device,
        device_count=int(ray.cluster_resources().get("GPU", 0)) if device.startswith("cuda") else 0,
        precision=cfg.precision,
        config={k: v for k, v in asdict(cfg).items() if k not in ("weights", "inputs", "output")},
        ray_data_stats=stats,
        versions=_versions(),
    )
    with fsspec.open(f"{cfg.output.rstrip('/')}/_manifest-{cfg.run_id}.json", "w") as f:
        json.dump(summary, f, indent=1)
    return summary
