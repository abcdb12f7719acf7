"""Throughput benchmarks: the forward pass alone, `Detector.predict`, `Detector.detect`, and decoding
12 MP JPEGs (`--decode fast` against `exact`); the whole inference job is `pipeline_benchmark`'s.

Each measurement is one record (a dict, printed as a JSON line by `jobs/benchmark.py`) with the
images/s, batch latency percentiles and peak memory of the device, so that cost tables can be
built without a full run.
"""
from __future__ import annotations

import contextlib
import os
import platform
import resource
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import ConfigError, first_line
from .model import Detector, letterbox, model_info
from .model.detector import PRECISIONS, device_name
from .pipeline.sources import is_image_name
from .synthetic_lake import PHONE_PHOTO, phone_photo_jpeg

__all__ = ["benchmark_model", "benchmark_decode", "phone_photo_jpegs", "load_images", "machine", "time_calls",
           "KINDS"]

def load_images(folder: Path | None, count: int, seed: int = 0) -> list[np.ndarray]:
    """`count` RGB images cycled from `folder`, or seeded 640x480 noise when there is none."""
    if folder is not None and folder.is_dir():
        from PIL import Image

        files = sorted(p for p in folder.iterdir() if is_image_name(p.name))
        if files:
            images = []
            for path in files[:count]:
                with Image.open(path) as im:
                    images.append(np.asarray(im.convert("RGB")))
            return [images[i % len(images)] for i in range(count)]
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (480, 640, 3), dtype=np.uint8) for _ in range(count)]


