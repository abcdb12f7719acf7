"""One writer per output across hosts (tests/hosts.py): a run on one host, writing to the S3 host,
is killed with its host (every process SIGKILLed) while holding its output's lease; a rerun from
another host cannot tell whether it is gone, so with --wait it waits for the lease to expire, then
takes it over and resumes: every image has exactly one row. (A rerun on the same host takes a dead
process's lease over at once: tests/reliability/test_one_writer.py.)"""
import json
import time

import pyarrow.dataset as pds
import pytest

from effdet_batch.pipeline.lease import LEASE_NAME, Lease
from tests.conftest import S3_CREDENTIALS
from tests.helpers import committed_checkpoints, infer_command, job_env

pytestmark = pytest.mark.slow

IMAGES = 32  # a CPU actor takes 4 batches (8 images here) a call: the switch-off must find calls still to run
EXPIRY = 20.0  # seconds: the runs' --lease-expiry, longer than a rerun takes to start


def _lease(fs, output: str) -> Lease | None:
    path = f"{output.removeprefix('s3://')}/{LEASE_NAME}"
    fs.invalidate_cache()
    return Lease.from_bytes(fs.cat(path)) if fs.exists(path) else None


def test_a_rerun_from_another_host_takes_over_after_the_expiry(hosts, lake, tmp_path):
    fs, endpoint = lake
    for i in range(IMAGES):
        fs.copy(f"lake/in/img{i:03d}.jpg", f"lake/few/img{i:03d}.jpg")
    output = "s3://lake/few-labels"
    command = infer_command("--input", "s3://lake/few/", "--output", output, "--s3-endpoint", endpoint,
                            "--batch-size", "2", "--rows-per-file", "2", "--lease-expiry", str(EXPIRY))
    env = job_env(**S3_CREDENTIALS)
    first, second = hosts["w1"], hosts["w2"]

    run = first.start(command + ["--run-id", "first"], env, tmp_path / "first.log")
    deadline = time.monotonic() + 240
    while len(committed_checkpoints(fs, output)) < 2:
        assert run.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
        assert time.monotonic() < deadline, "the first run committed nothing"
        time.sleep(0.1)
    first.kill()  # the host is gone: its driver and its Ray with it, the lease left behind
    held = _lease(fs, output)
    assert (held.run_id, held.host) == ("first", first.name)

    rerun = second.start(command + ["--run-id", "rerun", "--wait"], env, tmp_path / "rerun.log")
    assert rerun.wait(timeout=300) == 0, (tmp_path / "rerun.log").read_text()[-3000:]
    log = (tmp_path / "rerun.log").read_text()
    assert f"waiting for run first (host {first.name}" in log and "expired at" in log  # not at once
    assert "took over the lease" in log
    (summary,) = [json.loads(line) for line in log.splitlines() if line.startswith('{"run_id"')]

    table = pds.dataset(output.removeprefix("s3://"), filesystem=fs, format="parquet").to_table(
        columns=["image_id", "run_id"])
    assert sorted(table["image_id"].to_pylist()) == [f"s3://lake/few/img{i:03d}.jpg" for i in range(IMAGES)]
    runs = table["run_id"].to_pylist()
    assert set(runs) == {"first", "rerun"} and summary["images_total"] == runs.count("rerun") > 0
    assert _lease(fs, output) is None  # released at the end
