"""Library calls leave the process as they found it: no environment variables, no matplotlib
backend. (The malloc setting of model/cpu.py is the entry points' and the job stages' to make.)"""
import os

import matplotlib

from effdet_batch.model import Detector
from effdet_batch.pipeline import PipelineConfig, run_inference
from effdet_batch.plotting import new_figure, png_bytes
from tests.helpers import REPO


def test_detector_run_and_plotting_change_no_environment_and_no_backend(tmp_path, monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_RETRY_MODE", raising=False)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "3")  # the user's own setting: kept, and kept after
    previous_backend = matplotlib.get_backend()
    matplotlib.use("svg")
    try:
        before = dict(os.environ)
        Detector("d0", checkpoint="random", device="cpu")
        cfg = PipelineConfig(model="d0", inputs=(str(REPO / "examples/images"),), output=str(tmp_path / "out"),
                             weights="random", s3_endpoint="http://127.0.0.1:9")
        summary = run_inference(cfg, dry_run=True)
        fig, ax = new_figure()
        ax.plot([0, 1], [1, 0])
        assert png_bytes(fig).startswith(b"\x89PNG")
        assert summary.dry_run and dict(os.environ) == before
        assert matplotlib.get_backend() == "svg"
    finally:
        matplotlib.use(previous_backend)
