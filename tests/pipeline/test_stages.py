"""Pipeline stages on plain dicts of numpy arrays, without Ray."""
import time

import numpy as np
import pyarrow as pa

from effdet_batch.model import Detector
from effdet_batch.model.labels import COCO_NAMES
from effdet_batch.pipeline.decode import decode_image
from effdet_batch.pipeline.schema import OUTPUT_SCHEMA
from effdet_batch.pipeline.stages import DetectStage, read_and_prepare
from tests.helpers import assert_same_detections, work_rows


def test_prepare_then_detect_gives_one_row_per_image_with_errors_explained(parity, photos, indoor85):
    jpeg = (indoor85 / "images" / "2007_000027.jpg").read_bytes()
    batch = {
        "image_id": np.array(["a.jpg", "empty.jpg", "junk.jpg", "half.jpg"], dtype=object),
        "source_uri": np.array(["a.jpg", "empty.jpg", "junk.jpg", "half.jpg"], dtype=object),
        "bytes": np.array([jpeg, b"", b"<html>404</html>", jpeg[:200]], dtype=object),
        "error": np.array([None] * 4, dtype=object),
    }
    prepared = read_and_prepare(batch, 512, (124, 116, 104))
    assert prepared["canvas"].shape == (4, 512, 512, 3) and "bytes" not in prepared
    assert prepared["error"][0] == "" and "empty file" in prepared["error"][1]
    assert "not an image" in prepared["error"][2] and prepared["error"][3]
    # What each image cost to prepare: its encoded bytes, and the CPU time spent on it.
    assert prepared["image_bytes"].tolist() == [len(jpeg), 0, len(b"<html>404</html>"), 200]
    assert prepared["decode_cpu_seconds"][0] > 0 and (prepared["decode_cpu_seconds"] >= 0).all()
    batches = []
    stage = DetectStage("d0", str(parity["checkpoint"]), "cpu", "fp32", run_id="r1", on_batch=batches.append)
    before = time.time()
    table = stage(prepared)
    (batch,) = batches  # told once, after the batch, with every image of it
    assert before <= batch.finished_at <= time.time() and batch.actor == stage.actor and batch.images == 4
    assert batch.decode_cpu_seconds == prepared["decode_cpu_seconds"].sum()
    assert batch.image_bytes == prepared["image_bytes"].sum()
    assert isinstance(table, pa.Table) and table.schema.equals(OUTPUT_SCHEMA)
    rows = {r["image_id"]: r for r in table.to_pylist()}
    assert set(rows) == {"a.jpg", "empty.jpg", "junk.jpg", "half.jpg"}
    ok = rows["a.jpg"]
    assert ok["error"] is None and (ok["width"], ok["height"]) == (640, 480)
    expected = Detector("d0", str(parity["checkpoint"]), device="cpu").predict([decode_image(jpeg)])[0]
    np.testing.assert_allclose(np.array(ok["boxes"]), expected["boxes"], atol=1e-3)
    assert ok["category_ids"] == expected["classes"].tolist() and ok["num_detections"] == 100
    assert len(ok["labels"]) == 100 and ok["run_id"] == "r1" and ok["model"] == "d0"
    assert ok["labels"][:3] == [COCO_NAMES.get(c, f"class_{c}") for c in ok["category_ids"][:3]]
    for name in ("empty.jpg", "junk.jpg", "half.jpg"):
        assert rows[name]["error"] and rows[name]["boxes"] is None


def test_prepare_reads_the_files_that_came_without_bytes(tmp_path, indoor85):
    jpeg = (indoor85 / "images" / "2007_000027.jpg").read_bytes()
    (tmp_path / "a.jpg").write_bytes(jpeg)
    uris = [str(tmp_path / name) for name in ("a.jpg", "gone.jpg", "inline", "failed")]
    batch = {"image_id": np.array(uris, dtype=object), "source_uri": np.array(uris, dtype=object),
             "bytes": np.array([None, None, b"inline bytes", None], dtype=object),
             "error": np.array([None, None, None, "truncated tar member"], dtype=object)}
    prepared = read_and_prepare(batch, 512, (124, 116, 104))
    assert prepared["error"][0] == "" and prepared["image_bytes"][0] == len(jpeg)  # read from its file
    assert (prepared["width"][0], prepared["height"][0]) == (640, 480)
    assert prepared["error"][1].startswith(f"cannot read {uris[1]}: ")  # vanished: its own row
    assert prepared["error"][2].startswith("not an image") and prepared["image_bytes"][2] == len(b"inline bytes")
    assert prepared["error"][3] == "truncated tar member"  # the shard's error is kept, nothing read


