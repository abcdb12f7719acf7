"""COCO exports of a job output: the results file is what pycocotools' loadRes takes and gives
jobs/evaluate.py's statistics on indoor85; the dataset loads in pycocotools with its boxes and
scores as the rows hold them."""
import contextlib
import io
import json

import numpy as np
import pytest

from effdet_batch.evaluation import STAT_NAMES
from effdet_batch.model.labels import coco_labels
from jobs import evaluate as evaluate_cli
from jobs import export as export_cli

from .job_output import SHARD, run_manifest, write_job_output


@pytest.fixture()
def indoor(indoor85):
    return (json.loads((indoor85 / "instances.json").read_text()),
            json.loads((indoor85 / "detections.json").read_text()))


def _coco_stats(gt_path, results_path) -> list[float]:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(gt_path))
        evaluator = COCOeval(gt, gt.loadRes(str(results_path)), "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return list(evaluator.stats)


def _key(result: dict) -> tuple:
    return (result["image_id"], result["category_id"], np.float32(result["score"]), *np.round(result["bbox"], 3))


def _export(capsys, *argv) -> tuple[dict, str]:
    assert export_cli.main(list(map(str, argv))) == 0
    out, err = capsys.readouterr()
    return json.loads(out.strip().splitlines()[-1]), err.strip()


def test_results_with_annotations_evaluate_as_evaluate_py(indoor85, indoor, tmp_path, capsys):
    instances, detections = indoor
    write_job_output(tmp_path / "pred", instances, detections, run_manifest(instances))
    gt_path = indoor85 / "instances.json"
    summary, err = _export(capsys, "--predictions", tmp_path / "pred", "--format", "coco",
                           "--annotations", gt_path, "--output", tmp_path / "results.json")
    assert evaluate_cli.main(["--predictions", str(tmp_path / "pred"), "--annotations", str(gt_path),
                              "--output", str(tmp_path / "eval")]) == 0
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert _coco_stats(gt_path, tmp_path / "results.json") == [metrics[k] for k in STAT_NAMES]

    results = json.loads((tmp_path / "results.json").read_text())
    assert all(set(r) == {"image_id", "category_id", "bbox", "score"} for r in results)
    # Exactly indoor85's detections (to float32), under the ground truth's image ids.
    assert sorted(map(_key, results)) == sorted(map(_key, detections))
    assert (summary["rows_error"], summary["rows_not_in_gt"], summary["images"]) == (1, 1, 85)
    assert len(err.splitlines()) == 1 and "1 error rows, 1 rows not in the ground truth" in err


def test_categories_by_name_and_min_score(indoor85, indoor, tmp_path, capsys):
    instances, detections = indoor
    write_job_output(tmp_path / "pred", instances, detections, run_manifest(instances))
    # The same names under other ids, and other file names: --categories name and --match stem find them.
    renumbered = {c["id"]: 100 + c["id"] for c in instances["categories"]}
    gt = {"images": [{**i, "file_name": i["file_name"].replace(".jpg", ".png")} for i in instances["images"]],
          "categories": [{**c, "id": renumbered[c["id"]]} for c in instances["categories"]],
          "annotations": [{**a, "category_id": renumbered[a["category_id"]]} for a in instances["annotations"]]}
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    _export(capsys, "--predictions", tmp_path / "pred", "--format", "coco", "--annotations", tmp_path / "gt.json",
            "--match", "stem", "--categories", "name", "--output", tmp_path / "results.json")
    assert (_coco_stats(tmp_path / "gt.json", tmp_path / "results.json") ==
            _coco_stats(indoor85 / "instances.json", indoor85 / "detections.json"))

    summary, err = _export(capsys, "--predictions", tmp_path / "pred", "--format", "coco", "--min-score", "0.3",
                           "--annotations", tmp_path / "gt.json", "--match", "stem", "--output", tmp_path / "high.json")
    high = json.loads((tmp_path / "high.json").read_text())
    expected = [d for d in detections if np.float32(d["score"]) >= 0.3]
    assert min(r["score"] for r in high) >= 0.3 and len(high) == len(expected) == summary["detections"]
    below_in_gt = len(detections) - len(expected)
    stray_below = sum(np.float32(d["score"]) < 0.3 for d in detections if d["image_id"] == 1)  # the stray row's
    assert summary["detections_below_min_score"] == below_in_gt + stray_below
    assert f"{below_in_gt + stray_below} detections below --min-score" in err


def test_results_without_annotations_keep_the_rows_ids(indoor, tmp_path, capsys):
    instances, detections = indoor
    rows = write_job_output(tmp_path / "pred", instances, detections)
    summary, _ = _export(capsys, "--predictions", tmp_path / "pred", "--format", "coco",
                         "--output", tmp_path / "results.json")
    results = json.loads((tmp_path / "results.json").read_text())
    assert {r["image_id"] for r in results} == {i for i, row in rows.items() if len(row[3])}
    assert summary["images"] == len(rows) == 86 and summary["detections"] == len(results)


def test_dataset_loads_in_pycocotools_and_round_trips(indoor, tmp_path, capsys):
    from pycocotools.coco import COCO

    instances, detections = indoor
    rows = write_job_output(tmp_path / "pred", instances, detections, run_manifest(instances))
    summary, _ = _export(capsys, "--predictions", tmp_path / "pred", "--format", "coco-dataset",
                         "--output", tmp_path / "out" / "dataset.json")
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(tmp_path / "out" / "dataset.json"))
    assert coco.dataset["categories"] == run_manifest(instances)["labels"]["categories"]
    images = coco.dataset["images"]
    assert sorted(i["file_name"] for i in images) == sorted(rows)  # the error row is left out
    assert any(i["file_name"].startswith(f"{SHARD}#photos/") for i in images)
    assert len({i["id"] for i in images}) == len(images) == summary["images"]
    total = 0
    for image in images:
        width, height, boxes, scores, category_ids, _ = rows[image["file_name"]]
        assert (image["width"], image["height"]) == (width, height)
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[image["id"]]))
        assert len(anns) == len(scores)
        for ann, box, score, category in zip(anns, boxes, scores, category_ids):
            x, y, w, h = ann["bbox"]
            assert np.float32([x, y, x + w, y + h]).tolist() == box.tolist()  # float32 as stored
            assert (ann["score"], ann["category_id"], ann["iscrowd"]) == (score, category, 0)
            assert ann["area"] == pytest.approx(w * h)
        total += len(anns)
    assert total == len(coco.anns) == summary["detections"] and len(set(coco.anns)) == total


def test_dataset_categories_without_a_manifest_are_the_rows(indoor, tmp_path, capsys):
    instances, detections = indoor
    rows = write_job_output(tmp_path / "pred", instances, detections)
    _export(capsys, "--predictions", tmp_path / "pred", "--format", "coco-dataset", "--output", tmp_path / "d.json")
    seen = {(i, n) for row in rows.values() for i, n in zip(row[4], row[5])}
    categories = json.loads((tmp_path / "d.json").read_text())["categories"]
    assert [(c["id"], c["name"]) for c in categories] == sorted(seen) and len(seen) < len(instances["categories"])

    # A manifest from before label sets were recorded: that run used COCO's.
    (tmp_path / "pred" / "_manifest-old.json").write_text(json.dumps({"run_id": "old", "model": "d0"}))
    _export(capsys, "--predictions", tmp_path / "pred", "--format", "coco-dataset", "--output", tmp_path / "d.json")
    assert json.loads((tmp_path / "d.json").read_text())["categories"] == coco_labels().categories()
