"""Real Ray clusters for tests, with Ray's token authentication on (a fresh token per cluster, in
the environment: ~/.ray/auth_token is neither read nor written):
- `ray_cluster`: one node on 127.0.0.1, a `ray start --block` process with fixed ports outside
  Ray's default worker-port range (10002-19999), in a process group of its own: only what it
  started is stopped.
- `ray_on_hosts`: a head and worker nodes that are hosts of their own (tests/hosts.py), with the
  node-death settings of cluster/.
"""
from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import S3_CREDENTIALS
from tests.helpers import REPO
from tests.hosts import Host

BIN = Path(sys.executable).parent
GCS_PORT, DASHBOARD_PORT, CLIENT_PORT = 26379, 28265, 20001
DASHBOARD = f"http://127.0.0.1:{DASHBOARD_PORT}"
_NODE_PORTS = ("node-manager-port", "object-manager-port", "dashboard-agent-listen-port",
               "dashboard-agent-grpc-port", "metrics-export-port", "runtime-env-agent-port")


def _ports(first: int) -> list[str]:
    return [f"--{name}={first + i}" for i, name in enumerate(_NODE_PORTS)]


def cluster_env() -> dict[str, str]:
    """The environment of the nodes and of `ray job submit`: token authentication on, with this
    cluster's own token (Ray reads RAY_AUTH_TOKEN before any token file)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "AWS_"))}
    env.update(S3_CREDENTIALS, PATH=f"{BIN}{os.pathsep}{env['PATH']}", RAY_DATA_DISABLE_PROGRESS_BARS="1",
               RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32))
    return env


def _wait_for_dashboard(head: subprocess.Popen, token: str, dashboard: str = DASHBOARD, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    version = urllib.request.Request(f"{dashboard}/api/version", headers={"Authorization": f"Bearer {token}"})
    while time.monotonic() < deadline:
        assert head.poll() is None, "ray start --head exited"
        try:
            with urllib.request.urlopen(version, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise AssertionError("the Ray dashboard did not come up")


def _stop(head: subprocess.Popen) -> None:
    """SIGTERM to `ray start --block`, which stops what it started; what is left of its process
    group after a grace of 5 s (Ray's own shutdown waits far longer) is SIGKILLed."""
    head.send_signal(signal.SIGTERM)
    try:
        head.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(head.pid, signal.SIGKILL)
    head.wait()


def _bearer(env: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {env['RAY_AUTH_TOKEN']}"}


def state_api(env: dict[str, str], dashboard: str = DASHBOARD):
    """Ray's state API on the cluster of `env`, sending its token (this process keeps Ray's
    authentication settings as they are)."""
    from ray.util.state import StateApiClient

    return StateApiClient(address=dashboard, headers={"Content-Type": "application/json", **_bearer(env)})


def jobs_api(env: dict[str, str], dashboard: str):
    """Ray's job submission client on the cluster of `env`, sending its token."""
    from ray.job_submission import JobSubmissionClient

    return JobSubmissionClient(dashboard, headers=_bearer(env))


def alive_nodes(env: dict[str, str], dashboard: str = DASHBOARD) -> list:
    from ray.util.state.common import ListApiOptions, StateResource

    nodes = state_api(env, dashboard).list(StateResource.NODES, options=ListApiOptions(), raise_on_missing_output=True)
    return [n for n in nodes if n.state == "ALIVE"]


@contextlib.contextmanager
def ray_cluster(cpus: int = 2) -> Iterator[dict[str, str]]:
    """A one-node cluster (dashboard on DASHBOARD); yields the environment to submit jobs with.
    Clusters of several nodes are hosts of their own: `ray_on_hosts`."""
    env = cluster_env()
    temp_dir = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    head = subprocess.Popen(
        [str(BIN / "ray"), "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={GCS_PORT}",
         "--include-dashboard=true", "--dashboard-host=127.0.0.1", f"--dashboard-port={DASHBOARD_PORT}",
         f"--ray-client-server-port={CLIENT_PORT}", f"--num-cpus={cpus}", "--num-gpus=0", *_ports(26380),
         f"--temp-dir={temp_dir}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        _wait_for_dashboard(head, env["RAY_AUTH_TOKEN"])
        yield env
    finally:
        _stop(head)
        shutil.rmtree(temp_dir, ignore_errors=True)


def node_death_settings() -> dict[str, str]:
    """How fast the cluster declares a silent node dead: the head's GCS health-check settings, as
    cluster/kuberay/raycluster.yaml gives them to its head (the launcher config repeats them)."""
    import yaml

    spec = yaml.safe_load((REPO / "cluster" / "kuberay" / "raycluster.yaml").read_text())["spec"]
    (head,) = spec["headGroupSpec"]["template"]["spec"]["containers"]
    return {e["name"]: e["value"] for e in head.get("env", []) if e["name"].startswith("RAY_health_check")}


@dataclass
class HostCluster:
    """A Ray cluster whose nodes are hosts of their own (tests/hosts.py): `env` submits jobs to
    its `dashboard`; `join` adds a worker node."""

    env: dict[str, str]
    dashboard: str
    head: Host
    logs: Path
    hosts: list[Host] = field(default_factory=list)
    temp_dirs: dict[str, str] = field(default_factory=dict)  # host name -> its Ray temp dir

    def temp_dir(self, host: Host) -> str:
        """`host`'s own Ray temp dir: hosts share this machine's file system, and a node unpacking
        a job's working dir where another node's workers run in it would pull it from under them.
        Short: Ray's socket paths must fit 107 bytes."""
        self.temp_dirs[host.name] = tempfile.mkdtemp(prefix=f"ray{host.name}", dir="/tmp")
        return self.temp_dirs[host.name]

    def join(self, worker: Host, cpus: int = 2) -> None:
        """A worker node of `cpus` CPUs on `worker`, once Ray counts it alive (its raylet has 30 s
        to register: join one at a time on a busy machine)."""
        self.hosts.append(worker)
        node = worker.start([str(BIN / "ray"), "start", "--block", f"--address={self.head.ip}:6379",
                             f"--node-ip-address={worker.ip}", f"--num-cpus={cpus}", "--num-gpus=0",
                             f"--temp-dir={self.temp_dir(worker)}"], self.env, self.logs / f"{worker.name}.log")
        deadline = time.monotonic() + 120
        while worker.ip not in {n.node_ip for n in alive_nodes(self.env, self.dashboard)}:
            assert node.poll() is None and time.monotonic() < deadline, f"{worker.name} did not join"
            time.sleep(0.5)


@contextlib.contextmanager
def ray_on_hosts(head: Host, logs: Path) -> Iterator[HostCluster]:
    """A Ray head on `head`, with token authentication on and the node-death settings of
    cluster/; like the KubeRay head it runs no work (no CPUs), only the job drivers. Each
    namespace has ports of its own: Ray's defaults. Every host of the cluster is killed at the end."""
    env = {**cluster_env(), **node_death_settings()}
    cluster = HostCluster(env, f"http://{head.ip}:8265", head, logs, [head])
    try:
        node = head.start([str(BIN / "ray"), "start", "--head", "--block", f"--node-ip-address={head.ip}",
                           "--port=6379", "--include-dashboard=true", f"--dashboard-host={head.ip}", "--num-cpus=0",
                           "--num-gpus=0", f"--temp-dir={cluster.temp_dir(head)}"], env, logs / f"{head.name}.log")
        _wait_for_dashboard(node, env["RAY_AUTH_TOKEN"], cluster.dashboard)
        yield cluster
    finally:
        for host in cluster.hosts:
            host.kill()
        for name, temp_dir in cluster.temp_dirs.items():  # the logs, for the failure's reader
            shutil.copytree(temp_dir, logs / f"ray-{name}", ignore=shutil.ignore_patterns("sockets", "runtime_resources"),
                            dirs_exist_ok=True, ignore_dangling_symlinks=True)
            shutil.rmtree(temp_dir, ignore_errors=True)
