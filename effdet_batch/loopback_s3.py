"""Object storage 20-100 ms away, on 127.0.0.1: moto's S3 server behind a TCP proxy that holds every
request for a fixed delay before passing it on, and counts how many requests wait for their
response at once. (The kernel here has no netem; this stands in for it.)

`DelayProxy` runs in the caller's process (the tests put it before their own moto server);
`LoopbackS3` starts both in a process of its own (`python -m effdet_batch.loopback_s3`), so that a
benchmark's driver does not share its interpreter with them, and reads back what they did.
moto is in the `test` extra.
"""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from typing import Any

__all__ = ["DelayProxy", "LoopbackS3", "S3_CREDENTIALS"]

_CHUNK = 1 << 16

# moto takes any credentials; botocore refuses to sign a request without some.
S3_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                  "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"}


class DelayProxy:
    """`with DelayProxy(upstream_port, delay=0.05) as proxy:` then talk to `proxy.url`.

    A request counts as in flight from its first byte reaching the proxy to the first byte of its
    response coming back; `peak_in_flight` is the most at any moment, and `requests` the total.
    """

    def __init__(self, upstream_port: int, delay: float = 0.05) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        self.delay = delay
        self.requests = self.in_flight = self.peak_in_flight = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> DelayProxy:
        self._spawn(self._accept)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._listener.close()

    def _spawn(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:  # closed by __exit__
                return
            upstream = socket.create_connection(self.upstream)
            waiting = threading.Event()  # this connection has a request without a response yet
            self._spawn(self._requests, client, upstream, waiting)
            self._spawn(self._responses, upstream, client, waiting)

    def _requests(self, client: socket.socket, upstream: socket.socket, waiting: threading.Event) -> None:
        with client, upstream:
            while data := _recv(client):
                if not waiting.is_set():  # the first bytes of a new request
                    waiting.set()
                    with self._lock:
                        self.requests += 1
                        self.in_flight += 1
                        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
                    self._stop.wait(self.delay)
                upstream.sendall(data)

    def _responses(self, upstream: socket.socket, client: socket.socket, waiting: threading.Event) -> None:
        while data := _recv(upstream):
            if waiting.is_set():
                waiting.clear()
                with self._lock:
                    self.in_flight -= 1
            try:
                client.sendall(data)
            except OSError:
                return


def _recv(sock: socket.socket) -> bytes:
    try:
        return sock.recv(_CHUNK)
    except OSError:
        return b""


class LoopbackS3:
    """`with LoopbackS3(delay=0.05) as s3:` a moto S3 server in a child process, `s3.endpoint`
    direct and `s3.url` through a `DelayProxy`; after the block `s3.stats` holds the proxy's
    `requests` and `peak_in_flight`. `s3.cpu_seconds()` is what serving has cost this machine's
    cores so far, which a real object store's would not."""

    def __init__(self, delay: float = 0.05) -> None:
        self.delay = delay
        self.stats: dict[str, Any] = {}

    def __enter__(self) -> LoopbackS3:
        self._child = subprocess.Popen([sys.executable, "-m", __name__, str(self.delay)], stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, text=True)
        started = self._child.stdout.readline()
        if not started:
            self._child.wait()
            raise RuntimeError(f"the loopback S3 server did not start (exit {self._child.returncode}): is "
                               "moto[server] installed? pip install 'effdet_batch[test]'")
        self.endpoint, self.url = json.loads(started)
        return self

    def cpu_seconds(self) -> float:
        """CPU seconds the child (moto and the proxy) has used: it says so itself when asked."""
        self._child.stdin.write("cpu\n")
        self._child.stdin.flush()
        return float(self._child.stdout.readline())

    def __exit__(self, *exc: object) -> None:
        out, _ = self._child.communicate("", timeout=60)  # stdin closed: the child reports and ends
        self.stats = json.loads(out) if out.strip() else {}


def _serve(delay: float) -> None:
    """The child of `LoopbackS3`: serve until stdin closes, answering each line read with the CPU
    seconds this process has used, then print what was served."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request otherwise

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    with DelayProxy(port, delay) as proxy:
        print(json.dumps([f"http://{host}:{port}", proxy.url]), flush=True)
        for _ in sys.stdin:
            print(time.process_time(), flush=True)
        stats = {"requests": proxy.requests, "peak_in_flight": proxy.peak_in_flight}
    server.stop()
    print(json.dumps(stats), flush=True)


if __name__ == "__main__":
    _serve(float(sys.argv[1]))
