"""Resume: a run killed midway (the driver and the local Ray it started), then the same command
again: every image has exactly one row, and the rerun only processed what was missing; a third run
(with more actors) finds nothing left to do."""
import json
import subprocess

import fsspec
import pyarrow.dataset as pds

from tests.helpers import committed_checkpoints, infer_command, job_env, job_process, photo_folder, wait_while_running

IMAGES = 40


def test_killed_run_resumes_with_every_image_exactly_once(indoor85, tmp_path):
    src = photo_folder(indoor85, tmp_path / "in", IMAGES)
    out = tmp_path / "out"
    command = infer_command("--input", str(src), "--output", str(out), "--batch-size", "2", "--rows-per-file", "2")
    env = job_env()
    local = fsspec.filesystem("file")
    with job_process(command, env) as first:  # killed at the end of the block: driver and local Ray
        wait_while_running(first, lambda: len(committed_checkpoints(local, str(out))) >= 3)
        assert first.poll() is None, "the first run ended before it could be killed midway"
    assert 0 < len(committed_checkpoints(local, str(out))) < IMAGES // 2

    second = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr[-2000:]
    summary = json.loads(second.stdout.strip().splitlines()[-1])
    table = pds.dataset(str(out), format="parquet").to_table(columns=["image_id", "error", "run_id"])
    ids = table.column("image_id").to_pylist()
    assert sorted(ids) == sorted(str(p) for p in src.iterdir())  # every image, exactly once
    assert table.column("error").null_count == IMAGES
    runs = table.column("run_id").to_pylist()
    first_rows = sum(run != summary["run_id"] for run in runs)  # kept from the killed run
    assert first_rows >= 2 * 3 and summary["images_total"] == IMAGES - first_rows  # only the rest ran
    assert summary["images_in_output"] == IMAGES

    # A rerun with two detector actors on the 2-core CI machine: with Ray Data's checkpoint filter
    # actor (a whole CPU) beside them, they still leave a CPU share to read and write with.
    third = subprocess.run(command + ["--actors", "2"], cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=300)
    assert third.returncode == 0 and json.loads(third.stdout.strip().splitlines()[-1])["images_total"] == 0
    assert pds.dataset(str(out), format="parquet").count_rows() == IMAGES
