import hashlib
import io
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import effdet_batch.pipeline
from effdet_batch.model import Detector, get_spec, letterbox
from effdet_batch.pipeline.decode import decode
from jobs import benchmark

REPO = Path(__file__).resolve().parents[2]


def test_benchmark_prints_forward_and_predict_records(capsys):
    assert benchmark.main(["--model", "d0", "--device", "cpu", "--batch-size", "2",
                           "--iterations", "2", "--warmup", "1"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["benchmark"] for r in records] == ["forward", "predict"]
    for r in records:
        assert r["model"] == "d0" and r["device"] == "cpu" and r["batch_size"] == 2
        assert r["images_per_second"] > 0 and r["peak_memory_bytes"] > 0
        assert r["batch_latency_ms_p50"] <= r["batch_latency_ms_p95"]
        assert r["weights"] == "random(seed=0)"


def test_benchmark_misuse_is_one_line_and_exit_2():
    # The library refuses a model with one line; argparse refuses a number with its usage, then one line.
    cases = [(["--model", "d9"], "error: unknown model 'd9'", False),
             (["--batch-size", "-3"], "benchmark.py: error: argument --batch-size: expected a positive integer", True)]
    for args, error, usage in cases:
        run = subprocess.run([sys.executable, "jobs/benchmark.py", *args, "--device", "cpu"],
                             cwd=REPO, capture_output=True, text=True)
        assert run.returncode == 2 and run.stdout == "", run.stderr
        *above, last = run.stderr.strip().splitlines()
        assert last.startswith(error), run.stderr
        if usage:  # the usage block: its first line, then indented continuations
            assert above[0].startswith("usage: ") and all(line.startswith(" ") for line in above[1:]), run.stderr
        else:
            assert above == [], run.stderr


def _lake_files(cfg) -> dict[str, bytes]:
    """The job's input files, read from its local folder or its S3 prefix (through the delay)."""
    import fsspec

    (prefix,) = cfg.inputs
    fs, root = fsspec.core.url_to_fs(prefix, **({"endpoint_url": cfg.s3_endpoint} if cfg.s3_endpoint else {}))
    return {path.rsplit("/", 1)[1]: fs.cat_file(path) for path in sorted(fs.ls(root, detail=False))}


def _kind(data: bytes) -> tuple[str, tuple[int, int]]:
    import pillow_heif

    pillow_heif.register_heif_opener()
    with Image.open(io.BytesIO(data)) as im:
        return im.format, im.size


def test_pipeline_benchmark_builds_the_mixed_lake_and_times_the_job_and_detect_on_it(tmp_path, monkeypatch):
    # The job and detect are watched from outside the benchmark: each store's figure must be the
    # speed its job reported, and detect's the speed of the calls seen here, on the canvases of the
    # very files the jobs read; the files must be the stated mix.
    jobs, calls = [], []
    run_inference, detect = effdet_batch.pipeline.run_inference, Detector.detect

    def watched_job(cfg):
        files = _lake_files(cfg)
        jobs.append((cfg, files, run_inference(cfg)))
        return jobs[-1][2]

    def watched_detect(self, canvases, scales, sizes):
        start = time.perf_counter()
        out = detect(self, canvases, scales, sizes)
        calls.append((np.array(canvases), time.perf_counter() - start))
        return out

    monkeypatch.setattr(effdet_batch.pipeline, "run_inference", watched_job)
    monkeypatch.setattr(Detector, "detect", watched_detect)
    out = tmp_path / "pipeline.json"
    assert benchmark.main(["--pipeline", "--lake", "mixed", "--lake-store", "local,s3", "--count", "10",
                           "--lake-variants", "1", "--model", "d0", "--device", "cpu", "--batch-size", "5",
                           "--out", str(out)]) == 0
    record = json.loads(out.read_text())
    (local, local_files, local_summary), (s3, s3_files, s3_summary) = jobs
    assert s3.inputs[0].startswith("s3://") and s3.s3_endpoint.startswith("http://127.0.0.1:")
    assert local_files == s3_files and len(local_files) == 10  # the same lake in both stores
    # The stated mix of 10: half 12 MP JPEGs, a fifth 12 MP HEIC, a tenth PNG screenshots, a fifth the
    # bundled photos' own JPEGs; one distinct file per kind (--lake-variants 1).
    kinds = Counter(_kind(data) for data in local_files.values())
    assert kinds == {("JPEG", (4032, 3024)): 5, ("HEIF", (4032, 3024)): 2, ("PNG", (1170, 2532)): 1,
                     ("JPEG", (640, 480)): 2}
    assert len(set(local_files.values())) == 4
    assert record["lake"]["shares"] == {"jpeg_12mp": 0.5, "heic": 0.2, "png": 0.1, "jpeg_small": 0.2}
    assert {k: v["images"] for k, v in record["lake"]["kinds"].items()} == {"jpeg_12mp": 5, "heic": 2, "png": 1,
                                                                            "jpeg_small": 2}
    assert record["command"].startswith("python jobs/benchmark.py --pipeline --lake mixed") and record["date"]
    assert record["machine"]["cores"] and record["benchmark"] == "pipeline" and record["batch_size"] == 5

    # detect ran on exactly the job's canvases (decoded as the job does: --decode fast), timed warm.
    _, *timed = calls
    spec = get_spec("d0")
    want = [letterbox(decode(data, spec.image_size).pixels, spec.image_size, spec.pretrained.fill)[0]
            for data in local_files.values()]

    def digests(canvases):
        return sorted(hashlib.sha256(c.tobytes()).hexdigest() for c in canvases)

    assert digests([c for canvases, _ in timed for c in canvases]) == digests(want)
    detect_ips = 10 / sum(seconds for _, seconds in timed)
    assert record["detect_images_per_second"] == pytest.approx(detect_ips, rel=0.05)
    stores = {r["store"]: r for r in record["stores"]}
    for store, summary in (("local", local_summary), ("s3", s3_summary)):
        r = stores[store]
        assert r["images_ok"] == summary.images_ok == 10
        assert r["pipeline_images_per_second"] == summary.images_per_second > 0
        assert r["over_detect"] == pytest.approx(summary.images_per_second / detect_ips, rel=0.05)
    assert stores["s3"]["over_local"] == pytest.approx(s3_summary.images_per_second / local_summary.images_per_second,
                                                       abs=0.001)
    # Every GET went through the delaying proxy: one per image for the job, and one for this test.
    assert stores["s3"]["delay_ms"] == 50 and stores["s3"]["server_requests"] >= 2 * 10
    assert 0 < stores["s3"]["server_cpu_seconds"] < stores["s3"]["wall_seconds"] * os.cpu_count()
