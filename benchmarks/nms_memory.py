"""Peak memory and time of `batched_nms` on a batch that makes it read every candidate.

    python benchmarks/nms_memory.py --before OLD_NMS.py --out benchmarks/results/nms_memory_cpu_2026-12-01.json

The input is what postprocess hands NMS at its worst: per image 5,000 candidates (MAX_CANDIDATES),
here jittered copies of 60 objects, so that about 60 survive, fewer than the 100 kept, and NMS has
to read all 5,000. Peak memory is the high-water mark of torch's own allocations during one call
(inputs excluded, outputs included): on CUDA `torch.cuda.max_memory_allocated`; on CPU every
allocation and free that c10's CPU allocator reports to the profiler (`profile_memory=True`),
summed in time order. It counts kernels' own buffers, not the allocator's caching or the RSS.
`--before` also measures another nms.py (an older version) and checks that both give the same
detections. Seconds are of a separate call, without the profiler.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # runs from a checkout without install

from effdet_batch.model import nms as current_nms  # noqa: E402

IOU = 0.5  # postprocess.NMS_IOU


def _inputs(batch: int, count: int, objects: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """[B, count, 4] xyxy copies of `objects` boxes per image, jittered by 1.5 px, and 90 classes."""
    gen = torch.Generator().manual_seed(0)
    xy = torch.rand(batch, objects, 2, generator=gen) * 600
    wh = 30 + torch.rand(batch, objects, 2, generator=gen) * 60
    pick = torch.randint(0, objects, (batch, count), generator=gen)
    boxes = torch.cat([xy, xy + wh], 2).gather(1, pick.unsqueeze(2).expand(-1, -1, 4))
    boxes = boxes + torch.randn(batch, count, 4, generator=gen) * 1.5
    classes = torch.randint(0, 90, (batch, objects), generator=gen).gather(1, pick)
    return boxes.to(device), classes.to(device)


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("nms_before", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _peak_bytes(fn: Callable[[], Any], device: torch.device) -> int:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        fn()
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - base
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = sorted(
        (e.start_ns(), e.nbytes()) for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"
    )
    live = peak = 0
    for _, nbytes in events:
        live += nbytes
        peak = max(peak, live)
    return peak


def _measure(module: ModuleType, boxes: torch.Tensor, classes: torch.Tensor, limit: int) -> dict[str, Any]:
    def call() -> tuple[torch.Tensor, torch.Tensor]:
        return module.batched_nms(boxes, classes, IOU, limit)

    start = time.perf_counter()
    keep, valid = call()
    if boxes.device.type == "cuda":
        torch.cuda.synchronize(boxes.device)
    seconds = time.perf_counter() - start
    peak = _peak_bytes(call, boxes.device)
    survivors = valid.sum(1)
    return {
        "peak_bytes": peak,
        "peak_mib": round(peak / 2**20, 1),
        "seconds": round(seconds, 3),
        "survivors_per_image": [int(survivors.min()), int(survivors.max())],
        "_result": (keep.cpu(), valid.cpu()),
    }


def _machine() -> dict[str, Any]:
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    model = next((line.split(":", 1)[1].strip() for line in lscpu.splitlines() if line.startswith("Model name")),
                 platform.processor())
    return {"cpu": model, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--candidates", type=int, default=5000)
    parser.add_argument("--max-detections", type=int, default=100)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--before", type=Path, help="another nms.py to measure and compare against")
    parser.add_argument("--out", type=Path, help="also write the record to this JSON file")
    args = parser.parse_args(argv)

    device = torch.device(args.device)
    boxes, classes = _inputs(args.batch_size, args.candidates, 60, device)
    runs = {}
    if args.before:
        runs["before"] = {"nms": str(args.before), **_measure(_load(args.before), boxes, classes, args.max_detections)}
    path = "plain torch" if current_nms._torchvision_nms() is None else "torchvision"
    runs["after"] = {"nms": f"effdet_batch/model/nms.py ({path})",
                     **_measure(current_nms, boxes, classes, args.max_detections)}
    results = [run.pop("_result") for run in runs.values()]
    record = {
        "command": " ".join(["python", "benchmarks/nms_memory.py", *(sys.argv[1:] if argv is None else argv)]),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": _machine(),
        "device": args.device,
        "batch_size": args.batch_size,
        "candidates_per_image": args.candidates,
        "max_detections": args.max_detections,
        "measures": "peak of torch's allocations during one batched_nms call (CPU: allocator events "
                    "reported to torch.profiler; CUDA: max_memory_allocated)",
        **runs,
        "same_results": all(torch.equal(a, b) for r in results[1:] for a, b in zip(results[0], r)),
    }
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(record, indent=1) + "\n")
    print(json.dumps(record), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
