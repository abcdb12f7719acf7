"""The inference job's images/s on a synthetic lake (`synthetic_lake`), in a local folder and/or in
S3 50 ms away (moto behind a delaying proxy, `loopback_s3`), against `Detector.detect` on the same
images' letterboxed canvases (the model with upload and postprocess: what the job's detector stage
calls), in one run.

Ray is started before the clock (with Ray Data's own helper actors, as on a cluster that has run a
job): the job's actor start and model load are on it, the cluster's start is not.
"""
from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import ConfigError
from .model import Detector
from .model.detector import device_name
from .synthetic_lake import KINDS, LAKES, LakeFile, build_lake

__all__ = ["STORES", "benchmark_pipeline"]

STORES = ("local", "s3")
_PHOTO_SUFFIXES = (".jpg", ".jpeg")  # the small-JPEG kind is the photos' own files


def _canvases(files: Sequence[LakeFile], image_size: int, fill: Sequence[int], decode: str) -> dict[str, np.ndarray]:
    """The lake's images decoded and letterboxed by the job's own stage (`read_and_prepare`)."""
    from .pipeline.stages import read_and_prepare

    batch = {"image_id": np.array([f.name for f in files], dtype=object),
             "source_uri": np.array([f.name for f in files], dtype=object),
             "bytes": np.array([f.data for f in files], dtype=object),
             "error": np.array([None] * len(files), dtype=object)}
    prepared = read_and_prepare(batch, image_size, fill, decode_mode=decode)
    failed = [e for e in prepared["error"] if e]
    if failed:
        raise RuntimeError(f"{len(failed)} lake image(s) do not decode: {failed[0]}")
    return prepared


def _detect_rate(detector: Detector, prepared: dict[str, np.ndarray], batch_size: int) -> float:
    """Images/s of `Detector.detect` over the prepared canvases in batches, after one untimed batch."""
    sizes = np.stack([prepared["width"], prepared["height"]], 1)
    count = len(sizes)
    batches = [slice(i, min(i + batch_size, count)) for i in range(0, count, batch_size)]

    def detect(part: slice) -> None:
        detector.detect(prepared["canvas"][part], prepared["scale"][part], sizes[part])

    detect(batches[0])  # warm-up: the job's first batch is on its clock, detect is timed warm
    start = time.perf_counter()
    for part in batches:
        detect(part)
    if detector.device.type == "cuda":
        torch.cuda.synchronize(detector.device)
    return count / (time.perf_counter() - start)


def _kind_figures(files: Sequence[LakeFile], prepared: dict[str, np.ndarray]) -> dict[str, dict[str, Any]]:
    """Per kind: images, distinct files, displayed size, mean bytes and decode + letterbox ms."""
    kinds = np.array([f.kind for f in files])
    out = {}
    for kind in dict.fromkeys(kinds):
        mine = np.flatnonzero(kinds == kind)
        out[kind] = {"description": KINDS[kind].description, "images": len(mine),
                     "distinct_files": len({id(files[i].data) for i in mine}),
                     "pixels": [int(prepared["width"][mine[0]]), int(prepared["height"][mine[0]])],
                     "mean_bytes": round(float(np.mean([len(files[i].data) for i in mine]))),
                     "decode_ms_per_image": round(1000 * float(np.mean(prepared["decode_cpu_seconds"][mine])), 1)}
    return out


def _put(files: Sequence[LakeFile], store: str, workdir: Path, s3_endpoint: str | None) -> tuple[str, str]:
    """The lake's files written to `store`; returns (the input prefix, an output for the job)."""
    if store == "local":
        root = workdir / "lake"
        root.mkdir(parents=True, exist_ok=True)
        for f in files:
            (root / f.name).write_bytes(f.data)
        return str(root), str(workdir / "out-local")
    import s3fs

    fs = s3fs.S3FileSystem(endpoint_url=s3_endpoint)  # direct, not through the delay: setup is off the clock
    for bucket in ("lake", "labels"):
        fs.mkdir(bucket)
    fs.pipe({f"lake/photos/{f.name}": f.data for f in files})
    return "s3://lake/photos", "s3://labels/out"


