"""The four input formats read from a real S3 HTTP API on 127.0.0.1 (moto server mode), Parquet
written back to it, read back and compared with `Detector.predict` on the same images."""
import json

import numpy as np
import pyarrow.dataset as pds
import pytest

from effdet_batch.model import Detector
from effdet_batch.pipeline import OUTPUT_SCHEMA
from effdet_batch.pipeline.decode import decode_image
from jobs import infer
from tests.helpers import assert_same_detections, parquet_bytes, tar_bytes


@pytest.fixture(scope="module")
def ray_s3(s3_env, ray_local):
    """Ray started after the S3 environment is set (its workers inherit it)."""
    return s3_env


@pytest.fixture(scope="module")
def lake(ray_s3, indoor85):
    """s3://lake holding eight photos, two in each format; returns (fs, {image_id: photo bytes})."""
    import s3fs

    fs = s3fs.S3FileSystem(endpoint_url=ray_s3)
    fs.mkdir("lake")
    fs.mkdir("labels")
    p = [path.read_bytes() for path in sorted((indoor85 / "images").glob("*.jpg"))[:8]]
    objects = {
        "lake/files/a.jpg": p[0],
        "lake/files/deep/B.JPG": p[1],
        "lake/files/README.md": b"skipped",
        "lake/tars/shard-000.tar": tar_bytes({"0001.jpg": p[2], "0001.cls": b"7", "0002.jpg": p[3]}),
        "lake/pq/part-0.parquet": parquet_bytes({"key": ["k0", "k1"], "image": [p[4], p[5]]}),
        "lake/loose/x.jpg": p[6],
        "lake/loose/y.jpg": p[7],
        "lake/lists/nightly.txt": b"s3://lake/loose/x.jpg\n../loose/y.jpg\n",
    }
    for key, data in objects.items():
        fs.pipe(key, data)
    expected = {
        "s3://lake/files/a.jpg": p[0],
        "s3://lake/files/deep/B.JPG": p[1],
        "s3://lake/tars/shard-000.tar#0001.jpg": p[2],
        "s3://lake/tars/shard-000.tar#0002.jpg": p[3],
        "s3://lake/pq/part-0.parquet#k0": p[4],
        "s3://lake/pq/part-0.parquet#k1": p[5],
        "s3://lake/loose/x.jpg": p[6],
        "s3://lake/loose/y.jpg": p[7],
    }
    return fs, expected


def test_four_formats_from_s3_to_parquet_on_s3(lake, capsys):
    fs, expected = lake
    code = infer.main([
        "--model", "d0", "--weights", "random", "--device", "cpu", "--batch-size", "3", "--run-id", "s3run",
        "--input", "s3://lake/files", "--input", "s3://lake/tars", "--input", "s3://lake/pq",
        "--input", "s3://lake/lists/nightly.txt", "--id-column", "key", "--output", "s3://labels/d0",
    ])
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["shards"] == {"files": 2, "tar": 1, "parquet": 1, "manifest": 1}
    assert (summary["images_total"], summary["images_ok"], summary["images_failed"]) == (8, 8, 0)
    assert json.loads(fs.cat("labels/d0/_manifest-s3run.json"))["images_ok"] == 8

    table = pds.dataset("labels/d0", filesystem=fs, format="parquet").to_table()
    assert [(f.name, f.type) for f in table.schema] == [(f.name, f.type) for f in OUTPUT_SCHEMA]
    rows = {r["image_id"]: r for r in table.to_pylist()}
    assert len(rows) == table.num_rows == 8 and set(rows) == set(expected)
    detector = Detector("d0", "random", device="cpu")
    images = [decode_image(data) for data in expected.values()]
    for image_id, image, want in zip(expected, images, detector.predict(images)):
        row = rows[image_id]
        assert row["error"] is None and row["source_uri"] == image_id.split("#")[0]
        assert (row["width"], row["height"]) == (image.shape[1], image.shape[0])
        got = {"boxes": np.array(row["boxes"]), "scores": row["scores"], "classes": row["category_ids"]}
        assert row["num_detections"] == len(want["scores"])
        assert_same_detections(got, want)


def test_unknown_buckets_fail_with_one_line_before_inference(lake, capsys):
    fs, _ = lake
    code = infer.main(["--model", "d0", "--weights", "random", "--input", "s3://no-such-lake/images",
                       "--output", "s3://labels/x"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and err[-1].startswith("error: input s3://no-such-lake/images")
    code = infer.main(["--model", "d0", "--weights", "random", "--input", "s3://lake/files",
                       "--output", "s3://no-such-labels/d0"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and err[-1].startswith("error: cannot write to output s3://no-such-labels/d0")
    assert not fs.exists("no-such-labels")  # the check does not create buckets
