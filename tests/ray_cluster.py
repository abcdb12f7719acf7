"""Real Ray nodes on 127.0.0.1 for tests: `ray start --block` processes with fixed ports outside
Ray's default worker-port range (10002-19999), with Ray's token authentication on (a fresh token
per cluster, in the environment: ~/.ray/auth_token is neither read nor written); only the
processes started here are stopped (SIGTERM to `ray start --block` stops the Ray processes it
started)."""
from __future__ import annotations

import contextlib
import json
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
from pathlib import Path

from tests.conftest import S3_CREDENTIALS

BIN = Path(sys.executable).parent
GCS_PORT, DASHBOARD_PORT, CLIENT_PORT = 26379, 28265, 20001
DASHBOARD = f"http://127.0.0.1:{DASHBOARD_PORT}"
_NODE_PORTS = ("node-manager-port", "object-manager-port", "dashboard-agent-listen-port",
               "dashboard-agent-grpc-port", "metrics-export-port", "runtime-env-agent-port")


def _ports(first: int) -> list[str]:
    return [f"--{name}={first + i}" for i, name in enumerate(_NODE_PORTS)]


def cluster_env(multi_node: bool) -> dict[str, str]:
    """The environment of the nodes and of `ray job submit`: token authentication on, with this
    cluster's own token (Ray reads RAY_AUTH_TOKEN before any token file).

    A single-node cluster keeps every Ray address on 127.0.0.1. A second node can only join a
    multi-node cluster, where Ray replaces 127.0.0.1 with the host's own address for the traffic
    between its nodes (it stays on this machine); the tests still reach Ray and S3 on 127.0.0.1.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "AWS_"))}
    env.update(S3_CREDENTIALS, PATH=f"{BIN}{os.pathsep}{env['PATH']}", RAY_DATA_DISABLE_PROGRESS_BARS="1",
               RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="1" if multi_node else "0",
               RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32))
    return env


def _wait_for_dashboard(head: subprocess.Popen, token: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    version = urllib.request.Request(f"{DASHBOARD}/api/version", headers={"Authorization": f"Bearer {token}"})
    while time.monotonic() < deadline:
        assert head.poll() is None, "ray start --head exited"
        try:
            with urllib.request.urlopen(version, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise AssertionError("the Ray dashboard did not come up")


def _stop(node: subprocess.Popen) -> None:
    node.send_signal(signal.SIGTERM)
    try:
        node.wait(timeout=60)
    except subprocess.TimeoutExpired:
        node.kill()
        node.wait()


def state_api(env: dict[str, str]):
    """Ray's state API on the cluster of `env`, sending its token (this process keeps Ray's
    authentication settings as they are)."""
    from ray.util.state import StateApiClient

    return StateApiClient(address=DASHBOARD, headers={"Content-Type": "application/json",
                                                      "Authorization": f"Bearer {env['RAY_AUTH_TOKEN']}"})


def alive_nodes(env: dict[str, str]) -> list:
    from ray.util.state.common import ListApiOptions, StateResource

    nodes = state_api(env).list(StateResource.NODES, options=ListApiOptions(), raise_on_missing_output=True)
    return [n for n in nodes if n.state == "ALIVE"]


@contextlib.contextmanager
def ray_cluster(head_cpus: int = 2, workers: tuple[dict[str, float], ...] = ()) -> Iterator[dict[str, str]]:
    """A head node (dashboard on DASHBOARD) and one worker node per entry of `workers` (its custom
    resources; 1 CPU each); yields the environment to submit jobs with."""
    env = cluster_env(multi_node=bool(workers))
    temp_dir = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    nodes = [subprocess.Popen(
        [str(BIN / "ray"), "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={GCS_PORT}",
         "--include-dashboard=true", "--dashboard-host=127.0.0.1", f"--dashboard-port={DASHBOARD_PORT}",
         f"--ray-client-server-port={CLIENT_PORT}", f"--num-cpus={head_cpus}", "--num-gpus=0", *_ports(26380),
         f"--temp-dir={temp_dir}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )]
    try:
        _wait_for_dashboard(nodes[0], env["RAY_AUTH_TOKEN"])
        for i, resources in enumerate(workers):
            nodes.append(subprocess.Popen(
                [str(BIN / "ray"), "start", "--block", f"--address=127.0.0.1:{GCS_PORT}", "--num-cpus=1", "--num-gpus=0",
                 f"--resources={json.dumps(resources)}", *_ports(26390 + 10 * i)],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            ))
        deadline = time.monotonic() + 120
        while len(alive_nodes(env)) < len(nodes):
            assert time.monotonic() < deadline and all(n.poll() is None for n in nodes), "a worker node did not join"
            time.sleep(0.5)
        yield env
    finally:
        for node in reversed(nodes):
            _stop(node)
        shutil.rmtree(temp_dir, ignore_errors=True)
