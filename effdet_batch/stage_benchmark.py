"""Speed of the job's Ray-free stages as a GPU node runs them, and of JPEG decoding on the GPU: how
many decode cores keep one detector busy, and whether decoding should move to the GPU.

- `benchmark_stages`: decode + letterbox of 12 MP JPEGs on one core (`--decode exact` and `fast`
  at the variant's input size: `benchmark_decode`) against `DetectStage` on prepared batches, one
  batch in flight and two (a GPU actor takes two calls at once: pipeline/resources.py).
- `benchmark_gpu_decode`: `torchvision.io.decode_jpeg(device="cuda")` on batches of the same
  JPEGs (full size, and resized to fit the input size on the GPU) against the CPU's reduced-size
  decode on one core.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .benchmark import _peak_memory, benchmark_decode, machine, phone_photo_jpegs, time_calls
from .errors import first_line
from .model import get_spec
from .model.detector import device_name

__all__ = ["benchmark_stages", "benchmark_gpu_decode"]


def _rate(images_per_call: int, times: list[float]) -> float:
    return images_per_call * len(times) / sum(times)


def _work_rows(jpegs: list[bytes]) -> dict[str, np.ndarray]:
    """The JPEGs as the read stage hands them on (readers.WORK_SCHEMA, bytes already read)."""
    ids = np.array([f"photo-{i}.jpg" for i in range(len(jpegs))], dtype=object)
    data = np.empty(len(jpegs), dtype=object)
    data[:] = jpegs
    return {"image_id": ids, "source_uri": ids.copy(), "bytes": data, "error": np.full(len(jpegs), None, object)}


def benchmark_stages(name: str, *, folder: Path, device: str = "auto", precision: str = "auto",
                     batch_size: int = 64, iterations: int = 10, warmup: int = 2, weights: str | None = "random",
                     rounds: int = 3) -> dict[str, Any]:
    """Decode + letterbox images/s per core against `DetectStage` images/s at one and two batches
    in flight, and their quotient: the decode cores one detector needs, per decode mode."""
    from .pipeline.stages import DetectStage, read_and_prepare

    size = get_spec(name).image_size
    jpegs = phone_photo_jpegs(folder)
    decode = benchmark_decode(folder, sizes=(size,), rounds=rounds, jpegs=jpegs)
    (per_core,) = decode["results"]
    stage = DetectStage(name, weights, device, precision, run_id="benchmark")
    prepared = read_and_prepare(_work_rows(jpegs), size, stage.detector.fill, decode_mode="fast")
    pick = np.arange(batch_size) % len(jpegs)
    batch = {key: np.asarray(column)[pick] for key, column in prepared.items()}
    dev = stage.detector.device
    one = time_calls(lambda: stage(batch), dev, warmup, iterations)
    with ThreadPoolExecutor(2) as pool:  # as Ray Data calls a GPU actor: two calls at once, one per thread
        two = time_calls(lambda: list(pool.map(stage, [batch, batch])), dev, warmup, iterations)
    detect = {"one_in_flight": round(_rate(batch_size, one), 2), "two_in_flight": round(_rate(2 * batch_size, two), 2)}
    fastest = max(detect.values())
    return {
        "benchmark": "stages",
        "model": stage.model,
        "device": dev.type,
        "device_name": device_name(dev),
        "precision": stage.detector.precision,
        "batch_size": batch_size,
        "image_size": size,
        "iterations": iterations,
        "jpegs": len(jpegs),
        "decode_images_per_second_per_core": {m: per_core[f"{m}_images_per_second"] for m in ("exact", "fast")},
        "detect_stage_images_per_second": detect,
        "two_over_one_in_flight": round(detect["two_in_flight"] / detect["one_in_flight"], 3),
        # The cores that decode as fast as the detector runs with two batches in flight (or one, if faster).
        "decode_cores_per_detector": {m: round(fastest / per_core[f"{m}_images_per_second"], 1)
                                      for m in ("exact", "fast")},
        "cpu_core": decode["cpu_core"],
        "machine": machine(),
        "torch": torch.__version__,
    }


def benchmark_gpu_decode(folder: Path, *, image_size: int = 512, batch_size: int = 32, iterations: int = 10,
                         warmup: int = 2, rounds: int = 3) -> dict[str, Any]:
    """Images/s of batched nvJPEG decoding of 12 MP JPEGs on the GPU (and the CPU time it takes per
    image), alone and with a resize to fit `image_size`, against the CPU's reduced decode + letterbox
    per core (`--decode fast`); `skipped` with the reason where torchvision or CUDA is missing."""
    kind = {"benchmark": "gpu_decode", "image_size": image_size, "batch_size": batch_size}
    try:
        import torch.nn.functional as F
        import torchvision
        from torchvision.io import decode_jpeg
    except ImportError as exc:
        return {**kind, "skipped": f"torchvision does not import ({first_line(exc)})"}
    if not torch.cuda.is_available():
        return {**kind, "skipped": "no CUDA GPU (torchvision decodes JPEGs on a GPU only with CUDA)"}
    jpegs = phone_photo_jpegs(folder)
    cpu = benchmark_decode(folder, sizes=(image_size,), rounds=rounds, jpegs=jpegs)
    device = torch.device("cuda")
    data = [torch.frombuffer(bytearray(jpegs[i % len(jpegs)]), dtype=torch.uint8) for i in range(batch_size)]

    def resized() -> list[torch.Tensor]:
        out = []
        for image in decode_jpeg(data, device=device):
            scale = image_size / max(image.shape[1:])
            fit = (round(image.shape[1] * scale), round(image.shape[2] * scale))
            out.append(F.interpolate(image[None].float(), size=fit, mode="bilinear", antialias=True))
        return out

    figures = {}
    for what, call in (("decode", lambda: decode_jpeg(data, device=device)), ("decode_and_resize", resized)):
        torch.cuda.reset_peak_memory_stats(device)
        cpu_start = time.process_time()
        times = time_calls(call, device, warmup, iterations)
        cpu_seconds = time.process_time() - cpu_start
        figures[what] = {"images_per_second": round(_rate(batch_size, times), 1),
                         "batch_ms_p50": round(float(np.percentile(times, 50)) * 1000, 2),
                         "cpu_ms_per_image": round(cpu_seconds / ((warmup + iterations) * batch_size) * 1000, 2),
                         "peak_memory_bytes": _peak_memory(device)}
    fast = cpu["results"][0]["fast_images_per_second"]
    return {
        **kind,
        "device_name": device_name(device),
        "jpegs": len(jpegs),
        "image_pixels": cpu["image_pixels"],
        "gpu": figures,
        "cpu_fast_images_per_second_per_core": fast,
        "gpu_over_cpu_core": {what: round(f["images_per_second"] / fast, 1) for what, f in figures.items()},
        "torchvision": torchvision.__version__,
        "machine": machine(),
        "torch": torch.__version__,
    }
