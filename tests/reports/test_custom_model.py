"""A user's own detector end to end: effdet's training file of a 3-class D0 with its labels through
the job, the evaluation and the report, with a real local Ray."""
import contextlib
import io
import json
import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest

from effdet_batch.evaluation import STAT_NAMES
from effdet_batch.model.labels import coco_labels
from jobs import evaluate as evaluate_cli
from jobs import infer as infer_cli
from jobs import report as report_cli

CATEGORIES = [{"id": 11, "name": "tent"}, {"id": 7, "name": "kayak"}, {"id": 3, "name": "bicycle"}]


@pytest.fixture(scope="module")
def custom_run(ray_local, shared, indoor85, tmp_path_factory):
    root = tmp_path_factory.mktemp("custom")
    (root / "photos").mkdir()
    names = sorted(p.name for p in (indoor85 / "images").glob("*.jpg"))[:4]
    for name in names:
        shutil.copy(indoor85 / "images" / name, root / "photos" / name)
    reference = shared / "reference/parity_custom"
    assert infer_cli.main(["--model", "d0", "--weights", str(reference / "d0_3class_seed0_train.pth.tar"),
                           "--labels", str(reference / "labels.json"), "--input", str(root / "photos"),
                           "--output", str(root / "out"), "--device", "cpu", "--batch-size", "2",
                           "--run-id", "custom"]) == 0
    return root, names


def _rows(root):
    return pq.read_table(root / "out").to_pylist()


def test_rows_carry_the_custom_ids_and_names(custom_run):
    root, names = custom_run
    rows = _rows(root)
    assert sorted(r["image_id"].rsplit("/", 1)[-1] for r in rows) == names
    name_of = {c["id"]: c["name"] for c in CATEGORIES}
    for row in rows:
        assert row["error"] is None and row["num_detections"] > 0
        assert set(row["category_ids"]) <= set(name_of)
        assert row["labels"] == [name_of[c] for c in row["category_ids"]]
    manifest = json.loads((root / "out" / "_manifest-custom.json").read_text())
    assert manifest["weights_state"] == "state_dict_ema"
    assert manifest["labels"]["num_classes"] == 3 and manifest["labels"]["categories"] == CATEGORIES
    assert manifest["labels"]["sha256"] != coco_labels().sha256


def _ground_truth(rows):
    """3-class ground truth near some of the detections (shifted, other classes too), so that AP is
    neither 0 nor 1."""
    rng = np.random.default_rng(0)
    images, annotations = [], []
    for image_id, row in enumerate(sorted(rows, key=lambda r: r["image_id"]), start=1):
        images.append({"id": image_id, "file_name": row["image_id"].rsplit("/", 1)[-1],
                       "width": row["width"], "height": row["height"]})
        for box, category in list(zip(row["boxes"], row["category_ids"]))[:6]:
            x1, y1, x2, y2 = np.asarray(box) + rng.normal(0, 4, 4)
            if rng.random() < 0.3:
                category = int(rng.choice([11, 7, 3]))
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": int(category),
                                "bbox": [float(x1), float(y1), float(max(x2 - x1, 1)), float(max(y2 - y1, 1))],
                                "area": float(max(x2 - x1, 1) * max(y2 - y1, 1)), "iscrowd": 0})
    return {"images": images, "annotations": annotations, "categories": CATEGORIES}


def _pycocotools_stats(gt, rows):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    ids = {image["file_name"]: image["id"] for image in gt["images"]}
    results = [{"image_id": ids[r["image_id"].rsplit("/", 1)[-1]], "category_id": c, "score": s,
                "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]]}
               for r in rows for b, s, c in zip(r["boxes"], r["scores"], r["category_ids"])]
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = gt
        coco.createIndex()
        evaluator = COCOeval(coco, coco.loadRes(results), "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return evaluator.stats


def test_evaluation_and_report_take_the_custom_classes(custom_run):
    root, _ = custom_run
    rows = _rows(root)
    gt = _ground_truth(rows)
    (root / "gt.json").write_text(json.dumps(gt))
    assert evaluate_cli.main(["--predictions", str(root / "out"), "--annotations", str(root / "gt.json"),
                              "--output", str(root / "eval")]) == 0
    metrics = json.loads((root / "eval" / "metrics.json").read_text())
    stats = _pycocotools_stats(gt, rows)
    assert 0 < metrics["AP"] < 1
    assert [metrics[k] for k in STAT_NAMES] == pytest.approx(list(stats), abs=1e-12)
    assert metrics["labels_sha256"] != coco_labels().sha256 and metrics["weights"].endswith(".pth.tar")

    assert report_cli.main(["--runs", str(root / "out"), "--metrics", str(root / "eval"),
                            "--output", str(root / "report")]) == 0
    report = json.loads((root / "report" / "report.json").read_text())
    (row,) = report["models"]
    assert row["model"].startswith("d0 d0_3class_seed0_train labels:") and row["AP"] == metrics["AP"]
    assert row["published_coco_ap"] is None