def test_prepare_decodes_a_batch_on_its_threads_with_the_same_results(photos, monkeypatch):
    import threading

    from effdet_batch.pipeline import stages
    from tests.pipeline.test_decode import jpeg_bytes

    batch = work_rows([jpeg_bytes(p) for p in photos] * 2)
    one = read_and_prepare(batch, 512, (124, 116, 104))
    running, peak, lock, decode = [0], [0], threading.Lock(), stages.decode

    def counted(*args):  # how many decodes run at once
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.02)
        try:
            return decode(*args)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(stages, "decode", counted)
    two = read_and_prepare(batch, 512, (124, 116, 104), threads=2)
    assert peak[0] == 2
    for key in ("canvas", "scale", "width", "height", "error", "image_bytes"):
        np.testing.assert_array_equal(one[key], two[key])
    assert (two["decode_cpu_seconds"] > 0).all()


def test_read_ahead_reads_the_next_part_while_a_part_is_worked_on_and_one_part_at_a_time(monkeypatch):
    import threading

    from effdet_batch.pipeline import stages

    uris = [f"s3://lake/{i}.jpg" for i in range(7)]
    lock, reading, log = threading.Lock(), [0], []
    second_part_read = threading.Event()

    def read_many(part_uris):
        with lock:
            reading[0] += 1
            log.append((list(part_uris), reading[0]))  # the reads in flight with this one's
        if part_uris[0] == uris[3]:
            second_part_read.set()
        threading.Event().wait(0.05)  # a round trip, so that reads started together would overlap
        with lock:
            reading[0] -= 1
        return [f"bytes of {u}".encode() for u in part_uris]

    monkeypatch.setattr(stages, "read_many", read_many)
    parts = []
    for part in stages.read_ahead(work_rows([None] * len(uris), uris), 3):
        if not parts:  # the first part is being worked on: the second is read meanwhile, unasked
            assert second_part_read.wait(10), "the next part was not read while the first was worked on"
        parts.append(part)
    assert [p["image_id"].tolist() for p in parts] == [uris[:3], uris[3:6], uris[6:]]
    assert [b for p in parts for b in p["bytes"]] == [f"bytes of {u}".encode() for u in uris]
    assert all(not e for p in parts for e in p["error"])
    assert log == [(uris[:3], 1), (uris[3:6], 1), (uris[6:], 1)]  # in order, never two parts at once


def test_read_ahead_given_up_on_reads_no_more_parts(monkeypatch):
    import time

    from effdet_batch.pipeline import stages

    read = []

    def read_many(part_uris):
        read.append(part_uris[0])
        time.sleep(0.5)  # long enough that the third part cannot begin before the close
        return [b"x"] * len(part_uris)

    monkeypatch.setattr(stages, "read_many", read_many)
    uris = [f"s3://lake/{i}.jpg" for i in range(8)]
    parts = stages.read_ahead(work_rows([None] * len(uris), uris), 2)
    next(parts)
    parts.close()  # the call failed on its first part: the outage is not met three more times in a row
    assert read == uris[:4:2]  # the first part, and the second, already being read


def test_prepare_and_detect_gives_the_rows_of_the_two_stages_part_by_part(parity, indoor85, tmp_path):
    from effdet_batch.pipeline.stages import PrepareAndDetect

    photos = sorted((indoor85 / "images").glob("*.jpg"))[:4]
    uris = [str(tmp_path / p.name) for p in photos] + [str(tmp_path / "gone.jpg")]
    for p in photos:
        (tmp_path / p.name).write_bytes(p.read_bytes())
    prepare = {"image_size": 512, "fill": (124, 116, 104)}
    detect = {"model": "d0", "weights": str(parity["checkpoint"]), "device": "cpu", "precision": "fp32", "run_id": "r"}
    batches = []
    stage = PrepareAndDetect(2, prepare, on_batch=batches.append, **detect)
    tables = list(stage(work_rows([None] * len(uris), uris)))
    assert [t.num_rows for t in tables] == [2, 2, 1] and [b.images for b in batches] == [2, 2, 1]
    want = DetectStage(**detect)(read_and_prepare(work_rows([None] * len(uris), uris), **prepare)).to_pylist()
    got = pa.concat_tables(tables).to_pylist()
    assert [r["image_id"] for r in got] == [r["image_id"] for r in want] == uris
    assert got[-1]["error"].startswith(f"cannot read {uris[-1]}: ")
    for g, w in zip(got[:-1], want[:-1]):  # batches of 2 against one of 5: near ties may swap
        assert_same_detections(*({"boxes": r["boxes"], "scores": r["scores"], "classes": r["category_ids"]}
                                 for r in (g, w)))
