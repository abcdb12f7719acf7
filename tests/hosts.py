"""Hosts of their own on one machine, for multi-node tests: each host is a network namespace
(`ip netns`) joined to a bridge by a veth pair, with an address from 198.18.0.0/24 (the range set
aside for such tests), so the traffic between Ray nodes, and to S3, crosses a real (virtual)
network that a test can cut. The test process stays in the root namespace, on the bridge.

Everything started here is stopped by process id: each host's processes are the namespace's own
(`ip netns pids`), SIGKILLed when the network is torn down, before its namespaces, links and
bridge are removed, also when a test fails. Needs root and iproute2; outside CI the tests skip
with the reason, under CI=true that is an error (scripts/setup.sh installs iproute2).
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SUBNET = "198.18.0"
ROOT_IP = f"{SUBNET}.254"  # the test process's address on the bridge
_TAG = f"eb{os.getpid() % 100000}"  # this session's interface and namespace names (≤ 15 characters)


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


def unavailable() -> str | None:
    """Why network namespaces cannot be made here, or None."""
    if shutil.which("ip") is None:
        return "iproute2's `ip` is not installed"
    if os.geteuid() != 0:
        return "making network namespaces needs root"
    probe = f"{_TAG}probe"
    made = _ip("netns", "add", probe, check=False)
    if made.returncode:
        return f"`ip netns add` fails here: {made.stderr.strip()}"
    _ip("netns", "del", probe, check=False)
    return None


def require_namespaces() -> None:
    """Skip the test with the reason when namespaces cannot be made, except under CI=true."""
    reason = unavailable()
    if reason and os.environ.get("CI") == "true":
        pytest.fail(f"multi-host tests must run in CI: {reason}")
    if reason:
        pytest.skip(reason)


@dataclass
class Host:
    """One host: namespace `ns`, address `ip`, and `link`, its veth's end on the bridge; the
    processes it starts also have a host name of their own, `name`."""

    name: str
    ns: str
    ip: str
    link: str

    def _on_host(self, argv: list[str]) -> list[str]:
        # Its own network and its own host name (a UTS namespace: what a lease records as "host").
        return ["ip", "netns", "exec", self.ns, "unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"',
                self.name, *argv]

    def start(self, argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
        """`argv` run on this host, its output in `log`."""
        with open(log, "ab") as out:
            return subprocess.Popen(self._on_host(argv), env=env, stdout=out, stderr=subprocess.STDOUT)

    def pids(self) -> list[int]:
        return [int(p) for p in _ip("netns", "pids", self.ns, check=False).stdout.split()]

    def kill(self) -> None:
        """SIGKILL every process of this host, as a machine that is switched off."""
        for _ in range(20):  # a dying parent may still start a child: until none is left
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.1)

    @contextlib.contextmanager
    def cut(self) -> Iterator[None]:
        """This host off the network (its link down) while the block runs."""
        _ip("link", "set", self.link, "down")
        try:
            yield
        finally:
            _ip("link", "set", self.link, "up")


@contextlib.contextmanager
def network(names: dict[str, int]) -> Iterator[dict[str, Host]]:
    """A bridge, and one host per entry of `names` (name -> last byte of its address)."""
    bridge = f"{_TAG}br"
    hosts: dict[str, Host] = {}
    try:
        _ip("link", "add", bridge, "type", "bridge")
        _ip("addr", "add", f"{ROOT_IP}/24", "dev", bridge)
        _ip("link", "set", bridge, "up")
        for i, (name, last) in enumerate(names.items()):
            host = Host(name, f"{_TAG}{name}", f"{SUBNET}.{last}", f"{_TAG}v{i}")
            _ip("netns", "add", host.ns)
            hosts[name] = host
            _ip("link", "add", host.link, "type", "veth", "peer", "name", f"{_TAG}p{i}")
            _ip("link", "set", f"{_TAG}p{i}", "netns", host.ns)
            _ip("link", "set", host.link, "master", bridge)
            _ip("link", "set", host.link, "up")
            for args in (("link", "set", "lo", "up"), ("link", "set", f"{_TAG}p{i}", "name", "eth0"),
                         ("addr", "add", f"{host.ip}/24", "dev", "eth0"), ("link", "set", "eth0", "up")):
                _ip("-n", host.ns, *args)
        yield hosts
    finally:
        for host in hosts.values():
            host.kill()
            _ip("link", "del", host.link, check=False)  # and its peer: a namespace goes lazily
            _ip("netns", "del", host.ns, check=False)
        _ip("link", "del", bridge, check=False)


def wait_for_http(url: str, timeout: float = 60, headers: dict[str, str] | None = None) -> None:
    """Until `url` answers (any HTTP status), or fail."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=2)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            assert time.monotonic() < deadline, f"{url} did not answer within {timeout} s"
            time.sleep(0.3)


def start_s3(host: Host, log: Path, port: int = 5000) -> str:
    """moto's S3 server on `host`; returns its endpoint URL."""
    host.start([str(Path(sys.executable).parent / "moto_server"), "-H", host.ip, "-p", str(port)],
               dict(os.environ), log)
    endpoint = f"http://{host.ip}:{port}"
    wait_for_http(endpoint)
    return endpoint
