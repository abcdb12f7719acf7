"""Run in a fresh interpreter by test_actor_memory: a CPU detector actor's work on the photo files
given, and the process's peak memory at each step, as one JSON line.

    python -m tests.pipeline.memory_probe MODEL BATCH THREADS FILE...
"""
import json
import sys
from pathlib import Path

import numpy as np

from effdet_batch.model import get_spec
from effdet_batch.model.cpu import keep_freed_memory
from effdet_batch.pipeline.stages import PrepareAndDetect
from tests.helpers import work_rows


def peak_bytes() -> int:
    """This process's peak resident memory (Linux's VmHWM; getrusage's would include the parent's,
    which it keeps across exec)."""
    status = Path("/proc/self/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1]) * 1024


def main(model: str, batch: int, threads: int, files: list[str]) -> None:
    keep_freed_memory()  # as the actor does
    spec = get_spec(model)
    stage = PrepareAndDetect(batch, {"image_size": spec.image_size, "fill": spec.pretrained.fill,
                                     "decode_mode": "exact", "threads": threads},
                             model=model, weights="random", device="cpu", precision="auto", run_id="m",
                             threads=threads)
    loaded = peak_bytes()
    canvases = np.zeros((batch, spec.image_size, spec.image_size, 3), np.uint8)
    sizes = np.full((batch, 2), spec.image_size)
    stage.detect.detector.detect(canvases, np.ones(batch, np.float32), sizes)  # the network alone first
    detected = peak_bytes()
    for _ in range(2):  # a call of all the files (a part per batch), twice: freed memory is reused
        for _ in stage(work_rows([Path(f).read_bytes() for f in files])):
            pass
    print(json.dumps({"loaded": loaded, "detected": detected, "worked": peak_bytes()}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:])
