"""The output lease on both stores, a local folder and the loopback S3 (moto's server, which
enforces conditional requests), without Ray: taken, renewed and released; a live one refuses a
second run in one line, or makes it wait; a gone holder's is taken over at once on this host,
another host's only after its expiry; of runs starting together, exactly one wins."""
import json
import os
import socket
import subprocess
import threading
import time
import uuid

import fsspec
import pytest

from effdet_batch.errors import OutputError, RunError
from effdet_batch.pipeline.lease import DEFAULT_EXPIRY_S, LEASE_NAME, Lease, OutputLease


@pytest.fixture(params=["file", "s3"])
def output(request, tmp_path):
    if request.param == "file":
        return str(tmp_path / "out")
    endpoint = request.getfixturevalue("s3_env")
    import s3fs

    bucket = f"lease-{uuid.uuid4().hex[:8]}"
    s3fs.S3FileSystem(endpoint_url=endpoint).mkdir(bucket)
    return f"s3://{bucket}/out"


def _read(output: str) -> dict | None:
    fs, path = fsspec.core.url_to_fs(f"{output}/{LEASE_NAME}")
    fs.invalidate_cache()
    return json.loads(fs.cat_file(path)) if fs.exists(path) else None


def _write(output: str, host: str, pid: int, expires_in: float, run_id: str = "other") -> None:
    now = time.time()
    fs, path = fsspec.core.url_to_fs(f"{output}/{LEASE_NAME}")
    fs.makedirs(fs._parent(path), exist_ok=True)
    fs.pipe_file(path, Lease(run_id=run_id, host=host, pid=pid, started=now - 60, heartbeat=now - 1,
                             expires=now + expires_in).to_bytes())


def _gone_pid() -> int:
    done = subprocess.Popen(["true"])
    done.wait()
    return done.pid


def test_a_lease_is_taken_renewed_and_released(output):
    with OutputLease(output, "r1", expiry_s=0.4):
        first = _read(output)
        assert (first["run_id"], first["host"], first["pid"]) == ("r1", socket.gethostname(), os.getpid())
        assert first["expires"] - first["heartbeat"] == pytest.approx(0.4)
        deadline = time.monotonic() + 5
        while _read(output)["heartbeat"] == first["heartbeat"] and time.monotonic() < deadline:
            time.sleep(0.05)
        renewed = _read(output)
        assert renewed["heartbeat"] > first["heartbeat"] and renewed["started"] == first["started"]
    assert _read(output) is None


def test_a_lease_is_released_when_the_run_fails(output):
    with pytest.raises(ZeroDivisionError), OutputLease(output, "r1"):
        assert _read(output)["run_id"] == "r1"
        1 / 0
    assert _read(output) is None


def test_a_live_lease_refuses_a_second_run_in_one_line_or_makes_it_wait(output):
    with OutputLease(output, "r1", expiry_s=0.4) as first:
        with pytest.raises(OutputError) as refused:
            OutputLease(output, "r2").acquire()
        message = str(refused.value)
        assert "\n" not in message and "being written by run r1" in message and "--wait" in message
        assert f"host {socket.gethostname()}" in message and _read(output)["run_id"] == "r1"

        second = OutputLease(output, "r2", expiry_s=0.4, wait=True)
        waiter = threading.Thread(target=second.acquire)
        waiter.start()
        time.sleep(0.5)
        assert waiter.is_alive() and _read(output)["run_id"] == "r1"  # renewed: still live
        first.release()
        waiter.join(timeout=5)
        assert not waiter.is_alive() and _read(output)["run_id"] == "r2"
    second.release()
    assert _read(output) is None


def test_a_gone_process_lease_on_this_host_is_taken_over_at_once(output, caplog):
    _write(output, socket.gethostname(), _gone_pid(), expires_in=3600)
    start = time.monotonic()
    with OutputLease(output, "rerun"):
        assert time.monotonic() - start < 2 and _read(output)["run_id"] == "rerun"
    assert "took over the lease" in caplog.text and "is gone: no process" in caplog.text


def test_another_hosts_lease_is_taken_over_only_after_its_expiry(output, caplog):
    _write(output, "elsewhere", _gone_pid(), expires_in=1.5)  # its pid means nothing here
    with pytest.raises(OutputError, match="being written by run other .host elsewhere"):
        OutputLease(output, "now").acquire()
    start = time.monotonic()
    with OutputLease(output, "later", expiry_s=0.4, wait=True):
        assert time.monotonic() - start > 1.0 and _read(output)["run_id"] == "later"
    assert "took over the lease" in caplog.text and "expired at" in caplog.text


def test_a_lease_lost_while_running_is_raised_at_the_end(output, caplog):
    with pytest.raises(RunError, match="r1 lost its lease .* to run thief"):
        with OutputLease(output, "r1", expiry_s=0.4) as lease:
            _write(output, "elsewhere", 1, expires_in=60, run_id="thief")  # as a takeover writes it
            deadline = time.monotonic() + 5
            while lease.lost_to is None and time.monotonic() < deadline:
                time.sleep(0.05)
    assert _read(output)["run_id"] == "thief" and "lost its lease" in caplog.text  # not removed: not ours


@pytest.mark.parametrize("held", ["nothing", "a stale lease"])
def test_of_runs_starting_together_exactly_one_wins(output, held):
    if held != "nothing":
        _write(output, "elsewhere", 1, expires_in=-1)
    runs = [OutputLease(output, f"r{i}") for i in range(8)]
    start, results = threading.Barrier(len(runs)), {}

    def take(lease: OutputLease) -> None:
        start.wait()
        try:
            lease.acquire()
            results[lease.run_id] = "won"
        except OutputError:
            results[lease.run_id] = "refused"

    threads = [threading.Thread(target=take, args=(lease,)) for lease in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    (winner,) = [run for run, result in results.items() if result == "won"]
    assert len(results) == len(runs) and _read(output)["run_id"] == winner


def test_the_job_flags_reach_the_run_config():
    from effdet_batch.cli import run_settings
    from effdet_batch.pipeline import PipelineConfig
    from jobs import infer

    def config(*flags: str) -> PipelineConfig:
        return PipelineConfig(inputs=("in",), output="out", **run_settings(infer.parse_args(
            ["--model", "d0", "--input", "in", "--output", "out", *flags])))

    assert (config().wait, config().lease_expiry) == (False, DEFAULT_EXPIRY_S)
    assert (config("--wait", "--lease-expiry", "5").wait, config("--lease-expiry", "5").lease_expiry) == (True, 5)
    with pytest.raises(SystemExit) as refused:
        config("--lease-expiry", "0")
    assert refused.value.code == 2
