"""benchmarks/gpu_check.sh --cpu-smoke: the GPU machine's one command, at tiny sizes on the CPU, run
as it runs there (no Ray, pycocotools, s3fs or moto importable), so it cannot rot before a GPU comes."""
import json
import os
import subprocess
import sys

from tests.conftest import REPO

ABSENT_THERE = ("ray", "pycocotools", "s3fs", "moto")


def test_cpu_smoke_passes_with_one_json_line_per_measurement(tmp_path):
    blocked = tmp_path / "absent"
    blocked.mkdir()
    for name in ABSENT_THERE:  # shadow the installed packages, as the GPU machine lacks them
        (blocked / f"{name}.py").write_text(f"raise ImportError('{name} is not on the GPU machine')\n")
    out = tmp_path / "out"
    env = {**os.environ, "PYTHON": sys.executable, "OUT": str(out), "PYTHONPATH": str(blocked)}
    run = subprocess.run(["bash", "benchmarks/gpu_check.sh", "--cpu-smoke"], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr + (out / "gpu_check.log").read_text()
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    assert (out / "gpu_check_cpu-smoke.jsonl").read_text().splitlines() == run.stdout.splitlines()
    by_check = {}
    for line in lines:
        by_check.setdefault(line["check"], []).append(line)
    # (`wheels`: benchmarks/gpu_carry/ made here for the GPU machine's Python, when it does not install on this one)
    assert sorted(set(by_check) - {"wheels"}) == ["compile", "gpu_decode", "gpu_tests", "model_fp32",
                                                  "nms_agreement", "stages"]
    assert all(line["status"] in ("ok", "skipped") for line in lines), lines

    (tests,) = by_check["gpu_tests"]  # every gpu test collected, and skipped for want of a GPU
    assert tests["status"] == "ok" and tests["failed"] == tests["error"] == 0 and tests["skipped"] >= 3
    assert all(t["outcome"] == "skipped" for t in tests["tests"])
    (nms,) = by_check["nms_agreement"]
    assert {t["test"].rsplit("[", 1)[-1] for t in nms["tests"]} == {"cpu]", "cuda]"}

    forward, detect, reference = by_check["model_fp32"]
    for record in (forward, detect):
        assert record["model"] == "d0" and record["device"] == "cpu" and record["batch_size"] == 2
        assert record["images_per_second"] > 0 and record["peak_memory_bytes"] > 0
        assert record["batch_latency_ms_p50"] <= record["batch_latency_ms_p95"]
    assert (forward["benchmark"], detect["benchmark"], reference["benchmark"]) == (
        "forward", "detect", "reference_forward")
    assert "skipped" in reference or reference["detect_over_reference"] > 0
    (stages,) = by_check["stages"]
    assert stages["jpegs"] == 2 and stages["image_size"] == 512
    assert all(v > 0 for v in stages["decode_images_per_second_per_core"].values())
    assert all(v > 0 for v in stages["detect_stage_images_per_second"].values())
    assert set(stages["decode_cores_per_detector"]) == {"exact", "fast"}
    (decode,) = by_check["gpu_decode"]
    assert decode["status"] == "skipped" and ("torchvision" in decode["skipped"] or "CUDA" in decode["skipped"])
    assert by_check["compile"][0]["skipped"].startswith("--cpu-smoke")
