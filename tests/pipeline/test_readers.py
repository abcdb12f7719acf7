"""Inputs without Ray: format resolution and the work rows of each shard format."""
import pyarrow as pa
import pytest

from effdet_batch.errors import ConfigError, InputError
from effdet_batch.pipeline.readers import WORK_SCHEMA, ReadOptions, read_shards
from effdet_batch.pipeline.sources import Shard, resolve_inputs
from tests.helpers import parquet_bytes, tar_bytes

JPEG = b"\xff\xd8\xff\xe0 not decoded here"


def _rows(shards, **options):
    tables = list(read_shards(shards, ReadOptions(**options)))
    assert all(t.schema.equals(WORK_SCHEMA) for t in tables)
    return pa.concat_tables(tables).to_pylist() if tables else []


def test_auto_format_classifies_a_prefix_and_named_files(tmp_path):
    (tmp_path / "lake" / "deep").mkdir(parents=True)
    (tmp_path / "lake" / "deep" / "A.JPEG").write_bytes(JPEG)
    (tmp_path / "lake" / "b.png").write_bytes(JPEG)
    (tmp_path / "lake" / "shard-0.tar").write_bytes(tar_bytes({}))
    (tmp_path / "lake" / "part-0.parquet").write_bytes(parquet_bytes({"image": [JPEG]}))
    (tmp_path / "lake" / "notes.txt").write_text("a stray text file under a prefix is not a manifest")
    (tmp_path / "list.txt").write_text("lake/b.png\n")
    shards = resolve_inputs([str(tmp_path / "lake"), str(tmp_path / "list.txt"), str(tmp_path / "lake" / "b.png")])
    assert [(s.kind, s.uri.rsplit("/", 1)[-1]) for s in shards] == [
        ("files", "b.png"), ("files", "A.JPEG"), ("parquet", "part-0.parquet"), ("tar", "shard-0.tar"),
        ("manifest", "list.txt"),
    ]  # b.png named twice is one shard
    assert [s.kind for s in resolve_inputs([str(tmp_path / "lake")], "tar")] == ["tar"]
    with pytest.raises(ConfigError, match="cannot tell the format"):
        resolve_inputs([str(_touch(tmp_path / "x.bin"))])
    with pytest.raises(InputError, match="holds no manifest inputs"):
        resolve_inputs([str(tmp_path / "lake" / "deep")], "manifest")
    with pytest.raises(InputError, match="does not exist"):
        resolve_inputs([str(tmp_path / "missing")])


def _touch(path):
    path.write_bytes(b"")
    return path


def test_tar_members_become_rows_and_a_truncated_member_an_error(tmp_path):
    shard = tmp_path / "s.tar"
    shard.write_bytes(tar_bytes({"a/0001.jpg": JPEG, "a/0001.cls": b"3", "a/0002.PNG": b"png", "../../etc/passwd": b"x"}))
    rows = _rows([Shard("tar", str(shard))], rows_per_block=1)
    assert [(r["image_id"], r["bytes"], r["error"]) for r in rows] == [
        (f"{shard}#a/0001.jpg", JPEG, None), (f"{shard}#a/0002.PNG", b"png", None),
    ]
    assert not (tmp_path / "etc").exists() and all(r["source_uri"] == str(shard) for r in rows)

    whole = tar_bytes({"0001.jpg": JPEG, "0002.jpg": b"y" * 2000})
    truncated = tmp_path / "t.tar"
    truncated.write_bytes(whole[:512 + 512 + 512 + 700])  # cut inside the second member's data
    rows = _rows([Shard("tar", str(truncated))])
    assert [r["image_id"].rsplit("#", 1)[-1] for r in rows] == ["0001.jpg", "0002.jpg"]
    assert rows[0]["error"] is None and "truncated tar member" in rows[1]["error"]

    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"<html>not a tar</html>")
    (row,) = _rows([Shard("tar", str(junk))])
    assert row["image_id"] == str(junk) and row["error"].startswith("cannot read tar shard")


def test_parquet_rows_with_ids_row_numbers_nulls_and_structs(tmp_path):
    shard = tmp_path / "p.parquet"
    shard.write_bytes(parquet_bytes({"key": ["x", "y", "z"], "image": [JPEG, None, b"png"]}))
    rows = _rows([Shard("parquet", str(shard))], id_column="key", rows_per_block=2)
    assert [r["image_id"] for r in rows] == [f"{shard}#x", f"{shard}#y", f"{shard}#z"]
    assert rows[0]["bytes"] == JPEG and "null" in rows[1]["error"] and rows[2]["bytes"] == b"png"
    assert [r["image_id"] for r in _rows([Shard("parquet", str(shard))])] == [f"{shard}#{i}" for i in range(3)]

    hf = tmp_path / "hf.parquet"  # the Hugging Face datasets Image layout: struct<bytes, path>
    hf.write_bytes(parquet_bytes({"img": [{"bytes": JPEG, "path": "0.jpg"}]}))
    (row,) = _rows([Shard("parquet", str(hf))], image_column="img")
    assert row["bytes"] == JPEG and row["error"] is None

    (row,) = _rows([Shard("parquet", str(shard))], image_column="pixels")
    assert row["image_id"] == str(shard) and "no column 'pixels'" in row["error"]
    (row,) = _rows([Shard("parquet", str(shard))], image_column="key")
    assert "expected binary image bytes" in row["error"]


