"""Label Studio export of a job output: the tasks' percentages are the pixel boxes, the labeling
config names what the tasks refer to, and --url-prefix makes the image URLs."""
import json
import xml.etree.ElementTree as ET

import numpy as np
import pyarrow.parquet as pq
import pytest

from effdet_batch.pipeline.schema import detection_rows
from jobs import export as export_cli

from .job_output import MODEL, SHA, run_manifest, write_job_output


@pytest.fixture()
def indoor(indoor85):
    return (json.loads((indoor85 / "instances.json").read_text()),
            json.loads((indoor85 / "detections.json").read_text()))


def _config(path) -> tuple[dict, dict, list[str]]:
    """The Image's and the RectangleLabels' attributes, and the label values."""
    view = ET.fromstring(path.read_text())
    assert view.tag == "View" and [c.tag for c in view] == ["Image", "RectangleLabels"]
    image, control = view
    return image.attrib, control.attrib, [label.get("value") for label in control]


def test_tasks_are_the_pixel_boxes_in_percent(indoor, tmp_path, capsys):
    instances, detections = indoor
    rows = write_job_output(tmp_path / "pred", instances, detections, run_manifest(instances))
    assert export_cli.main(["--predictions", str(tmp_path / "pred"), "--format", "label-studio",
                            "--output", str(tmp_path / "tasks.json")]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "1 error rows" in err[0] and "tasks.xml" in err[0]

    image, control, labels = _config(tmp_path / "tasks.xml")
    assert labels == [c["name"] for c in instances["categories"]]  # the run's label set
    tasks = json.loads((tmp_path / "tasks.json").read_text())
    assert sorted(t["data"]["image"] for t in tasks) == sorted(rows)  # the source URIs; no error row
    regions = 0
    for task in tasks:
        assert set(task["data"]) == {image["value"].removeprefix("$")}
        width, height, boxes, scores, _, names = rows[task["data"]["image"]]
        (prediction,) = task["predictions"]
        assert prediction["model_version"] == f"{MODEL}@{SHA}"
        assert prediction["score"] == pytest.approx(np.mean(scores) if scores else 0.0)
        assert len(prediction["result"]) == len(scores)
        for result, box, score, name in zip(prediction["result"], boxes, scores, names):
            assert (result["from_name"], result["to_name"]) == (control["name"], image["name"])
            assert control["toName"] == image["name"] and result["type"] == "rectanglelabels"
            assert (result["original_width"], result["original_height"], result["image_rotation"]) == (width, height, 0)
            value = result["value"]
            x1, y1 = value["x"] * width / 100, value["y"] * height / 100
            x2, y2 = x1 + value["width"] * width / 100, y1 + value["height"] * height / 100
            assert np.abs(np.array([x1, y1, x2, y2]) - box).max() <= 1e-6 * max(width, height)
            assert value["rectanglelabels"] == [name] and name in labels
            assert value["rotation"] == 0 and result["score"] == score
        regions += len(prediction["result"])
    assert regions == sum(len(r[3]) for r in rows.values())
    assert len({r["id"] for t in tasks for r in t["predictions"][0]["result"]}) == regions


def test_config_without_a_manifest_lists_the_rows_labels(indoor, tmp_path, capsys):
    instances, detections = indoor
    write_job_output(tmp_path / "pred", instances, detections)
    assert export_cli.main(["--predictions", str(tmp_path / "pred"), "--format", "label-studio", "--min-score", "0.4",
                            "--output", str(tmp_path / "tasks.json"), "--config", str(tmp_path / "ls" / "c.xml")]) == 0
    assert not (tmp_path / "tasks.xml").exists()
    _, _, labels = _config(tmp_path / "ls" / "c.xml")
    tasks = json.loads((tmp_path / "tasks.json").read_text())
    used = {n for t in tasks for r in t["predictions"][0]["result"] for n in r["value"]["rectanglelabels"]}
    scores = [r["score"] for t in tasks for r in t["predictions"][0]["result"]]
    assert sorted(labels) == sorted(used) and min(scores) >= 0.4  # the labels seen at or above --min-score
    assert len(labels) < len({d["category_id"] for d in detections})


def test_url_prefix_and_the_images_relative_paths(tmp_path, capsys):
    ids = ["/data/photos/a b.jpg", "/data/photos/sub/c.jpg", "s3://lake/shard.tar#m/d.jpg", "s3://lake/p.parquet#7"]
    dets = [{"boxes": np.array([[10, 20, 30, 60]], np.float32), "scores": np.array([0.9], np.float32),
             "classes": np.array([1], np.int32)}] * len(ids)
    (tmp_path / "pred").mkdir()
    pq.write_table(detection_rows(ids, ids, [(100, 200)] * len(ids), dets, {1: "cat & <dog>"}, MODEL, SHA, "r"),
                   tmp_path / "pred" / "part-0.parquet")
    assert export_cli.main(["--predictions", str(tmp_path / "pred"), "--format", "label-studio", "--output",
                            str(tmp_path / "tasks.json"), "--url-prefix", "/data/local-files/?d=photos/"]) == 0
    tasks = json.loads((tmp_path / "tasks.json").read_text())
    assert [t["data"]["image"] for t in tasks] == [
        "/data/local-files/?d=photos/a%20b.jpg", "/data/local-files/?d=photos/sub/c.jpg",
        "/data/local-files/?d=photos/7", "/data/local-files/?d=photos/m/d.jpg"]  # rows in image id order
    value = tasks[0]["predictions"][0]["result"][0]["value"]
    assert [value[k] for k in ("x", "y", "width", "height")] == [10.0, 10.0, 20.0, 20.0]
    assert _config(tmp_path / "tasks.xml")[2] == ["cat & <dog>"]  # escaped in the XML, read back whole
