"""A TCP proxy on 127.0.0.1 that holds every request for a fixed delay before passing it on, as an
object store 20-100 ms away does, and counts how many requests wait for their response at once.
(The kernel here has no netem; this stands in for it.)"""
from __future__ import annotations

import socket
import threading

__all__ = ["DelayProxy"]

_CHUNK = 1 << 16


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