def test_manifests_text_csv_parquet(tmp_path):
    text = tmp_path / "m.txt"
    text.write_text("# nightly list\n\nimgs/a.jpg\n/abs/b.jpg\ns3://lake/c.jpg\nimgs/a.jpg\n")
    uris = [r["image_id"] for r in _rows([Shard("manifest", str(text))])]
    assert uris == [f"{tmp_path}/imgs/a.jpg", "/abs/b.jpg", "s3://lake/c.jpg"]
    csv = tmp_path / "m.csv"
    csv.write_text("label,uri\ncat,/x/1.jpg\ndog,/x/2.jpg\n")
    assert [r["source_uri"] for r in _rows([Shard("manifest", str(csv))])] == ["/x/1.jpg", "/x/2.jpg"]
    pq_manifest = tmp_path / "m.parquet"
    pq_manifest.write_bytes(parquet_bytes({"n": [1, 2], "source_uri": ["/y/1.jpg", "/y/2.jpg"]}))
    rows = _rows([Shard("manifest", str(pq_manifest))])
    assert [r["image_id"] for r in rows] == ["/y/1.jpg", "/y/2.jpg"] and all(r["bytes"] is None for r in rows)


def test_blocks_hold_at_most_rows_per_block(tmp_path):
    shards = [Shard("files", f"/img/{i}.jpg") for i in range(7)]
    tables = list(read_shards(shards, ReadOptions(rows_per_block=3)))
    assert [t.num_rows for t in tables] == [3, 3, 1]


def test_dry_run_counts_images_only_when_they_are_files(tmp_path, capsys):
    import json

    from jobs import infer

    (tmp_path / "shards").mkdir()
    (tmp_path / "shards" / "s.tar").write_bytes(tar_bytes({"0001.jpg": JPEG}))
    code = infer.main(["--model", "d0", "--input", str(tmp_path / "shards"), "--output", str(tmp_path / "o"),
                       "--dry-run"])
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and summary["shards"] == {"tar": 1} and summary["images_total"] is None


def test_read_tasks_tell_ray_data_the_size_of_their_rows(tmp_path):
    """Ray Data budgets memory from the read tasks' size estimates: a tar shard's rows carry its
    images' bytes (about the shard's size), image files' rows only their URIs; a manifest's count
    is unknown until read."""
    from effdet_batch.pipeline.datasource import ShardDatasource

    (tmp_path / "lake").mkdir()
    for i in range(3):
        (tmp_path / "lake" / f"{i}.jpg").write_bytes(JPEG * 1000)
    (tmp_path / "lake" / "shard-0.tar").write_bytes(tar_bytes({f"{i}.jpg": bytes([i]) * 50_000 for i in range(4)}))
    shards = resolve_inputs([str(tmp_path / "lake")])
    source = ShardDatasource(shards, ReadOptions())
    tasks = source.get_read_tasks(parallelism=4)
    assert source.estimate_inmemory_data_size() == sum(t.metadata.size_bytes for t in tasks)
    for task in tasks:
        actual = pa.concat_tables(list(task())).nbytes
        assert 0.7 * actual <= task.metadata.size_bytes <= 1.5 * actual, (task.metadata, actual)
    # Image files are rows of their task, not input files: no Python string per image on the driver.
    (files_task,) = [t for t in tasks if t.metadata.input_files is None]
    (tar_task,) = [t for t in tasks if t.metadata.input_files == (str(tmp_path / "lake" / "shard-0.tar"),)]
    assert files_task.metadata.num_rows == 3 and tar_task.metadata.num_rows is None
    assert tar_task.metadata.size_bytes == (tmp_path / "lake" / "shard-0.tar").stat().st_size

    (tmp_path / "list.txt").write_text("lake/0.jpg\n")
    assert ShardDatasource(resolve_inputs([str(tmp_path / "list.txt")]), ReadOptions()).estimate_inmemory_data_size() is None


def test_an_object_is_read_in_one_request_and_an_empty_one_is_empty(s3_env, monkeypatch):
    """Each image is one GET, so a batch waits one round trip, not two (opening a file asks S3 for
    its size first); S3 refuses any range of an empty object, which still reads as empty."""
    import s3fs

    from effdet_batch.loopback_s3 import DelayProxy
    from effdet_batch.pipeline.decode import DecodeError, decode_image
    from effdet_batch.pipeline.readers import read_many
    from effdet_batch.pipeline.run import forget_s3_clients

    fs = s3fs.S3FileSystem(endpoint_url=s3_env)
    fs.mkdir("onerequest")
    fs.pipe({"onerequest/a.jpg": JPEG, "onerequest/b.jpg": JPEG[::-1], "onerequest/zero.jpg": b""})
    with DelayProxy(int(s3_env.rsplit(":", 1)[1]), delay=0) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        forget_s3_clients()
        try:
            got = read_many([f"s3://onerequest/{n}.jpg" for n in ("a", "b", "zero", "gone")])
        finally:
            monkeypatch.undo()
            forget_s3_clients()
    assert got[:3] == [JPEG, JPEG[::-1], b""] and isinstance(got[3], FileNotFoundError)
    assert proxy.requests == 5  # one GET each; the empty object's 416 is followed by the size it has
    with pytest.raises(DecodeError, match=r"empty file \(0 bytes\)"):
        decode_image(got[2])
