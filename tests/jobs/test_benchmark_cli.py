import json
import subprocess
import sys
from pathlib import Path

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
    for args in (["--model", "d9"], ["--batch-size", "-3"]):
        run = subprocess.run([sys.executable, "jobs/benchmark.py", *args, "--device", "cpu"],
                             cwd=REPO, capture_output=True, text=True)
        assert run.returncode == 2, run.stderr
        assert run.stdout == ""
        assert len(run.stderr.strip().splitlines()) == 1 or "usage:" in run.stderr
        assert "error:" in run.stderr.strip().splitlines()[-1]


def test_pipeline_benchmark_runs_the_job_and_predict_on_the_same_images():
    # A subprocess: the benchmark starts its own local Ray.
    run = subprocess.run([sys.executable, "jobs/benchmark.py", "--pipeline", "--model", "d0", "--device", "cpu",
                          "--count", "12", "--batch-size", "4", "--actors", "2"], cwd=REPO, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    (record,) = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    assert record["benchmark"] == "pipeline" and record["images"] == record["images_ok"] == 12
    assert record["actors"] == 2
    assert record["pipeline_images_per_second"] > 0 and record["predict_images_per_second"] > 0
    ratio = record["pipeline_images_per_second"] / record["predict_images_per_second"]
    assert abs(record["ratio"] - ratio) < 0.01
