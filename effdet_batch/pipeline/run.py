"""One inference run: validate, resolve the inputs, run the Ray Data pipeline, count, write the
run manifest."""
from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from dataclasses import asdict
from datetime import datetime, timezone
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from ..datasets import open_dataset
from ..errors import OutputError, RunError, cause_line, first_line
from ..uri import is_remote, join, redact
from .config import PipelineConfig
from .decode import DECODE_MODES
from .labels import run_labels
from .lease import OutputLease
from .sources import resolve_inputs
from .summary import RunSummary, manifest_uri, read_manifests

__all__ = ["run_inference", "environment", "storage_environment", "forget_s3_clients", "check_writable",
           "earlier_decode_modes", "storage_env"]

log = logging.getLogger(__name__)


# An object-storage outage of up to about a minute is retried rather than failed: botocore's
# standard retry mode (which retries connection errors, with capped exponential backoff) and more
# attempts than its default 3. Settings of the user's own win.
STORAGE_RETRIES = {"AWS_RETRY_MODE": "standard", "AWS_MAX_ATTEMPTS": "10"}


def storage_env(s3_endpoint: str | None) -> dict[str, str]:
    """The object-storage environment of the driver and every worker."""
    env = {k: os.environ.get(k, v) for k, v in STORAGE_RETRIES.items()}
    if s3_endpoint:
        env["AWS_ENDPOINT_URL"] = s3_endpoint
    return env


def check_writable(output: str) -> None:
    """Write and delete a probe under `output`, or fail with one line before any work. A missing
    bucket is reported, not created (s3fs would create it on the first write)."""
    import fsspec

    probe = join(output, "_write_check")
    try:
        fs, root = fsspec.core.url_to_fs(output)
        if is_remote(output):
            bucket = root.split("/", 1)[0]
            if not fs.exists(bucket):
                raise FileNotFoundError(f"bucket {bucket!r} does not exist")
        else:
            fs.makedirs(root, exist_ok=True)
        with fsspec.open(probe, "wb") as f:
            f.write(b"ok")
        fs.rm(fsspec.core.url_to_fs(probe)[1])
    except Exception as exc:
        raise OutputError(f"cannot write to output {redact(output)}: {first_line(exc)}") from None


def earlier_decode_modes(output: str) -> dict[str, str]:
    """run id -> `--decode` mode of each run manifest in `output`. Manifests from before the mode
    was recorded say nothing: those runs decoded every image at full size, as `exact` does."""
    return {s.run_id: s.decode or "exact" for s in read_manifests(output, skip_unreadable=True)}


def _warn_other_decode_mode(output: str, mode: str) -> None:
    """Say so when earlier runs into `output` decoded with the other `--decode` mode: the rows of
    large JPEGs then come from slightly different canvases."""
    others = sorted(run for run, m in earlier_decode_modes(output).items() if m != mode)
    if others:
        other = next(m for m in DECODE_MODES if m != mode)
        log.warning("output %s holds rows of %d earlier run(s) decoded with --decode %s (latest %s); this run "
                    "decodes with --decode %s, so large JPEGs' detections may differ slightly between them",
                    redact(output), len(others), other, others[-1], mode)


def _described(reports: list[dict[str, str]]) -> dict[str, str | None]:
    """`device_name` and `precision` as the detector actors reported them (their distinct values,
    joined, if they differ); None when no actor started (a rerun with nothing left)."""
    return {key: ", ".join(sorted({r[key] for r in reports})) or None for key in ("device_name", "precision")}


