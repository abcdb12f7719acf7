"""What the driver-side benchmarks measure with: a process's RSS and peak RSS, a measurement in a
fresh process of the calling script, a moto S3 server on 127.0.0.1, and the record written out."""
from __future__ import annotations

import contextlib
import json
import os
import resource
import subprocess
import sys
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any


def rss() -> int:
    """Bytes resident now."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_rss() -> int:
    """Bytes resident at this process's peak (`ru_maxrss`)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def fresh_process(script: str, args: list, env: dict[str, str] | None = None) -> dict[str, Any]:
    """`script --child ARGS` run in a new process (its peak RSS its own); returns the JSON of its
    last stdout line."""
    run = subprocess.run([sys.executable, script, "--child", json.dumps(args)], capture_output=True, text=True,
                         env={**os.environ, **(env or {})}, check=False)
    if run.returncode:
        raise RuntimeError(f"measurement {args} failed: {run.stderr.strip()[-2000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


@contextlib.contextmanager
def moto_s3(bucket: str, keys: Iterable[str]) -> Iterator[dict[str, str]]:
    """A moto S3 server (server mode, in this process) holding `bucket` with a 1-byte object at
    each of `keys`; yields the environment that points a child's clients at it."""
    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        env = {"AWS_ENDPOINT_URL": f"http://{host}:{port}", "AWS_ACCESS_KEY_ID": "bench",
               "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}
        client = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], aws_access_key_id="bench",
                              aws_secret_access_key="bench", region_name="us-east-1")
        client.create_bucket(Bucket=bucket)
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda key: client.put_object(Bucket=bucket, Key=key, Body=b"x"), keys))
        yield env
    finally:
        server.stop()


def write_record(record: dict[str, Any], out: Path | None) -> None:
    """The record to `out` (when given) and as the last stdout line."""
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(record, indent=1) + "\n")
    print(json.dumps(record), flush=True)
