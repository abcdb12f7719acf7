"""`ray job submit -- python jobs/infer.py ...` against a real Ray head started on 127.0.0.1, with
the images on the loopback S3; only the head process this test starts is stopped (SIGTERM to
`ray start --block` stops the Ray processes it started)."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import pyarrow.dataset as pds
import pytest

from tests.conftest import S3_CREDENTIALS

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# Fixed ports outside Ray's default worker-port range (10002-19999).
GCS_PORT, DASHBOARD_PORT, CLIENT_PORT = 26379, 28265, 20001
NODE_PORTS = ["--node-manager-port=26380", "--object-manager-port=26381", "--dashboard-agent-listen-port=26382",
              "--dashboard-agent-grpc-port=26383", "--metrics-export-port=26384", "--runtime-env-agent-port=26385"]


def _wait_for_dashboard(head: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert head.poll() is None, "ray start --head exited"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{DASHBOARD_PORT}/api/version", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise AssertionError("the Ray dashboard did not come up")


@pytest.fixture
def ray_head():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "AWS_"))}
    env.update(S3_CREDENTIALS, PATH=f"{BIN}{os.pathsep}{env['PATH']}", RAY_DATA_DISABLE_PROGRESS_BARS="1",
               # Keep every Ray address on 127.0.0.1 (Ray swaps loopback for the host's routable IP
               # unless told this is a single-host cluster), and no token to manage on loopback.
               RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", RAY_AUTH_MODE="disabled")
    temp_dir = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    head = subprocess.Popen(
        [str(BIN / "ray"), "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={GCS_PORT}",
         "--include-dashboard=true", "--dashboard-host=127.0.0.1", f"--dashboard-port={DASHBOARD_PORT}",
         f"--ray-client-server-port={CLIENT_PORT}", "--num-cpus=2", "--num-gpus=0", *NODE_PORTS,
         f"--temp-dir={temp_dir}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_dashboard(head)
        yield env
    finally:
        head.send_signal(signal.SIGTERM)
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            head.kill()
            head.wait()
        shutil.rmtree(temp_dir, ignore_errors=True)


def test_ray_job_submit_runs_the_job_to_completion(ray_head, s3_server, indoor85):
    import s3fs

    fs = s3fs.S3FileSystem(endpoint_url=s3_server, key="testing", secret="testing")
    fs.mkdir("jobs")
    photos = sorted((indoor85 / "images").glob("*.jpg"))[:6]
    for photo in photos:
        fs.pipe(f"jobs/in/{photo.name}", photo.read_bytes())
    job_id = f"effdet-test-{uuid.uuid4().hex[:8]}"
    submit = subprocess.run(
        [str(BIN / "ray"), "job", "submit", f"--address=http://127.0.0.1:{DASHBOARD_PORT}",
         f"--submission-id={job_id}", f"--working-dir={REPO}", "--",
         "python", "jobs/infer.py", "--model", "d0", "--weights", "random", "--input", "s3://jobs/in",
         "--output", "s3://jobs/out", "--s3-endpoint", s3_server, "--batch-size", "3", "--run-id", "job1"],
        env=ray_head, capture_output=True, text=True, timeout=400,
    )
    assert submit.returncode == 0, submit.stdout[-3000:] + submit.stderr[-2000:]
    status = subprocess.run([str(BIN / "ray"), "job", "status", f"--address=http://127.0.0.1:{DASHBOARD_PORT}",
                             job_id], env=ray_head, capture_output=True, text=True, timeout=60)
    assert f"Job '{job_id}' succeeded" in status.stdout, status.stdout + status.stderr
    summaries = [json.loads(line) for line in submit.stdout.splitlines() if line.startswith('{"run_id"')]
    assert summaries and summaries[-1]["images_ok"] == len(photos) and summaries[-1]["images_failed"] == 0

    table = pds.dataset("jobs/out", filesystem=fs, format="parquet").to_table(columns=["image_id", "error"])
    assert sorted(table.column("image_id").to_pylist()) == sorted(f"s3://jobs/in/{p.name}" for p in photos)
    assert table.column("error").null_count == len(photos)
    assert json.loads(fs.cat("jobs/out/_manifest-job1.json"))["images_total"] == len(photos)
