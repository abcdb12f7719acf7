"""Faults during a run: object storage going away and coming back, a detector actor killed, the
retries given up. The job finishes (or stops with one line and resumes), each image exactly once,
and the credentials it read with appear in none of its output, logs or manifest."""
import json
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import fsspec
import pyarrow.dataset as pds
import pyarrow.parquet as pq
import pytest

from tests.conftest import S3_CREDENTIALS
from tests.helpers import committed_checkpoints, infer_command, job_env, job_process, photo_folder, wait_while_running

IMAGES = 40
SECRET = "outage-secret-0b5e1d7c"  # the secret key the job reads S3 with


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _RestartableS3:
    """moto's S3 server on a fixed loopback port, stopped and started again on the same port.
    moto keeps its buckets in this process, so they survive the restart."""

    def __init__(self):
        self.port = _free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.server = None

    def start(self):
        from moto.server import ThreadedMotoServer

        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()

    def stop(self):
        self.server.stop()


@pytest.fixture
def outage_s3(indoor85):
    """A restartable S3 with a fresh lake of IMAGES photos and an empty labels bucket."""
    import s3fs

    s3 = _RestartableS3()
    s3.start()
    credentials = {**S3_CREDENTIALS, "AWS_SECRET_ACCESS_KEY": SECRET}
    fs = s3fs.S3FileSystem(endpoint_url=s3.endpoint, key=credentials["AWS_ACCESS_KEY_ID"], secret=SECRET)
    suffix = os.urandom(4).hex()  # moto's buckets are shared with the session's server
    lake, labels = f"outage-lake-{suffix}", f"outage-labels-{suffix}"
    fs.mkdir(lake)
    fs.mkdir(labels)
    photos = sorted((indoor85 / "images").glob("*.jpg"))
    for i in range(IMAGES):
        fs.pipe(f"{lake}/img{i:03d}.jpg", photos[i % len(photos)].read_bytes())
    env = job_env(**credentials, AWS_ENDPOINT_URL=s3.endpoint)
    command = infer_command("--input", f"s3://{lake}/", "--output", f"s3://{labels}/run", "--batch-size", "2",
                            "--rows-per-file", "2")
    yield s3, fs, labels, command, env
    s3.stop()


def _outage_after_commits(job: subprocess.Popen, s3: _RestartableS3, fs, output: str, seconds: float) -> None:
    """Stop S3 once the job has committed some rows (mid-run), and start it again `seconds` later."""
    wait_while_running(job, lambda: len(committed_checkpoints(fs, output)) >= 2)
    assert job.poll() is None, "the job ended before the outage"
    s3.stop()
    time.sleep(seconds)
    s3.start()


def _labelled(fs, output: str) -> list[str]:
    fs.invalidate_cache()
    return pds.dataset(output, filesystem=fs, format="parquet").to_table(columns=["image_id"])["image_id"].to_pylist()


def _committed_ids(fs, output: str) -> set[str]:
    """The image ids a run's committed checkpoint files record as done."""
    ids = set()
    for name in committed_checkpoints(fs, output):
        with fs.open(name, "rb") as f:
            ids.update(pq.read_table(f, columns=["image_id"])["image_id"].to_pylist())
    return ids


def _ray_session(stderr: str) -> Path:
    return Path(re.search(r"Full logs are in (/\S+?/session_[^/\s]+)", stderr).group(1))


def test_s3_outage_mid_run_is_retried_and_credentials_never_leak(outage_s3):
    s3, fs, labels, command, env = outage_s3
    with job_process(command, env, capture=True) as job:
        _outage_after_commits(job, s3, fs, f"{labels}/run", seconds=5)
        stdout, stderr = job.communicate(timeout=300)
    assert job.returncode == 0, stderr[-3000:]
    ids = _labelled(fs, f"{labels}/run")
    assert len(ids) == len(set(ids)) == IMAGES  # every image, exactly once
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert (summary["images_total"], summary["images_failed"]) == (IMAGES, 0)

    manifest = fs.cat(f"{labels}/run/_manifest-{summary['run_id']}.json").decode()
    assert SECRET not in stdout + stderr + manifest
    session = _ray_session(stderr)
    logs = [p for p in session.rglob("*") if p.is_file() and not p.is_symlink()]
    assert logs and not [p for p in logs if SECRET.encode() in p.read_bytes()]


def test_outage_past_the_retries_stops_with_one_line_and_the_rerun_resumes(outage_s3):
    s3, fs, labels, command, env = outage_s3
    # One attempt per request: the outage outlasts the retries, as a long one would.
    with job_process(command, {**env, "AWS_MAX_ATTEMPTS": "1"}, capture=True) as job:
        _outage_after_commits(job, s3, fs, f"{labels}/run", seconds=8)
        _, stderr = job.communicate(timeout=300)
    last = stderr.strip().splitlines()[-1]
    assert job.returncode == 1 and re.match(r"error: run \S+ stopped: \w+(Error|Exception): .*[Cc]onnect", last), last
    assert last.endswith("Rows already written are kept: rerun the same command to resume")
    committed = _committed_ids(fs, f"{labels}/run")
    assert 0 < len(committed) < IMAGES
    assert committed <= set(_labelled(fs, f"{labels}/run"))

    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    ids = _labelled(fs, f"{labels}/run")
    assert len(ids) == len(set(ids)) == IMAGES
    # A file written whose checkpoint was not yet committed is removed by the rerun and redone.
    # A commit the outage cut in half (the checkpoint copied, its pending file not yet deleted)
    # counts as not committed (see `committed_checkpoints`).
    assert json.loads(rerun.stdout.strip().splitlines()[-1])["images_total"] == IMAGES - len(committed)
    # The outage stopped the run: no image read during it was given up as unreadable.
    errors = pds.dataset(f"{labels}/run", filesystem=fs, format="parquet").to_table(columns=["error"])["error"]
    assert errors.null_count == IMAGES, [e for e in errors.to_pylist() if e][:3]


def _processes(title: str) -> set[int]:
    """PIDs whose command line (Ray's process title) contains `title`."""
    found = set()
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and title.encode() in Path(f"/proc/{entry}/cmdline").read_bytes():
                found.add(int(entry))
        except OSError:
            continue
    return found


def test_killed_detector_actor_is_replaced_and_each_image_labelled_once(indoor85, tmp_path):
    src = photo_folder(indoor85, tmp_path / "in", IMAGES)
    out = tmp_path / "out"
    local = fsspec.filesystem("file")
    command = infer_command("--input", str(src), "--output", str(out), "--batch-size", "2", "--rows-per-file", "2")
    with job_process(command, job_env(), capture=True) as job:
        wait_while_running(job, lambda: len(committed_checkpoints(local, str(out))) >= 2)
        victims = _processes("PrepareAndDetect")
        assert job.poll() is None and len(victims) == 1, "expected one detector actor, mid-run"
        victim = victims.pop()
        os.kill(victim, signal.SIGKILL)
        replaced = False
        while job.poll() is None and not replaced:
            replaced = bool(_processes("PrepareAndDetect") - {victim})
            time.sleep(0.1)
        stdout, stderr = job.communicate(timeout=300)
    assert replaced, "no new detector actor started after the kill"
    assert job.returncode == 0, stderr[-3000:]
    ids = pds.dataset(str(out), format="parquet").to_table(columns=["image_id"])["image_id"].to_pylist()
    assert sorted(ids) == sorted(str(p) for p in src.iterdir())  # every image, exactly once
    assert json.loads(stdout.strip().splitlines()[-1])["images_ok"] == IMAGES
