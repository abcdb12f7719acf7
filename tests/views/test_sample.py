"""The gallery's stratified sample and counts, read batch by batch: rare classes are in it, the
seed alone decides it (not the order of rows or files), and the counts are the whole output's."""
import numpy as np
import pyarrow.parquet as pq
import pytest

from effdet_batch.pipeline.schema import detection_rows, error_rows
from effdet_batch.views.sample import ClassChoice, scan_output

NAMES = {i: f"class{i}" for i in range(1, 11)}
ROWS = 3000


def _rows(order: np.ndarray) -> tuple[list[str], list[dict]]:
    """Image i has a detection of class 1 + i % 8 (0.9); every 7th one of class 9 (0.3, below the
    gallery's score), and every 1000th one of class 10 (0.95): the rare class."""
    ids, found = [], []
    for i in order:
        classes = [1 + i % 8] + ([10] if i % 1000 == 0 else []) + ([9] if i % 7 == 0 else [])
        scores = [0.9] + ([0.95] if i % 1000 == 0 else []) + ([0.3] if i % 7 == 0 else [])
        ids.append(f"s3://lake/img{i:05d}.jpg")
        found.append({"boxes": np.tile([1.0, 2.0, 3.0, 4.0], (len(classes), 1)),
                      "scores": np.array(scores, np.float32), "classes": np.array(classes, np.int32)})
    return ids, found


def _write(folder, order, files: int):
    folder.mkdir()
    ids, found = _rows(order)
    for part, chunk in enumerate(np.array_split(np.arange(len(ids)), files)):
        table = detection_rows([ids[i] for i in chunk], [ids[i] for i in chunk], [(10, 10)] * len(chunk),
                               [found[i] for i in chunk], NAMES, "d0", "ab" * 32, "r1")
        pq.write_table(table, folder / f"part-{part}.parquet", row_group_size=256)
    pq.write_table(error_rows(["s3://lake/bad.jpg"], ["s3://lake/bad.jpg"], ["not an image"], "d0", "ab" * 32, "r1"),
                   folder / "part-errors.parquet")
    return folder


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("sample")
    shuffled = np.random.default_rng(1).permutation(ROWS)
    return _write(root / "sorted", np.arange(ROWS), 1), _write(root / "shuffled", shuffled, 3)


def test_every_class_is_sampled_and_the_counts_are_the_whole_outputs(outputs):
    scan = scan_output(str(outputs[0]), sample=12, min_score=0.4, batch_rows=500)
    assert (scan.rows, scan.rows_error, scan.errors) == (ROWS + 1, 1, [("s3://lake/bad.jpg", "not an image")])
    images = {int(s.split("img")[1][:5]) for s in scan.sample}
    assert len(images) == 12
    assert {1 + i % 8 for i in images} == set(range(1, 9)) and any(i % 1000 == 0 for i in images)  # class 10: 3 images
    counts = {c: (e.label, e.detections, e.images) for c, e in scan.classes.items()}
    want = {c: (NAMES[c], len(range(c - 1, ROWS, 8)), len(range(c - 1, ROWS, 8))) for c in range(1, 9)}
    assert counts == {**want, 10: ("class10", 3, 3)}  # class 9 is below the score everywhere
    assert scan.images_without == 0


def test_the_seed_alone_decides_the_sample(outputs):
    one_batch = scan_output(str(outputs[0]), sample=20, min_score=0.4, seed=3)
    small_batches = scan_output(str(outputs[0]), sample=20, min_score=0.4, seed=3, batch_rows=100)
    other_order = scan_output(str(outputs[1]), sample=20, min_score=0.4, seed=3, batch_rows=333)
    assert one_batch.sample == small_batches.sample == other_order.sample
    assert one_batch.classes == other_order.classes
    assert scan_output(str(outputs[0]), sample=20, min_score=0.4, seed=4).sample != one_batch.sample


def test_classes_restrict_the_sample_and_the_counts(outputs):
    scan = scan_output(str(outputs[1]), sample=5, min_score=0.2, classes=ClassChoice(("CLASS9", "10")), batch_rows=700)
    assert set(scan.classes) == {9, 10}
    assert scan.classes[9].images == len(range(0, ROWS, 7))
    ids = {int(s.split("img")[1][:5]) for s in scan.sample}
    assert len(ids) == 5 and all(i % 7 == 0 or i % 1000 == 0 for i in ids) and any(i % 1000 == 0 for i in ids)
    assert ClassChoice(("class9", "sofa")).missing(scan.classes.values()) == ["sofa"]
