"""One writer per output: a run's lease on its output, `<output>/_lease.json`.

A run takes the lease before it writes and renews it from a daemon thread while it runs; another
run on the same output is refused while the lease is live, or waits for it (`wait=True`). A lease
whose holder is gone is taken over, with a warning: at once when it was taken on this host by a
process that no longer exists (a crash, then the rerun), else once it has expired (its holder
stopped renewing it: another host's crash).

Creating, renewing, taking over and releasing are compare-and-swap writes, so two starting runs
cannot both win: on S3, conditional requests (PUT with `If-None-Match: *` to create, `If-Match:
<ETag>` to renew or take over, DELETE with `If-Match`); on a filesystem, an exclusive create (a
complete file linked into place, which fails when one is there) and an atomic replace made while
holding an flock of the file being replaced.

Expiry is judged on the reader's clock against the holder's: hosts' clocks must agree to well
within the expiry (NTP does).
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import socket
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any, Protocol

from ..errors import OutputError, RunError, first_line
from ..uri import is_remote, join, redact

__all__ = ["LEASE_NAME", "DEFAULT_EXPIRY_S", "Lease", "OutputLease"]

log = logging.getLogger(__name__)

LEASE_NAME = "_lease.json"
DEFAULT_EXPIRY_S = 60.0
# A lease is renewed four times per expiry (and at least every 15 s), so one or two late or
# failed renewals (a storage hiccup, a busy driver) never let it lapse.
MAX_HEARTBEAT_S = 15.0
# How often a waiting run looks at the lease again, at most.
MAX_POLL_S = 5.0


@dataclass(frozen=True)
class Lease:
    """What `_lease.json` holds; times are Unix seconds (UTC in the ISO forms shown to people)."""

    run_id: str
    host: str
    pid: int
    started: float
    heartbeat: float
    expires: float

    def to_bytes(self) -> bytes:
        return json.dumps({**asdict(self), "expires_utc": _iso(self.expires)}, indent=1).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Lease:
        raw = json.loads(data)
        return cls(run_id=str(raw["run_id"]), host=str(raw["host"]), pid=int(raw["pid"]),
                   started=float(raw["started"]), heartbeat=float(raw["heartbeat"]), expires=float(raw["expires"]))

    def describe(self) -> str:
        return (f"run {self.run_id} (host {self.host}, pid {self.pid}, started {_iso(self.started)}, "
                f"last heartbeat {_iso(self.heartbeat)})")


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="seconds")


class _Store(Protocol):
    """Compare-and-swap access to one lease object; a version names one write of it."""

    def read(self) -> tuple[bytes, str] | None: ...          # (content, version), None when absent
    def create(self, data: bytes) -> str | None: ...         # the new version, None when one exists
    def replace(self, data: bytes, version: str) -> str | None: ...  # None when `version` is not current
    def delete(self, version: str) -> bool: ...              # False when `version` is not current


class _FileStore:
    """The lease as a local file. A replace or delete locks the current file (flock) and checks that
    it is still the one at the path and still holds `version`, then swaps it: a rival waiting on the
    old file's lock sees it replaced and looks again."""

    def __init__(self, path: str) -> None:
        self.path = path

    @staticmethod
    def _version(data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()  # every write differs (its heartbeat), so its hash names it

    def read(self) -> tuple[bytes, str] | None:
        try:
            with open(self.path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return None
        return data, self._version(data)

    def _staged(self, data: bytes) -> str:
        fd, tmp = tempfile.mkstemp(prefix=".lease-", dir=os.path.dirname(self.path))
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        return tmp

    def create(self, data: bytes) -> str | None:
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        tmp = self._staged(data)
        try:
            os.link(tmp, self.path)  # exclusive, like O_EXCL, and never seen half-written
        except FileExistsError:
            return None
        finally:
            os.unlink(tmp)
        return self._version(data)

    def _swap(self, version: str, data: bytes | None) -> str | None:
        """Under the current file's lock: replace it with `data` (delete it for None) if it holds
        `version`. Returns the new version ("" after a delete), None if it did not hold it."""
        while True:
            try:
                fd = os.open(self.path, os.O_RDONLY)
            except FileNotFoundError:
                return None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                try:
                    current = os.stat(self.path).st_ino == os.fstat(fd).st_ino
                except FileNotFoundError:
                    current = False
                if not current:  # replaced or removed while we waited for its lock: look again
                    continue
                with os.fdopen(os.dup(fd), "rb") as f:
                    if self._version(f.read()) != version:
                        return None
                if data is None:
                    os.unlink(self.path)
                    return ""
                os.replace(self._staged(data), self.path)
                return self._version(data)
            finally:
                os.close(fd)  # releases the lock

    def replace(self, data: bytes, version: str) -> str | None:
        return self._swap(version, data)

    def delete(self, version: str) -> bool:
        return self._swap(version, None) is not None


class _S3Store:
    """The lease as an S3 object, written with conditional requests (S3 has had them since 2024;
    moto's server enforces them). s3fs's own client sends them, with its credentials and endpoint."""

    _LOST = ("PreconditionFailed", "ConditionalRequestConflict")  # 412; 409: a concurrent conditional write

    def __init__(self, fs: Any, path: str) -> None:
        self.fs = fs
        self.bucket, self.key = path.split("/", 1)

    def read(self) -> tuple[bytes, str] | None:
        from fsspec.asyn import sync

        async def get() -> tuple[bytes, str]:  # content and ETag from one response
            response = await self.fs._call_s3("get_object", Bucket=self.bucket, Key=self.key)
            async with response["Body"] as body:
                return await body.read(), response["ETag"]

        try:
            return sync(self.fs.loop, get)
        except FileNotFoundError:
            return None

    def _conditional(self, method: str, **kwargs: Any) -> dict | None:
        try:
            return self.fs.call_s3(method, Bucket=self.bucket, Key=self.key, **kwargs)
        except OSError as exc:  # s3fs turns the ClientError into an OSError and keeps it as the cause
            code = getattr(exc.__cause__, "response", {}).get("Error", {}).get("Code")
            if code in self._LOST:
                return None
            raise

    def create(self, data: bytes) -> str | None:
        done = self._conditional("put_object", Body=data, IfNoneMatch="*", ContentType="application/json")
        return done and done["ETag"]

    def replace(self, data: bytes, version: str) -> str | None:
        done = self._conditional("put_object", Body=data, IfMatch=version, ContentType="application/json")
        return done and done["ETag"]

    def delete(self, version: str) -> bool:
        return self._conditional("delete_object", IfMatch=version) is not None


def _store(output: str) -> _Store | None:
    """The lease's store for `output`, None for storage without compare-and-swap writes here."""
    import fsspec

    fs, path = fsspec.core.url_to_fs(join(output, LEASE_NAME))
    protocols = {fs.protocol} if isinstance(fs.protocol, str) else set(fs.protocol)
    if not is_remote(output) or "file" in protocols:
        return _FileStore(path)
    if "s3" in protocols:
        return _S3Store(fs, path)
    return None


def _process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # another user's process: it exists
        return False
    return False


class OutputLease:
    """The lease of run `run_id` on `output`, as a context manager: taken on entry (or
    `OutputError` while another run holds it, unless `wait`), renewed every `expiry_s / 4`
    seconds (at most 15) on a daemon thread, and released on exit, also when the block fails.

        with OutputLease("s3://labels/d5", run_id, wait=True):
            ...  # the only writer of s3://labels/d5

    A lease lost while running (this process stopped renewing it for longer than its expiry, and
    another run took it over) is logged at once and raised as `RunError` at the end of the block."""

    def __init__(self, output: str, run_id: str, *, expiry_s: float = DEFAULT_EXPIRY_S, wait: bool = False) -> None:
        if not expiry_s > 0:
            raise ValueError(f"lease expiry must be positive, got {expiry_s}")
        self.output, self.run_id, self.expiry_s, self.wait = output, run_id, expiry_s, wait
        self.heartbeat_s = min(MAX_HEARTBEAT_S, expiry_s / 4)
        self.lost_to: str | None = None
        self._store = _store(output)
        self._version = ""
        self._started = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _record(self) -> bytes:
        now = time.time()
        return Lease(run_id=self.run_id, host=socket.gethostname(), pid=os.getpid(), started=self._started,
                     heartbeat=now, expires=now + self.expiry_s).to_bytes()

    @staticmethod
    def _why_free(data: bytes) -> str | None:
        """Why a lease held by someone else may be taken over now; None while it is live."""
        try:
            held = Lease.from_bytes(data)
        except (ValueError, KeyError, TypeError) as exc:
            return f"it cannot be read ({first_line(exc)})"
        if held.host == socket.gethostname() and _process_gone(held.pid):
            return f"{held.describe()} is gone: no process {held.pid} on this host"
        if time.time() > held.expires:
            return f"{held.describe()} expired at {_iso(held.expires)}"
        return None

    def acquire(self) -> None:
        """Take the lease: create it, or take over one that is free; refuse or wait while it is live."""
        try:
            self._acquire()
        except OSError as exc:
            raise OutputError(f"cannot take the lease on output {redact(self.output)}: {first_line(exc)}") from None

    def _acquire(self) -> None:
        if self._store is None:
            log.warning("output %s: no lease taken (only S3 and filesystems have the conditional writes it "
                        "needs); make sure no other run writes to it", redact(self.output))
            return
        self._started, waiting = time.time(), False
        while True:
            found = self._store.read()
            if found is None:
                version = self._store.create(self._record())
            else:
                data, current = found
                why = self._why_free(data)
                if why is None:
                    held = Lease.from_bytes(data)
                    if not self.wait:
                        raise OutputError(
                            f"output {redact(self.output)} is being written by {held.describe()}: let it finish, "
                            "or rerun with --wait to start when it has (a crashed run's lease is taken over "
                            f"{self.expiry_s:g} s after its last heartbeat at the latest)")
                    if not waiting:
                        log.info("waiting for %s to release output %s", held.describe(), redact(self.output))
                        waiting = True
                    time.sleep(min(MAX_POLL_S, self.heartbeat_s))
                    continue
                version = self._store.replace(self._record(), current)
                if version is not None:
                    log.warning("took over the lease on output %s: %s", redact(self.output), why)
            if version is not None:
                self._version = version
                return
            # another run wrote the lease between our read and our write: look again

    def _renew(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            try:
                version = self._store.replace(self._record(), self._version)
            except Exception as exc:  # storage down: the next heartbeat tries again, the lease lasts meanwhile
                log.warning("could not renew the lease on output %s: %s", redact(self.output), first_line(exc))
                continue
            if version is None and self._still_mine():
                continue  # the write went through but its answer was lost: the retry then found its own ETag
            if version is None:
                self.lost_to = self._holder()
                log.error("run %s lost its lease on output %s to %s: another run is writing there too",
                          self.run_id, redact(self.output), self.lost_to)
                return
            self._version = version

    def _still_mine(self) -> bool:
        """True, with our version updated, when the lease holds this run's own latest renewal."""
        try:
            found = self._store.read()
            held = found and Lease.from_bytes(found[0])
        except Exception:  # unreadable or unreachable: not known to be ours
            return False
        if not held or (held.run_id, held.host, held.pid) != (self.run_id, socket.gethostname(), os.getpid()):
            return False
        self._version = found[1]
        return True

    def _holder(self) -> str:
        """Who holds the lease now, in words."""
        try:
            found = self._store.read()
            return Lease.from_bytes(found[0]).describe() if found else "nobody (it was removed)"
        except Exception as exc:  # it is still not ours: say what is known
            return f"another run (the lease cannot be read: {first_line(exc)})"

    def release(self) -> None:
        """Stop renewing and remove the lease if it is still ours."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
        if self._store is None or self.lost_to is not None or not self._version:
            return
        try:
            self._store.delete(self._version)
        except Exception as exc:  # it expires by itself
            log.warning("could not release the lease on output %s (it expires in %g s): %s", redact(self.output),
                        self.expiry_s, first_line(exc))
        self._version = ""

    def __enter__(self) -> OutputLease:
        self.acquire()
        if self._store is not None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._renew, name=f"lease-{self.run_id}", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        self.release()
        if self.lost_to is not None and exc_type is None:
            raise RunError(f"run {self.run_id} lost its lease on output {redact(self.output)} to {self.lost_to} "
                           "while running: both wrote there, so some images may have two rows")

