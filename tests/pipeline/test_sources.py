"""The work list: the inputs as Arrow columns on the driver, de-duplicated in input order, and
read tasks that each carry their own rows."""
import pyarrow as pa
import pytest
from ray import cloudpickle

from effdet_batch.pipeline.datasource import FILES_PER_READ_TASK, ShardDatasource
from effdet_batch.pipeline.readers import ReadOptions
from effdet_batch.pipeline.sources import WORK_LIST_SCHEMA, _kind, kinds_of, resolve_inputs
from tests.helpers import tar_bytes, touch


def test_the_work_list_is_arrow_columns_in_input_order_each_shard_once(tmp_path):
    lake = tmp_path / "lake"
    for name in ["b.jpg", "a.png", "sub/c.JPEG", "notes.txt", "labels/x.jpg", "_checkpoint/y.jpg"]:
        touch(lake / name)
    touch(lake / "s.tar", tar_bytes({"0.jpg": b"x" * 100}))
    work = resolve_inputs([str(lake / "sub"), str(lake), str(lake / "a.png")], exclude=(str(lake / "labels"),))
    assert isinstance(work.table, pa.Table) and work.table.schema == WORK_LIST_SCHEMA
    # The first input's image first, then the second's (sorted) without it, a.png named again once.
    assert work.table.to_pylist() == [
        {"kind": "files", "uri": str(lake / "sub/c.JPEG"), "size": 1},
        {"kind": "files", "uri": str(lake / "a.png"), "size": 1},
        {"kind": "files", "uri": str(lake / "b.jpg"), "size": 1},
        {"kind": "tar", "uri": str(lake / "s.tar"), "size": (lake / "s.tar").stat().st_size},
    ]
    assert work.counts() == {"files": 3, "tar": 1} and [s.uri for s in work] == work.table["uri"].to_pylist()


@pytest.mark.parametrize("kinds", [("files", "tar", "parquet"), ("files", "tar", "parquet", "manifest"), ("tar",)])
def test_kinds_column_wise_are_the_kinds_name_by_name(kinds):
    names = ["s3://l/x.JPG", "a/.jpg", "b.tar.gz", "c.TGZ", "d.parquet", "e.pq", "f.", "g", "h.jpeg.txt",
             "dir.jpg/i", "j..png", "k.tar", "/x/y.z/m.csv", "n.heic"]
    assert kinds_of(pa.array(names), kinds).to_pylist() == [_kind(n, kinds) for n in names]


def test_read_tasks_carry_their_own_rows_and_the_limit(tmp_path):
    count = 4 * FILES_PER_READ_TASK
    for i in range(count):
        touch(tmp_path / f"d{i % 7}" / f"{i:05d}.jpg")
    work = resolve_inputs([str(tmp_path)])
    tasks = ShardDatasource(work, ReadOptions()).get_read_tasks(parallelism=8)
    assert len(tasks) == 4 and all(t.metadata.input_files is None for t in tasks)  # no string per image
    # A task pickles with its own quarter of the rows, not the whole list's buffers.
    assert all(len(cloudpickle.dumps(t)) < 0.4 * len(cloudpickle.dumps(work.table)) for t in tasks)
    ids = [i for t in tasks for block in t() for i in block["image_id"].to_pylist()]
    assert ids == work.table["uri"].to_pylist()
    # `--limit` reaches the read tasks: Ray Data pushes it down as each task's row limit.
    limited = ShardDatasource(work, ReadOptions()).get_read_tasks(parallelism=8, per_task_row_limit=5)
    assert [sum(b.num_rows for b in t()) for t in limited] == [5] * 4
