"""jobs/benchmark.py --decode-bench: one record with both modes' figures, also written to --out."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def test_decode_benchmark_prints_and_writes_one_record(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(REPO / "examples" / "images" / "2007_000027.jpg", photos)
    out = tmp_path / "results" / "decode.json"
    # A process of its own: the benchmark pins itself to one core while it measures.
    run = subprocess.run([sys.executable, "jobs/benchmark.py", "--decode-bench", "--images", str(photos),
                          "--sizes", "512", "--rounds", "1", "--out", str(out)],
                         cwd=REPO, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    record = json.loads(run.stdout.strip().splitlines()[-1])
    assert record == json.loads(out.read_text())
    assert record["command"] == f"python jobs/benchmark.py --decode-bench --images {photos} --sizes 512 --rounds 1 --out {out}"
    assert record["benchmark"] == "decode" and record["images"] == 1 and record["image_pixels"] == [4032, 3024]
    assert record["freed_memory_kept"] and record["cpu_core"] is not None and record["date"]
    (result,) = record["results"]
    assert result["image_size"] == 512 and {len(s) for s in result["run_seconds"].values()} == {1}
    assert result["fast_images_per_second"] == pytest.approx(1 / result["run_seconds"]["fast"][0], rel=0.02)
    assert result["fast_over_exact"] == pytest.approx(result["fast_images_per_second"] / result["exact_images_per_second"], abs=0.01)
    assert 0 < result["canvas_mean_abs_diff"] <= 0.5
