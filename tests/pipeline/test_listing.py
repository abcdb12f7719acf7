"""One listing for the job, the lake and the report: metadata names skipped, the job's own output
never taken for input."""
import shutil

import pyarrow.parquet as pq
import pytest

from effdet_batch.errors import InputError
from effdet_batch.listing import is_metadata, list_files
from effdet_batch.pipeline.sources import resolve_inputs
from effdet_batch.relabel import list_lake
from jobs import infer as infer_cli
from tests.helpers import touch


def test_metadata_names_are_skipped_unless_asked_for(tmp_path):
    for name in ["a.jpg", "deep/b.jpg", ".DS_Store", "_SUCCESS", "_checkpoint/x.jpg", "deep/.hidden/c.jpg",
                 "out/_manifest-r1.json", "out/part-0.parquet"]:
        touch(tmp_path / name)
    found = list_files(str(tmp_path), "input").uris
    assert found == sorted(str(tmp_path / n) for n in ["a.jpg", "deep/b.jpg", "out/part-0.parquet"])
    assert list_files(str(tmp_path), "report input", pattern="_manifest-*.json").uris == [
        str(tmp_path / "out/_manifest-r1.json")]
    assert list_files(str(tmp_path), "input", exclude=(str(tmp_path / "out"),)).uris == [
        str(tmp_path / "a.jpg"), str(tmp_path / "deep/b.jpg")]
    assert is_metadata("x/_tmp/y") and is_metadata(".git") and not is_metadata("a_b/c.d")
    with pytest.raises(InputError, match="lake .* does not exist"):
        list_files(str(tmp_path / "missing"), "lake")


def test_inputs_and_the_lake_leave_the_output_out(tmp_path):
    lake = tmp_path / "lake"
    for name in ["x.jpg", "sub/y.png", "labels/part-0.parquet", "labels/more/z.jpg", "labelsets/w.jpg"]:
        touch(lake / name)
    shards = resolve_inputs([str(lake)], exclude=(str(lake / "labels"),))
    assert [s.uri for s in shards] == [str(lake / n) for n in ["labelsets/w.jpg", "sub/y.png", "x.jpg"]]
    listed = list_lake(str(lake), exclude=(str(lake / "labels"),))
    assert listed["uri"].to_pylist() == [str(lake / n) for n in ["labelsets/w.jpg", "sub/y.png", "x.jpg"]]
    assert listed["size"].to_pylist() == [1, 1, 1]


def test_a_rerun_with_the_output_inside_the_input_labels_only_new_images(ray_local, indoor85, tmp_path):
    lake = tmp_path / "lake"
    photos = sorted((indoor85 / "images").glob("*.jpg"))[:4]
    lake.mkdir()
    for photo in photos[:3]:
        shutil.copy(photo, lake)
    argv = ["--model", "d0", "--weights", "random", "--device", "cpu", "--batch-size", "2",
            "--input", str(lake), "--output", str(lake / "labels")]
    assert infer_cli.main(argv) == 0
    shutil.copy(photos[3], lake)  # a new photo arrives; the labels (Parquet, checkpoint, manifest) stay
    assert infer_cli.main(argv) == 0
    rows = pq.read_table(lake / "labels").to_pylist()
    assert sorted(r["image_id"] for r in rows) == sorted(str(lake / p.name) for p in photos)
    assert all(r["error"] is None for r in rows)
