"""A node lost mid-run, on Ray nodes that are hosts of their own (tests/hosts.py): a head with no
CPUs (the drivers only, as on KubeRay) and two 2-CPU workers, each in its own network namespace,
and moto's S3 on a fourth host. `ray job submit` runs jobs/infer.py over the lake with its detector
actors on w1; w2 joins and takes some of the work; once checkpoints are committed, w1 is lost,
SIGKILLed whole or cut off the network until the cluster declares it dead. The job must finish on
w2 with every image exactly once, and its manifest must name the lost node."""
import json
import subprocess
import time
import uuid

import pyarrow.dataset as pds
import pytest

from tests.cluster.conftest import LAKE_IMAGES as IMAGES
from tests.helpers import REPO, committed_checkpoints
from tests.hosts import Host
from tests.ray_cluster import BIN, alive_nodes, jobs_api, node_death_settings, ray_on_hosts, state_api

pytestmark = pytest.mark.slow


@pytest.fixture
def cluster(hosts, tmp_path):
    with ray_on_hosts(hosts["head"], tmp_path) as cluster:
        cluster.join(hosts["w1"])
        yield cluster


def _list(cluster, resource: str) -> list:
    from ray.util.state.common import ListApiOptions, StateResource

    return state_api(cluster.env, cluster.dashboard).list(
        StateResource(resource), options=ListApiOptions(detail=True, limit=10_000), raise_on_missing_output=False)


def _node_of(cluster) -> dict[str, str]:
    """node id -> address, of every node the cluster has had."""
    return {n.node_id: n.node_ip for n in _list(cluster, "nodes")}


def _detector_actors(cluster) -> list[str]:
    """The addresses of the live detector actors, one per actor."""
    node_of = _node_of(cluster)
    return [node_of[a.node_id] for a in _list(cluster, "actors")
            if a.state == "ALIVE" and "MapWorker" in a.class_name and a.node_id in node_of]


def _job_work(cluster) -> set[str]:
    """The addresses of the nodes that ran the job's work: Ray Data's read, detector and write tasks."""
    node_of = _node_of(cluster)
    return {node_of[t.node_id] for t in _list(cluster, "tasks")
            if t.node_id in node_of and any(k in t.name for k in ("ReadShard", "MapWorker", "Write"))}


def _submit(cluster, env: dict[str, str], job: str, entrypoint: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "ray"), "job", "submit", f"--address={cluster.dashboard}", f"--submission-id={job}",
                           f"--working-dir={REPO}", "--no-wait", "--", *entrypoint], env=env, capture_output=True,
                          text=True, timeout=120)


def _run_losing_a_node(cluster, lake, hosts, actors: str, lose, tmp_path) -> None:
    """Submit the job with the detector actors on w1, let w2 join and take some of the work, then
    `lose` w1 (with every detector actor): the job must finish on w2."""
    fs, endpoint = lake
    first, second = hosts["w1"], hosts["w2"]
    output = f"s3://lake/out-{uuid.uuid4().hex[:8]}"
    job = f"lose-{uuid.uuid4().hex[:8]}"
    entrypoint = ["python", "jobs/infer.py", "--model", "d0", "--weights", "random", "--device", "cpu",
                  "--input", "s3://lake/in", "--output", output, "--s3-endpoint", endpoint, "--batch-size", "4",
                  "--rows-per-file", "4", "--actors", actors]
    # As a user submits it: the CLI, refused without the cluster's token (and a home without one).
    anonymous = {k: v for k, v in cluster.env.items() if not k.startswith("RAY_AUTH_")} | {"HOME": str(tmp_path)}
    refused = _submit(cluster, anonymous, "anonymous", entrypoint)
    assert refused.returncode != 0 and "Missing authentication token" in refused.stdout + refused.stderr
    submitted = _submit(cluster, cluster.env, job, entrypoint)
    assert submitted.returncode == 0, submitted.stdout[-2000:] + submitted.stderr[-2000:]
    jobs = jobs_api(cluster.env, cluster.dashboard)
    assert [j.submission_id for j in jobs.list_jobs()] == [job]  # nothing ran of the refused one

    def wait_for(what: str, done) -> None:
        deadline = time.monotonic() + 300
        while not done():
            assert not jobs.get_job_status(job).is_terminal(), f"the job ended before {what}:\n" + jobs.get_job_logs(job)[-3000:]
            assert time.monotonic() < deadline, f"no {what} within 300 s"
            time.sleep(0.3)

    wait_for("its detector actors started", lambda: len(_detector_actors(cluster)) >= int(actors.split(",")[0]))
    cluster.join(second)
    wait_for("w2 took work and checkpoints were committed",
             lambda: second.ip in _job_work(cluster) and len(committed_checkpoints(fs, output)) >= 2)
    on_first = _detector_actors(cluster)
    if "," in actors:  # an autoscaling pool may have grown onto w2: w1 still holds its first actor
        assert first.ip in on_first, on_first
    else:  # a fixed pool loses every actor with w1 (ray issue #62746's case)
        assert set(on_first) == {first.ip}, on_first
    node_of = _node_of(cluster)  # what the actors report to stays with the driver, on the head
    assert {node_of[a.node_id] for a in _list(cluster, "actors") if a.class_name == "_Collector"} == {hosts["head"].ip}
    assert _job_work(cluster) == {first.ip, second.ip}  # and the driver runs on the head
    lose(first)
    deadline = time.monotonic() + 300
    while not jobs.get_job_status(job).is_terminal():
        assert time.monotonic() < deadline, "the job did not finish after losing a node:\n" + jobs.get_job_logs(job)[-3000:]
        time.sleep(1)
    logs = jobs.get_job_logs(job)
    assert str(jobs.get_job_status(job)) == "SUCCEEDED", logs[-4000:]
    assert _node_of(cluster)[jobs.get_job_info(job).driver_node_id] == hosts["head"].ip

    rows = pds.dataset(output.removeprefix("s3://"), filesystem=fs, format="parquet").to_table(columns=["image_id", "error"])
    assert sorted(rows["image_id"].to_pylist()) == [f"s3://lake/in/img{i:03d}.jpg" for i in range(IMAGES)]  # each once
    assert rows["error"].null_count == IMAGES
    (summary,) = [json.loads(line) for line in logs.splitlines() if line.startswith('{"run_id"')]
    assert [n["address"] for n in summary["nodes_lost"]] == [first.ip], summary["nodes_lost"]


@pytest.mark.parametrize("actors", ["2", "1,3"], ids=["fixed-pool", "autoscaling"])
def test_a_node_killed_mid_run(cluster, lake, hosts, actors, tmp_path):
    _run_losing_a_node(cluster, lake, hosts, actors, Host.kill, tmp_path)


def test_a_node_cut_off_the_network(cluster, lake, hosts, tmp_path):
    def cut(host: Host) -> None:
        """Off the network until the cluster declares it dead (its node timeout, from the
        settings of cluster/), and a little longer; then back."""
        settings = node_death_settings()
        timeout = int(settings["RAY_health_check_failure_threshold"]) * (
            int(settings["RAY_health_check_period_ms"]) + int(settings["RAY_health_check_timeout_ms"])) / 1000
        deadline = time.monotonic() + 3 * timeout
        with host.cut():
            while host.ip in {n.node_ip for n in alive_nodes(cluster.env, cluster.dashboard)}:
                assert time.monotonic() < deadline, f"{host.name} was not declared dead within {3 * timeout} s"
                time.sleep(1)
            time.sleep(3)

    _run_losing_a_node(cluster, lake, hosts, "2", cut, tmp_path)
