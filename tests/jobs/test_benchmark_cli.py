import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

import effdet_batch.pipeline
from effdet_batch.model import Detector
from effdet_batch.pipeline.decode import decode_image
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


def test_pipeline_benchmark_runs_the_job_and_predict_on_the_same_images(ray_local, monkeypatch, capsys):
    # The job and predict are watched from outside the benchmark: the ratio must be the speed the
    # job reported over the speed of the predict calls seen here, on the images the job read.
    jobs, calls = [], []
    run_inference, predict = effdet_batch.pipeline.run_inference, Detector.predict

    def watched_job(cfg):
        (folder,) = cfg.inputs
        inputs = [decode_image(path.read_bytes()) for path in Path(folder).iterdir()]
        jobs.append((inputs, run_inference(cfg)))
        return jobs[-1][1]

    def watched_predict(self, images):
        start = time.perf_counter()
        out = predict(self, images)
        calls.append((list(images), time.perf_counter() - start))
        return out

    monkeypatch.setattr(effdet_batch.pipeline, "run_inference", watched_job)
    monkeypatch.setattr(Detector, "predict", watched_predict)
    assert benchmark.main(["--pipeline", "--model", "d0", "--device", "cpu", "--count", "12",
                           "--batch-size", "4", "--actors", "2"]) == 0
    (record,) = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    ((inputs, summary),) = jobs
    _, *timed = calls  # the first call warms up
    predicted = [image for images, _ in timed for image in images]

    def digests(images):
        return sorted(hashlib.sha256(i.tobytes() + str(i.shape).encode()).hexdigest() for i in images)

    assert record["benchmark"] == "pipeline" and record["actors"] == 2
    assert record["images"] == record["images_ok"] == summary.images_ok == len(inputs) == 12
    assert digests(predicted) == digests(inputs) and all(len(images) == 4 for images, _ in timed)
    assert record["pipeline_images_per_second"] == summary.images_per_second > 0
    predict_ips = len(predicted) / sum(seconds for _, seconds in timed)
    assert record["predict_images_per_second"] == pytest.approx(predict_ips, rel=0.05)
    assert record["ratio"] == pytest.approx(summary.images_per_second / predict_ips, rel=0.05)
