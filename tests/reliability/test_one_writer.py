"""One writer per output, through jobs/infer.py on the loopback S3: of two runs started together on
one output exactly one runs, and the other exits 1 before inference with one line naming it. Its
lease outlives it when SIGKILLed; a run is refused while another host's lease is live (another host
here: a lease written with another host name; a rerun from a host of its own, which waits for the
expiry: tests/cluster/test_lease_across_hosts.py), and a rerun takes this host's dead process's over
at once and resumes: every image has exactly one row."""
import json
import socket
import time
import uuid

import pyarrow.dataset as pds
import pytest

from effdet_batch.pipeline.lease import LEASE_NAME, Lease
from tests.conftest import S3_CREDENTIALS
from tests.helpers import committed_checkpoints, infer_command, job_env, job_process, wait_while_running

IMAGES = 32  # a CPU actor takes 4 batches (8 images here) a call: the kill must find calls still to run
EXPIRY = 6.0  # seconds: the runs' --lease-expiry


@pytest.fixture
def job(s3_server, indoor85):
    """A bucket holding IMAGES photos under in/, and the command and environment of a job
    labelling them into labels/ (the file system, its output and the command)."""
    import s3fs

    fs = s3fs.S3FileSystem(endpoint_url=s3_server, key="testing", secret="testing")
    bucket = f"one-writer-{uuid.uuid4().hex[:8]}"
    fs.mkdir(bucket)
    photos = sorted((indoor85 / "images").glob("*.jpg"))
    for i in range(IMAGES):
        fs.pipe(f"{bucket}/in/img{i:03d}.jpg", photos[i % len(photos)].read_bytes())
    output = f"s3://{bucket}/labels"
    command = infer_command("--input", f"s3://{bucket}/in/", "--output", output, "--batch-size", "2",
                            "--rows-per-file", "2", "--lease-expiry", str(EXPIRY))
    return fs, output, command, job_env(**S3_CREDENTIALS, AWS_ENDPOINT_URL=s3_server)


def _lease(fs, output: str) -> dict | None:
    path = f"{output.removeprefix('s3://')}/{LEASE_NAME}"
    fs.invalidate_cache()
    return json.loads(fs.cat(path)) if fs.exists(path) else None


def _error_line(log) -> str:
    return [line for line in log.read_text().splitlines() if line.startswith("error: ")][-1]


def _killed_midway(job, fs, output: str, commits: int) -> None:
    wait_while_running(job, lambda: len(committed_checkpoints(fs, output)) >= commits)
    assert job.poll() is None, "the run ended before it could be killed midway"


def test_one_writer_per_output_and_a_rerun_takes_over_and_resumes(job, tmp_path):
    fs, output, command, env = job
    logs = {run: tmp_path / f"{run}.log" for run in ("a", "b", "refused", "rerun")}

    with job_process(command + ["--run-id", "a"], env, log=logs["a"]) as a, \
            job_process(command + ["--run-id", "b"], env, log=logs["b"]) as b:
        deadline = time.monotonic() + 180
        while a.poll() is None and b.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        (loser, winner), = [(x, y) for x, y in (("a", "b"), ("b", "a")) if {"a": a, "b": b}[x].poll() is not None]
        assert {"a": a, "b": b}[loser].returncode == 1, logs[loser].read_text()[-2000:]
        assert _error_line(logs[loser]).startswith(
            f"error: output {output} is being written by run {winner} (host {socket.gethostname()}, pid ")
        assert "--wait" in _error_line(logs[loser]) and not committed_checkpoints(fs, output)  # before inference
        assert _lease(fs, output)["run_id"] == winner
        _killed_midway({"a": a, "b": b}[winner], fs, output, commits=2)  # SIGKILLed at the end of the block
    assert _lease(fs, output)["run_id"] == winner  # a killed run cannot release its lease

    # As if the killed run had held it from another host: its pid tells nothing here, its expiry
    # does, so a run started now is refused. (Waiting for that expiry with --wait, and taking the
    # lease over then, from a host of its own: tests/cluster/test_lease_across_hosts.py.)
    lease_path = f"{output.removeprefix('s3://')}/{LEASE_NAME}"
    killed = fs.cat(lease_path)
    fs.pipe(lease_path, Lease(run_id=winner, host="elsewhere", pid=1, started=time.time() - 60,
                              heartbeat=time.time(), expires=time.time() + 120).to_bytes())
    with job_process(command + ["--run-id", "refused"], env, log=logs["refused"]) as refused:
        assert refused.wait(timeout=120) == 1 and "being written by run" in _error_line(logs["refused"])
    fs.pipe(lease_path, killed)  # this host's killed run's again

    with job_process(command + ["--run-id", "rerun"], env, log=logs["rerun"]) as rerun:
        assert rerun.wait(timeout=300) == 0, logs["rerun"].read_text()[-3000:]
    log = logs["rerun"].read_text()
    assert "took over the lease" in log and "is gone: no process" in log  # this host's: at once, not at expiry
    (summary,) = [json.loads(line) for line in log.splitlines() if line.startswith('{"run_id"')]
    table = pds.dataset(output.removeprefix("s3://"), filesystem=fs, format="parquet").to_table(
        columns=["image_id", "run_id"])
    ids = table.column("image_id").to_pylist()
    assert sorted(ids) == sorted(f"{output.removesuffix('labels')}in/img{i:03d}.jpg" for i in range(IMAGES))
    runs = table.column("run_id").to_pylist()
    assert set(runs) == {winner, "rerun"} and summary["images_total"] == runs.count("rerun") > 0
    assert _lease(fs, output) is None  # released at the end
