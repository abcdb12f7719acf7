"""A real two-node Ray cluster on loopback: a head and a second node (its own custom resource)
started with `ray start`; `ray job submit` runs the job, and Ray's state API shows its work ran on
both nodes. Only the processes started here are stopped."""
import json
import subprocess
import uuid

import pytest

from tests.helpers import REPO
from tests.ray_cluster import BIN, DASHBOARD, alive_nodes, ray_cluster, state_api


@pytest.fixture
def two_nodes():
    with ray_cluster(head_cpus=1, workers=({"second_node": 1},)) as env:
        yield env


def test_job_runs_on_both_nodes(two_nodes, s3_server, indoor85):
    import s3fs
    from ray.util.state.common import ListApiOptions, StateResource

    nodes = {n.node_id: n for n in alive_nodes(two_nodes)}
    (second,) = [i for i, n in nodes.items() if "second_node" in n.resources_total]
    (head,) = [i for i, n in nodes.items() if n.is_head_node]

    fs = s3fs.S3FileSystem(endpoint_url=s3_server, key="testing", secret="testing")
    bucket = f"two-nodes-{uuid.uuid4().hex[:8]}"
    fs.mkdir(bucket)
    photos = sorted((indoor85 / "images").glob("*.jpg"))[:12]
    for photo in photos:
        fs.pipe(f"{bucket}/in/{photo.name}", photo.read_bytes())
    submit = subprocess.run(
        [str(BIN / "ray"), "job", "submit", f"--address={DASHBOARD}", f"--working-dir={REPO}", "--",
         "python", "jobs/infer.py", "--model", "d0", "--weights", "random", "--device", "cpu",
         "--input", f"s3://{bucket}/in", "--output", f"s3://{bucket}/out", "--s3-endpoint", s3_server,
         "--batch-size", "2", "--actors", "2"],
        env=two_nodes, capture_output=True, text=True, timeout=500,
    )
    assert submit.returncode == 0, submit.stdout[-3000:] + submit.stderr[-2000:]
    (summary, *_) = [json.loads(line) for line in submit.stdout.splitlines() if line.startswith('{"run_id"')]
    assert summary["images_ok"] == len(photos) and summary["device_count"] == 2  # CPU nodes

    # The job's own work: Ray Data's read and write tasks and its detector actors' batches.
    tasks = state_api(two_nodes).list(StateResource.TASKS, options=ListApiOptions(detail=True, limit=10_000),
                                      raise_on_missing_output=False)
    work = [t for t in tasks if t.node_id and any(k in t.name for k in ("ReadShard", "MapWorker", "Write"))]
    assert work, sorted({t.name for t in tasks})
    work_nodes = {t.node_id for t in work}
    assert work_nodes == {head, second}, f"work ran on {work_nodes}; head {head}, second node {second}"
