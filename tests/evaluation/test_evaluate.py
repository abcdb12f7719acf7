"""jobs/evaluate.py on real data: indoor85's detections written in the job's schema give exactly
pycocotools' own statistics; and what happens to missed, unknown, failed and empty rows."""
import contextlib
import io
import json
from collections import defaultdict

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from effdet_batch.evaluation import STAT_NAMES
from effdet_batch.pipeline.schema import detection_rows, error_rows
from jobs import evaluate as evaluate_cli


def _write_job_output(folder, instances: dict, detections: list, extra_error: str | None = None) -> None:
    """`detections` (COCO results) as the job writes them: one row per image, boxes x1y1x2y2."""
    by_image = defaultdict(list)
    for d in detections:
        by_image[d["image_id"]].append(d)
    uris, sizes, dets = [], [], []
    for image in instances["images"]:
        found = sorted(by_image[image["id"]], key=lambda d: -d["score"])
        boxes = np.array([[x, y, x + w, y + h] for x, y, w, h in (d["bbox"] for d in found)], np.float32).reshape(-1, 4)
        uris.append(f"s3://lake/indoor/{image['file_name']}")
        sizes.append((image["width"], image["height"]))
        dets.append({"boxes": boxes, "scores": np.array([d["score"] for d in found], np.float32),
                     "classes": np.array([d["category_id"] for d in found], np.int32)})
    names = {c["id"]: c["name"] for c in instances["categories"]}
    tables = [detection_rows(uris, uris, sizes, dets, names, "d0", "sha", "r1"),
              detection_rows(["s3://lake/other/not-in-gt.jpg"], ["s3://lake/other/not-in-gt.jpg"], [(10, 10)],
                             [dets[0]], names, "d0", "sha", "r1")]
    if extra_error:
        tables.append(error_rows([f"s3://lake/indoor/{extra_error}"], [f"s3://lake/indoor/{extra_error}"],
                                 ["cannot decode image: broken data stream"], "d0", "sha", "r1"))
    folder.mkdir(parents=True)
    pq.write_table(pa.concat_tables(tables), folder / "part-0.parquet")


def _pycocotools_stats(indoor85) -> list[float]:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(indoor85 / "instances.json"))
        evaluator = COCOeval(gt, gt.loadRes(str(indoor85 / "detections.json")), "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return list(evaluator.stats)


def test_indoor85_gives_pycocotools_own_statistics(indoor85, tmp_path, capsys):
    instances = json.loads((indoor85 / "instances.json").read_text())
    detections = json.loads((indoor85 / "detections.json").read_text())
    _write_job_output(tmp_path / "pred", instances, detections)
    assert evaluate_cli.main(["--predictions", str(tmp_path / "pred"), "--annotations",
                              str(indoor85 / "instances.json"), "--output", str(tmp_path / "eval")]) == 0
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    expected = _pycocotools_stats(indoor85)
    assert [metrics[k] for k in STAT_NAMES] == pytest.approx(expected, abs=1e-12)
    assert (round(metrics["AP"], 4), round(metrics["AP50"], 4), round(metrics["AP75"], 4)) == (0.1493, 0.3120, 0.1222)
    assert metrics["images_gt"] == metrics["images_evaluated"] == 85 and metrics["images_missed"] == 0
    assert (metrics["model"], metrics["weights_sha256"]) == ("d0", "sha")  # what the report joins on
    assert metrics["rows_not_in_gt"] == 1 and metrics["detections"] == len(detections)

    per_class = pd.read_csv(tmp_path / "eval" / "per_class.csv")
    assert list(per_class.columns) == ["category_id", "name", "gt_count", "AP", "AP50"]
    assert len(per_class) == 30 and per_class["gt_count"].sum() == len(instances["annotations"])
    assert per_class["AP"].mean() == pytest.approx(metrics["AP"], abs=1e-6)  # classes without GT are NaN
    png = (tmp_path / "eval" / "precision_recall.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["AP"] == metrics["AP"]


def test_missed_unknown_error_and_empty_rows(indoor85, tmp_path):
    instances = json.loads((indoor85 / "instances.json").read_text())
    first, second = instances["images"][0]["file_name"], instances["images"][1]["file_name"]
    small = {**instances, "images": instances["images"][:3],
             "annotations": [a for a in instances["annotations"] if a["image_id"] <= 3]}
    (tmp_path / "gt.json").write_text(json.dumps(small))
    detections = [d for d in json.loads((indoor85 / "detections.json").read_text()) if d["image_id"] == 1]
    only_first = {**small, "images": small["images"][:1]}
    _write_job_output(tmp_path / "pred", only_first, detections, extra_error=second)
    assert evaluate_cli.main(["--predictions", str(tmp_path / "pred"), "--annotations", str(tmp_path / "gt.json"),
                              "--output", str(tmp_path / "eval")]) == 0
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["images_evaluated"] == 1 and metrics["images_missed"] == 2
    assert set(metrics["missed_images"]) == {second, small["images"][2]["file_name"]}
    assert metrics["rows_error"] == 1 and metrics["error_rows"][0]["image_id"].endswith(second)
    assert metrics["rows_not_in_gt"] == 1 and 0 < metrics["AP"] < 1 and first not in metrics["missed_images"]

    _write_job_output(tmp_path / "empty", small, [])
    assert evaluate_cli.main(["--predictions", str(tmp_path / "empty"), "--annotations", str(tmp_path / "gt.json"),
                              "--output", str(tmp_path / "eval0")]) == 0
    zero = json.loads((tmp_path / "eval0" / "metrics.json").read_text())
    assert all(zero[k] == 0.0 for k in STAT_NAMES) and zero["detections"] == 0


def test_misuse_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys):
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "pred").mkdir()
    for annotations in (tmp_path / "missing.json", tmp_path / "bad.json"):
        code = evaluate_cli.main(["--predictions", str(tmp_path / "pred"), "--annotations", str(annotations),
                                  "--output", str(tmp_path / "eval")])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1 and err[0].startswith("error: annotations file")
    assert not (tmp_path / "eval").exists()