def _versions() -> dict[str, str]:
    out = {}
    for name in ("effdet_batch", "torch", "ray", "pyarrow", "numpy", "pillow", "pillow-heif"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _count_rows(output: str, run_id: str) -> tuple[int, int, list[tuple[str, str]]]:
    """(rows in the output, rows of this run, this run's failures as (image_id, error))."""
    import pyarrow.dataset as pds

    table = open_dataset(output).to_table(columns=["image_id", "run_id", "error"])
    mine = table.filter(pds.field("run_id") == run_id)
    failed = mine.filter(pds.field("error").is_valid())
    return table.num_rows, mine.num_rows, list(zip(failed["image_id"].to_pylist(), failed["error"].to_pylist()))


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """`values` in this process's environment while the block runs, the previous ones back after:
    a library call leaves no trace."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def storage_environment(s3_endpoint: str | None) -> Iterator[dict[str, str]]:
    """`storage_env` set in this process while the block runs (the driver lists, probes and counts
    through it), and the previous values back afterwards."""
    env = storage_env(s3_endpoint)
    changed = any(os.environ.get(key) != value for key, value in env.items())
    with environment(env):
        if changed:
            forget_s3_clients()
        try:
            yield env
        finally:
            if changed:
                forget_s3_clients()


def forget_s3_clients() -> None:
    """Drop fsspec's cached S3 filesystems: each read the endpoint and retries from the environment
    it was made in, and fsspec hands a cached one out again by its arguments alone, so one made for
    another endpoint would be taken for this one's (or, after the block, this one's for the next)."""
    import fsspec

    fsspec.get_filesystem_class("s3").clear_instance_cache()


def run_inference(cfg: PipelineConfig, address: str | None = None, dry_run: bool = False) -> RunSummary:
    """Run (or, with `dry_run`, only validate) the job; returns the run summary (also the manifest).

    Rerunning with the same output resumes: images that already have a row are skipped.
    """
    with storage_environment(cfg.s3_endpoint) as env, contextlib.ExitStack() as held:
        return _run(cfg, env, address, dry_run, held)


def _run(cfg: PipelineConfig, env: dict[str, str], address: str | None, dry_run: bool,
         held: contextlib.ExitStack) -> RunSummary:
    started, start, started_at = _now(), time.perf_counter(), time.time()
    shards = resolve_inputs(cfg.inputs, cfg.format, exclude=(cfg.output,))
    labels, weights_state = run_labels(cfg.model, cfg.weights, cfg.labels, cfg.label_order)
    check_writable(cfg.output)
    _warn_other_decode_mode(cfg.output, cfg.decode)
    summary: dict[str, Any] = {
        "run_id": cfg.run_id,
        "model": cfg.model,
        "weights": redact(cfg.weights) if cfg.weights else "official",
        "weights_state": weights_state,
        "labels": {"source": redact(labels.source), "sha256": labels.sha256, "num_classes": labels.num_classes,
                   "categories": labels.categories()},
        "input": [redact(i) for i in cfg.inputs],
        "output": redact(cfg.output),
        "started": started,
        "shards": shards.counts(),
        "batch_size": cfg.batch_size,
        "decode": cfg.decode,
    }
    if dry_run:
        # Image files are counted here; tar, Parquet shards and manifests only when read.
        files = summary["shards"]["files"] if set(summary["shards"]) == {"files"} else None
        if files is not None and cfg.limit is not None:
            files = min(files, cfg.limit)
        return RunSummary.from_json({**summary, "images_total": files, "dry_run": True})
    # The only writer of the output from here on, until run_inference returns (or a second run is refused).
    held.enter_context(OutputLease(cfg.output, cfg.run_id, expiry_s=cfg.lease_expiry, wait=cfg.wait))

    import fsspec

    from .build import run_pipeline
    from .session import cluster_gpus, cluster_nodes, connect, disconnect, node_table, nodes_lost

    connected = connect(address, env)
    try:
        nodes_at_start = node_table()
        gpus = cluster_gpus()
        device = cfg.device if cfg.device != "auto" else ("cuda" if gpus else "cpu")
        stats, reports = run_pipeline(cfg, shards, device, labels)
        wall = time.perf_counter() - start
        described = _described(reports.collected())
        batches = reports.figures(started_at)  # steady-state speed, start-up, decode cost per image
        device_count = gpus if device.startswith("cuda") else cluster_nodes()  # what the cost report prices
        lost = nodes_lost(nodes_at_start)  # their work was retried on the others
    except Exception as exc:
        log.error("run %s stopped", cfg.run_id, exc_info=exc)  # the whole trace, for a bug report
        raise RunError(f"run {cfg.run_id} stopped: {cause_line(exc)}. "
                       "Rows already written are kept: rerun the same command to resume") from None
    finally:
        if connected:  # a job's last stdout line is its summary: no Ray log lines after it
            disconnect()
    in_output, written, failures = _count_rows(cfg.output, cfg.run_id)
    summary.update(
        finished=_now(),
        images_total=written,
        images_ok=written - len(failures),
        images_failed=len(failures),
        images_in_output=in_output,
        wall_seconds=round(wall, 3),
        images_per_second=round(written / wall, 3) if wall > 0 else None,
        device=device,
        device_count=device_count,
        nodes_lost=lost,
        **described,
        **asdict(batches),
        config={k: v for k, v in asdict(cfg).items() if k not in ("weights", "inputs", "output", "s3_endpoint",
                                                                       "labels")},
        failures=[{"image_id": i, "error": e} for i, e in failures[:100]],
        ray_data_stats=stats,
        versions=_versions(),
    )
    result = RunSummary.from_json(summary)
    with fsspec.open(manifest_uri(cfg.output, cfg.run_id), "w") as f:
        json.dump(result.to_json(), f, indent=1)
    return result

