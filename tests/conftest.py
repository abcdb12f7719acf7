"""Shared fixtures: the read-only `../shared` material and real photos.

Tests that need `../shared` skip with a reason when it is absent, except under CI=true, where its
absence is an error.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from effdet_batch.loopback_s3 import S3_CREDENTIALS

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("EFFDET_BATCH_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared() -> Path:
    if not SHARED.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{SHARED} is missing: CI must run with ../shared beside the checkout")
        pytest.skip(f"{SHARED} is absent (reference material lives beside the checkout)")
    return SHARED


@pytest.fixture(scope="session")
def parity(shared: Path) -> dict:
    root = shared / "reference" / "parity_d0"
    return {
        "checkpoint": root / "tf_efficientdet_d0_seed0.pth",
        "expected": json.loads((root / "expected_d0_seed0.json").read_text()),
        "head_outputs": root / "head_outputs_d0_seed0.npz",
    }


@pytest.fixture(scope="session")
def indoor85(shared: Path) -> Path:
    return shared / "data" / "indoor85"


def read_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


@pytest.fixture(scope="session")
def photos(indoor85: Path) -> list[np.ndarray]:
    """Four real photos (640x480)."""
    return [read_rgb(p) for p in sorted((indoor85 / "images").glob("*.jpg"))[:4]]


@pytest.fixture(scope="session")
def s3_server():
    """A real S3 HTTP API (moto's server mode) on 127.0.0.1; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="module")
def s3_env(s3_server):
    """This module's processes (and the Ray workers they start) talk to the loopback S3.

    fsspec hands out a cached S3 filesystem by its arguments alone, and each holds the endpoint and
    credentials of the environment it was made in: one an earlier module made without credentials
    would refuse this module's reads. So the cache is emptied as the environment changes."""
    from effdet_batch.pipeline.run import forget_s3_clients as forget

    with pytest.MonkeyPatch.context() as mp:
        for key, value in {**S3_CREDENTIALS, "AWS_ENDPOINT_URL": s3_server}.items():
            mp.setenv(key, value)
        forget()
        yield s3_server
    forget()


@pytest.fixture(scope="module")
def ray_local():
    """A real local Ray for this module (2 CPUs, as on CI)."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR")
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium driven by Playwright, for this module (tests/browser.py)."""
    from tests.browser import chromium

    with chromium() as context:
        yield context
