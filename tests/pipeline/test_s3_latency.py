"""Object storage 50 ms away: moto's S3 server behind a delaying proxy on 127.0.0.1. The job's GETs
overlap, and an object that vanishes between listing and reading is one error row."""
import pyarrow.dataset as pds
import pytest
import ray

from effdet_batch.model import Detector
from effdet_batch.pipeline import PipelineConfig, run
from effdet_batch.pipeline.decode import decode_image
from tests.conftest import S3_CREDENTIALS
from effdet_batch.loopback_s3 import DelayProxy
from tests.helpers import assert_same_detections

COUNT = 12


@pytest.fixture(scope="module")
def slow_s3(s3_server):
    """Credentials and an endpoint through the proxy, set before Ray starts (its workers inherit them)."""
    port = int(s3_server.rsplit(":", 1)[1])
    with DelayProxy(port, delay=0.05) as proxy, pytest.MonkeyPatch.context() as mp:
        for key, value in {**S3_CREDENTIALS, "AWS_ENDPOINT_URL": proxy.url}.items():
            mp.setenv(key, value)
        ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR")
        try:
            yield proxy
        finally:
            ray.shutdown()


def test_reads_overlap_and_a_vanished_object_is_one_error_row(slow_s3, indoor85, monkeypatch):
    import s3fs

    fs = s3fs.S3FileSystem(endpoint_url=slow_s3.url)
    fs.mkdir("slowlake")
    fs.mkdir("slowlabels")
    photos = {f"slowlake/img-{i:02d}.jpg": p.read_bytes()
              for i, p in enumerate(sorted((indoor85 / "images").glob("*.jpg"))[:COUNT])}
    for key, data in photos.items():
        fs.pipe(key, data)
    gone = "slowlake/img-05.jpg"

    listed = run.resolve_inputs

    def list_then_delete(*args, **kwargs):  # the object vanishes after the driver listed it
        shards = listed(*args, **kwargs)
        fs.rm(gone)
        return shards

    monkeypatch.setattr(run, "resolve_inputs", list_then_delete)
    cfg = PipelineConfig(model="d0", inputs=("s3://slowlake",), output="s3://slowlabels/d0", weights="random",
                         device="cpu", batch_size=COUNT, run_id="slow")
    requests_before = slow_s3.requests
    summary = run.run_inference(cfg)

    assert (summary.images_total, summary.images_failed) == (COUNT, 1)
    rows = {r["image_id"]: r for r in pds.dataset("slowlabels/d0", filesystem=fs, format="parquet").to_table()
            .to_pylist()}
    assert set(rows) == {f"s3://{key}" for key in photos}
    assert rows[f"s3://{gone}"]["error"].startswith(f"cannot read s3://{gone}: ")
    detector = Detector("d0", checkpoint="random", device="cpu")
    ok = [key for key in photos if key != gone]
    expected = detector.predict([decode_image(photos[key]) for key in ok])
    for key, want in zip(ok, expected):
        row = rows[f"s3://{key}"]
        assert row["error"] is None
        assert_same_detections({"boxes": row["boxes"], "scores": row["scores"], "classes": row["category_ids"]}, want)
    # The GETs of a batch's images wait on the proxy together, not one round trip after another.
    assert slow_s3.requests - requests_before >= COUNT and slow_s3.peak_in_flight >= 4
