"""`ray job submit -- python jobs/infer.py ...` against a real Ray head started on 127.0.0.1 with
token authentication on, with the images on the loopback S3: a submit without the token, or with
another, is refused and nothing runs; with it the job runs to completion. Only the head process
started here is stopped (SIGTERM to `ray start --block` stops the Ray processes it started)."""
import json
import subprocess
import uuid
from pathlib import Path

import pyarrow.dataset as pds
import pytest

from tests.ray_cluster import BIN, DASHBOARD, ray_cluster

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ray_head():
    with ray_cluster() as env:
        yield env


def _submit(env: dict[str, str], job_id: str, *entrypoint: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "ray"), "job", "submit", f"--address={DASHBOARD}", f"--submission-id={job_id}",
                           f"--working-dir={REPO}", "--", *entrypoint], env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_a_submit_without_the_token_is_refused(ray_head, tmp_path):
    # No token in the environment, and a home without ~/.ray/auth_token.
    anonymous = {k: v for k, v in ray_head.items() if not k.startswith("RAY_AUTH_")} | {"HOME": str(tmp_path)}
    missing = _submit(anonymous, "no-token", "python", "-c", "pass")
    assert missing.returncode != 0 and "Missing authentication token" in missing.stdout + missing.stderr
    wrong = _submit({**ray_head, "RAY_AUTH_TOKEN": "0" * 64}, "wrong-token", "python", "-c", "pass")
    assert wrong.returncode != 0 and "Invalid authentication token" in wrong.stdout + wrong.stderr
    jobs = subprocess.run([str(BIN / "ray"), "job", "list", f"--address={DASHBOARD}"], env=ray_head,
                          capture_output=True, text=True, timeout=60)
    assert jobs.returncode == 0 and "no-token" not in jobs.stdout and "wrong-token" not in jobs.stdout


def test_ray_job_submit_runs_the_job_to_completion(ray_head, s3_server, indoor85):
    import s3fs

    fs = s3fs.S3FileSystem(endpoint_url=s3_server, key="testing", secret="testing")
    fs.mkdir("jobs")
    photos = sorted((indoor85 / "images").glob("*.jpg"))[:6]
    for photo in photos:
        fs.pipe(f"jobs/in/{photo.name}", photo.read_bytes())
    job_id = f"effdet-test-{uuid.uuid4().hex[:8]}"
    submit = _submit(ray_head, job_id, "python", "jobs/infer.py", "--model", "d0", "--weights", "random",
                     "--input", "s3://jobs/in", "--output", "s3://jobs/out", "--s3-endpoint", s3_server,
                     "--batch-size", "3", "--run-id", "job1", timeout=400)
    assert submit.returncode == 0, submit.stdout[-3000:] + submit.stderr[-2000:]
    status = subprocess.run([str(BIN / "ray"), "job", "status", f"--address={DASHBOARD}",
                             job_id], env=ray_head, capture_output=True, text=True, timeout=60)
    assert f"Job '{job_id}' succeeded" in status.stdout, status.stdout + status.stderr
    summaries = [json.loads(line) for line in submit.stdout.splitlines() if line.startswith('{"run_id"')]
    assert summaries and summaries[-1]["images_ok"] == len(photos) and summaries[-1]["images_failed"] == 0

    table = pds.dataset("jobs/out", filesystem=fs, format="parquet").to_table(columns=["image_id", "error"])
    assert sorted(table.column("image_id").to_pylist()) == sorted(f"s3://jobs/in/{p.name}" for p in photos)
    assert table.column("error").null_count == len(photos)
    assert json.loads(fs.cat("jobs/out/_manifest-job1.json"))["images_total"] == len(photos)
