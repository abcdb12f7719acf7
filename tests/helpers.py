"""Assertions, test files and job subprocesses shared by tests."""
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def work_rows(data: list, ids: list[str] | None = None) -> dict[str, np.ndarray]:
    """A batch of work rows (readers.WORK_SCHEMA) as the stages get it: `data` the images' bytes
    (None: a file the stage reads itself, at its id), `ids` their ids and URIs (default `<i>.img`)."""
    ids = ids if ids is not None else [f"{i}.img" for i in range(len(data))]
    return {"image_id": np.array(ids, dtype=object), "source_uri": np.array(ids, dtype=object),
            "bytes": np.array(data, dtype=object), "error": np.array([None] * len(data), dtype=object)}


def assert_same_detections(a: dict, b: dict, count: int = 90) -> None:
    """a's top `count` detections each have their own counterpart in b, and b's in a: same class,
    box within 0.01 px, score within 1e-4. Batched convolutions round differently from single ones
    (~1e-6), which can swap near-tied scores between batch compositions; the detections are the same."""
    _each_has_a_counterpart(a, b, count, "a", "b")
    _each_has_a_counterpart(b, a, count, "b", "a")


def _each_has_a_counterpart(a: dict, b: dict, count: int, name_a: str, name_b: str) -> None:
    unused = list(range(len(b["scores"])))
    for i in range(min(count, len(a["scores"]))):
        hits = [j for j in unused if b["classes"][j] == a["classes"][i]
                and abs(b["scores"][j] - a["scores"][i]) < 1e-4
                and np.abs(np.asarray(b["boxes"][j]) - np.asarray(a["boxes"][i])).max() < 1e-2]
        assert hits, (f"{name_a}'s detection {i} (class {a['classes'][i]} at {a['boxes'][i]}) "
                      f"has no counterpart in {name_b}")
        unused.remove(hits[0])


def touch(path: Path, data: bytes = b"x") -> Path:
    """A file of `data` at `path`, its folders made."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def tar_bytes(members: dict[str, bytes]) -> bytes:
    """A tar archive (WebDataset layout when the names are key.ext) holding `members`."""
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def parquet_bytes(columns: dict[str, list], types: dict | None = None) -> bytes:
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    types = types or {}
    table = pa.table({k: pa.array(v, types.get(k)) for k, v in columns.items()})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def infer_command(*args: str) -> list[str]:
    """`python jobs/infer.py ARGS` with D0's seeded random weights on CPU."""
    return [sys.executable, str(REPO / "jobs" / "infer.py"), "--model", "d0", "--weights", "random",
            "--device", "cpu", *args]


def job_env(**extra: str) -> dict[str, str]:
    """The environment of a job subprocess that starts its own local Ray."""
    env = {**os.environ, "RAY_DATA_DISABLE_PROGRESS_BARS": "1", **extra}
    env.pop("RAY_ADDRESS", None)
    return env


def committed_checkpoints(fs, output: str) -> list[str]:
    """The checkpoint files a run has committed under `output` (on filesystem `fs`). Ray Data
    commits by moving `X.pending.parquet` to `X.parquet`; on S3 a move is a copy, then a delete,
    and while the pending file is there the checkpoint is not committed: a rerun removes both,
    with the data file, and labels those images again."""
    folder = f"{output.rstrip('/')}/_checkpoint"
    try:
        fs.invalidate_cache()
        names = set(fs.ls(folder, detail=False)) if fs.exists(folder) else set()
    except OSError:
        return []
    return sorted(n for n in names if n.endswith(".parquet") and not n.endswith(".pending.parquet")
                  and n.removesuffix(".parquet") + ".pending.parquet" not in names)


def photo_folder(indoor85: Path, folder: Path, count: int) -> Path:
    """`folder` holding `count` image files img000.jpg..., cycled from indoor85's photos."""
    folder.mkdir(parents=True)
    photos = sorted((indoor85 / "images").glob("*.jpg"))
    for i in range(count):
        shutil.copy(photos[i % len(photos)], folder / f"img{i:03d}.jpg")
    return folder


@contextlib.contextmanager
def job_process(command: list[str], env: dict[str, str], capture: bool = False,
                log: Path | None = None) -> Iterator[subprocess.Popen]:
    """A job in a process group of its own; whatever still runs of it (the driver and the local
    Ray it started) is SIGKILLed when the block ends. Its output is piped with `capture`, else
    written to `log` (both streams; a long run never blocks on a full pipe), else dropped."""
    file = open(log, "w") if log else None
    stream = file or (subprocess.PIPE if capture else subprocess.DEVNULL)
    job = subprocess.Popen(command, env=env, stdout=stream, stderr=subprocess.STDOUT if file else stream, text=True,
                           start_new_session=True)
    try:
        yield job
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
            job.wait()
        if file:
            file.close()


def wait_while_running(job: subprocess.Popen, done: Callable[[], bool], timeout: float = 240) -> None:
    """Poll `done` until it holds, the job ends, or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while job.poll() is None and not done() and time.monotonic() < deadline:
        time.sleep(0.1)