def machine() -> dict[str, Any]:
    """What a benchmark ran on, for its record: the CPU's model and cores, platform, Python, torch."""
    return {"cpu": device_name(torch.device("cpu")).rsplit(" x", 1)[0], "cores": os.cpu_count(),
            "platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_memory(device: torch.device) -> int:
    """Peak bytes: allocated on the GPU, or the process's peak resident set on the CPU."""
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def time_calls(fn: Callable[[], object], device: torch.device, warmup: int, iterations: int) -> list[float]:
    """Seconds of each of `iterations` calls of `fn` after `warmup` untimed ones, the device
    synchronised after each (GPU work is asynchronous)."""
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    for _ in range(iterations):
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return times


def _record(kind: str, detector: Detector, batch_size: int, times: Sequence[float]) -> dict[str, Any]:
    info = model_info(detector.spec.name)
    seconds = np.asarray(times)
    return {
        "benchmark": kind,
        "model": detector.spec.name,
        "device": detector.device.type,
        "device_name": device_name(detector.device),
        "precision": detector.precision,
        "batch_size": batch_size,
        "iterations": len(times),
        "images_per_second": round(batch_size * len(times) / float(seconds.sum()), 3),
        "batch_latency_ms_p50": round(float(np.percentile(seconds, 50)) * 1000, 2),
        "batch_latency_ms_p95": round(float(np.percentile(seconds, 95)) * 1000, 2),
        "peak_memory_bytes": _peak_memory(detector.device),
        "params": info["params"],
        "macs": info["macs"],
        "image_size": info["image_size"],
        "weights": detector.weights.source if detector.weights else None,
        "torch": torch.__version__,
    }


KINDS = ("forward", "predict", "detect")


def benchmark_model(
    name: str,
    *,
    device: str = "auto",
    precision: str = "auto",
    batch_size: int = 4,
    iterations: int = 10,
    warmup: int = 2,
    weights: str | None = "random",
    compile: bool = False,
    images: Sequence[np.ndarray] | None = None,
    kinds: Sequence[str] = ("forward", "predict"),
    reference: bool = False,
) -> Iterator[dict[str, Any]]:
    """Yield one record per kind, in `KINDS` order: `forward` (network only, on prepared input),
    `predict` (letterbox + upload + forward + postprocess), `detect` (`Detector.detect` on
    letterboxed uint8 canvases: upload + forward + postprocess). With `reference`, then a
    `reference_forward` record: effdet's own eager network (`effdet.create_model(
    "tf_efficientdet_<name>")`, random weights) under autocast at the same precision, on the same
    input as `forward`; `skipped` with the reason where effdet does not import."""
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown or not kinds:
        raise ConfigError(f"unknown benchmark kinds {unknown or list(kinds)}: expected some of {', '.join(KINDS)}")
    detector = Detector(name, checkpoint=weights, device=device, precision=precision, compile=compile)
    batch = list(images) if images is not None else load_images(None, batch_size)
    batch = (batch * (batch_size // len(batch) + 1))[:batch_size]
    x, _, _ = detector.preprocess(batch)
    boxed = [letterbox(image, detector.image_size, detector.fill) for image in batch]
    canvases = np.stack([canvas for canvas, _ in boxed])
    scales = [scale for _, scale in boxed]
    sizes = [(image.shape[1], image.shape[0]) for image in batch]
    calls = {"forward": lambda: detector.forward(x), "predict": lambda: detector.predict(batch),
             "detect": lambda: detector.detect(canvases, scales, sizes)}
    rates = {}
    for kind in (k for k in KINDS if k in kinds):
        _reset_peak_memory(detector.device)
        record = _record(kind, detector, batch_size, time_calls(calls[kind], detector.device, warmup, iterations))
        rates[kind] = record["images_per_second"]
        yield {**record, "compiled": compile}
    if reference:
        record = _reference_record(detector, x, batch_size, warmup, iterations)
        if "detect" in rates and "images_per_second" in record:  # the speed goal: detect >= 2x this
            record["detect_over_reference"] = round(rates["detect"] / record["images_per_second"], 3)
        yield record


def _reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def _reference_record(detector: Detector, x: torch.Tensor, batch_size: int, warmup: int,
                      iterations: int) -> dict[str, Any]:
    """effdet's eager forward pass, timed as `forward` is (its AMP is autocast: the same dtype)."""
    kind = {"benchmark": "reference_forward", "model": detector.spec.name, "device": detector.device.type,
            "precision": detector.precision, "batch_size": batch_size}
    try:
        import effdet
    except ImportError as exc:  # an optional comparison: say why it is missing, measure the rest
        return {**kind, "skipped": f"effdet does not import ({first_line(exc)}); pip install effdet==0.4.1"}
    # pretrained_backbone=False: random weights throughout, no download (speed does not depend on them).
    model = effdet.create_model(f"tf_efficientdet_{detector.spec.name}", pretrained=False,
                                pretrained_backbone=False).eval().to(detector.device)
    x = x.contiguous()  # effdet's loader hands its network NCHW batches

    @torch.inference_mode()
    def forward() -> object:
        with torch.autocast(detector.device.type, dtype=PRECISIONS[detector.precision],
                            enabled=detector.precision != "fp32"):
            return model(x)

    _reset_peak_memory(detector.device)
    record = _record("reference_forward", detector, batch_size, time_calls(forward, detector.device, warmup,
                                                                           iterations))
    return {**record, "weights": "effdet random init", "compiled": False, "effdet": effdet.__version__}


@contextlib.contextmanager
def _one_core() -> Iterator[int | None]:
    """This process on one core (the lowest it may use), as one decode task gets, until the block
    ends; yields the core's number (None where there is no affinity API: macOS)."""
    try:
        cores = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {min(cores)})
    except (AttributeError, OSError):
        yield None
        return
    try:
        yield min(cores)
    finally:
        os.sched_setaffinity(0, cores)


def _prepare_all(jpegs: Sequence[bytes], size: int, mode: str) -> tuple[float, list[np.ndarray]]:
    """Seconds to decode and letterbox every JPEG as `read_and_prepare` does, and the canvases."""
    from .model import letterbox
    from .pipeline.decode import decode

    canvases = []
    start = time.perf_counter()
    for data in jpegs:
        # The fill colour does not change the timing; D0's is used.
        canvases.append(letterbox(decode(data, size if mode == "fast" else None).pixels, size, (124, 116, 104))[0])
    return time.perf_counter() - start, canvases


def phone_photo_jpegs(folder: Path) -> list[bytes]:
    """Each photo in `folder` as a 12 MP JPEG (`phone_photo_jpeg`)."""
    files = sorted(p for p in folder.iterdir() if is_image_name(p.name)) if folder.is_dir() else []
    if not files:
        raise ValueError(f"no images in {folder}: the decode benchmarks make their 12 MP JPEGs from real photos")
    return [phone_photo_jpeg(photo, seed=i) for i, photo in enumerate(load_images(folder, len(files)))]


def benchmark_decode(folder: Path, *, sizes: Sequence[int] = (512, 1024, 1536), rounds: int = 5,
                     jpegs: Sequence[bytes] | None = None) -> dict[str, Any]:
    """Decode + letterbox images/s of 12 MP JPEGs (`jpegs`, else `phone_photo_jpegs(folder)`),
    `--decode fast` against `exact`, on one core, in a process whose freed memory is kept as in the
    job's workers (model/cpu.py: without it every large decode faults its pages in again). One
    entry of `_decode_figures` per input size.
    """
    import PIL
    from PIL import features

    from .model.cpu import keep_freed_memory

    kept = keep_freed_memory()
    jpegs = list(jpegs) if jpegs is not None else phone_photo_jpegs(folder)
    with _one_core() as core:
        results = [_decode_figures(jpegs, size, rounds) for size in sizes]
    return {
        "benchmark": "decode",
        "images": len(jpegs),
        "image_pixels": list(PHONE_PHOTO),
        "rounds": rounds,
        "machine": machine(),
        "cpu_core": core,
        "freed_memory_kept": kept,
        "pillow": PIL.__version__,
        "libjpeg_turbo": features.version("libjpeg_turbo"),
        "results": results,
    }


def _decode_figures(jpegs: Sequence[bytes], size: int, rounds: int) -> dict[str, Any]:
    """One input size's images/s per mode (medians of `rounds` runs, after a warm-up run of each,
    alternating which mode goes first), their ratio, and mean |fast - exact| over the image's part
    of the canvases (4:3 photos: the top 3/4)."""
    seconds: dict[str, list[float]] = {"exact": [], "fast": []}
    canvases = {}
    for r in range(rounds + 1):  # round 0 is the warm-up
        for mode in (("exact", "fast") if r % 2 else ("fast", "exact")):
            took, canvases[mode] = _prepare_all(jpegs, size, mode)
            if r:
                seconds[mode].append(took)
    rate = {m: len(jpegs) / float(np.median(s)) for m, s in seconds.items()}
    rows = size * PHONE_PHOTO[1] // PHONE_PHOTO[0]
    drift = np.mean([np.abs(f[:rows].astype(np.int16) - e[:rows]).mean()
                     for f, e in zip(canvases["fast"], canvases["exact"])])
    return {
        "image_size": size,
        "exact_images_per_second": round(rate["exact"], 2),
        "fast_images_per_second": round(rate["fast"], 2),
        "fast_over_exact": round(rate["fast"] / rate["exact"], 2),
        "exact_ms_per_image": round(1000 / rate["exact"], 1),
        "fast_ms_per_image": round(1000 / rate["fast"], 1),
        "canvas_mean_abs_diff": round(float(drift), 3),
        "run_seconds": {m: [round(t, 3) for t in s] for m, s in seconds.items()},
    }