def _run_job(name: str, store: str, inputs: str, output: str, endpoint: str | None, **settings: Any) -> dict[str, Any]:
    from .pipeline import PipelineConfig, run_inference

    cfg = PipelineConfig(model=name, inputs=(inputs,), output=output, s3_endpoint=endpoint, **settings)
    load_before = os.getloadavg()[0]
    summary = run_inference(cfg)
    return {"store": store, "images_ok": summary.images_ok, "images_failed": summary.images_failed,
            # the machine's other work: 1-minute load averages before and after (the job's own is about 2)
            "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            "pipeline_images_per_second": summary.images_per_second, "wall_seconds": summary.wall_seconds,
            "steady_images_per_second": summary.steady_images_per_second,
            "time_to_first_batch_seconds": summary.time_to_first_batch_seconds,
            "decode_cpu_seconds_per_image": summary.decode_cpu_seconds_per_image}


def benchmark_pipeline(
    name: str,
    *,
    photos: Path,
    lake: str = "small",
    count: int = 1024,
    stores: Sequence[str] = ("local",),
    batch_size: int = 8,
    device: str = "cpu",
    precision: str = "auto",
    weights: str | None = "random",
    actors: int = 1,
    variants: int = 8,
    s3_delay: float = 0.05,
    workdir: Path,
) -> dict[str, Any]:
    """Build lake `lake` (a `synthetic_lake.LAKES` name) of `count` images from the JPEGs in
    `photos` (at most `variants` distinct files per kind), run the job over it from each of
    `stores` in turn (`local`: a folder under `workdir`; `s3`: moto on loopback, every request
    delayed `s3_delay` seconds), then time `Detector.detect` on its canvases. One record: the
    lake's make-up, each store's job figures and their ratio to detect (and S3's to local)."""
    from .loopback_s3 import S3_CREDENTIALS, LoopbackS3
    from .pipeline.run import environment, storage_env
    from .pipeline.session import connect, disconnect, start_data_services

    unknown = [s for s in stores if s not in STORES]
    if unknown or not stores:
        raise ConfigError(f"unknown lake store(s) {unknown or list(stores)}: expected some of {', '.join(STORES)}")
    sources = sorted(p for p in photos.iterdir() if p.suffix.lower() in _PHOTO_SUFFIXES) if photos.is_dir() else []
    if not sources:
        raise ConfigError(f"no JPEG photos in {photos}: the pipeline benchmark makes its lake from real photos")
    files = build_lake(lake, sources, count, variants)
    settings = {"weights": weights, "batch_size": batch_size, "precision": precision, "device": device,
                "actors": (actors, actors)}
    runs = []
    with contextlib.ExitStack() as held:
        s3 = held.enter_context(LoopbackS3(s3_delay)) if "s3" in stores else None
        env = storage_env(s3.url if s3 else None)
        if s3:
            env.update(S3_CREDENTIALS)  # the driver's listing and the workers' reads sign with these
            held.enter_context(environment(S3_CREDENTIALS))
        # The workers get the endpoint from the session's start: a session started before cannot.
        if connect(None, env):
            held.callback(disconnect)
        elif s3:
            raise ConfigError("the pipeline benchmark starts its own Ray to read the loopback S3: none may run yet")
        start_data_services()
        for store in stores:
            inputs, output = _put(files, store, workdir, s3.endpoint if store == "s3" else None)
            served_before = s3.cpu_seconds() if store == "s3" else None  # the lake's upload is off the clock
            runs.append(_run_job(name, store, inputs, output, s3.url if store == "s3" else None, **settings))
            if served_before is not None:
                runs[-1]["server_cpu_seconds"] = round(s3.cpu_seconds() - served_before, 2)
    detector = Detector(name, checkpoint=weights, device=device, precision=precision)
    prepared = _canvases(files, detector.image_size, detector.fill, "fast")
    detect_ips = _detect_rate(detector, prepared, batch_size)
    by_store = {r["store"]: r for r in runs}
    for r in runs:
        r["over_detect"] = round(r["pipeline_images_per_second"] / detect_ips, 3)
        if r["store"] == "s3":
            r.update(delay_ms=round(s3_delay * 1000), **{f"server_{k}": v for k, v in s3.stats.items()})
            if "local" in by_store:
                r["over_local"] = round(r["pipeline_images_per_second"] / by_store["local"]["pipeline_images_per_second"], 3)
    return {
        "benchmark": "pipeline",
        "model": detector.spec.name,
        "device": detector.device.type,
        "device_name": device_name(detector.device),
        "precision": detector.precision,
        "batch_size": batch_size,
        "actors": actors,
        "decode": "fast",
        "lake": {"name": lake, "images": count, "shares": LAKES[lake], "kinds": _kind_figures(files, prepared)},
        "detect_images_per_second": round(detect_ips, 3),
        "stores": runs,
        "torch": torch.__version__,
    }
