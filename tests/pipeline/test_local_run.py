"""The job end to end on a real local Ray: folder of files -> Parquet -> read back."""
import json
import shutil
import threading

import numpy as np
import pandas as pd
import ray
import torch

from effdet_batch.model import Detector
from effdet_batch.model.info import param_count
from effdet_batch.model.labels import coco_labels
from effdet_batch.pipeline import PipelineConfig, build
from effdet_batch.pipeline.decode import decode_image
from effdet_batch.pipeline.resources import cpu_actor_memory, cpu_actor_share
from effdet_batch.pipeline.sources import resolve_inputs
from jobs import infer
from tests.helpers import assert_same_detections


def test_folder_to_parquet_matches_detector(ray_local, indoor85, tmp_path, capsys):
    # Seeded random weights: their scores are distinct, unlike the parity checkpoint's (11 distinct
    # values in its top 100), so detections compare across batch compositions.
    src = tmp_path / "in" / "nested"
    src.mkdir(parents=True)
    names = sorted(p.name for p in (indoor85 / "images").glob("*.jpg"))[:3]
    for name in names:
        shutil.copy(indoor85 / "images" / name, src / name.replace(".jpg", ".JPG"))  # suffixes are case-blind
    (src / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    (src / "notes.txt").write_text("not an image: skipped")
    out = tmp_path / "out"
    code = infer.main(["--model", "d0", "--input", str(tmp_path / "in"), "--output", str(out),
                       "--weights", "random", "--batch-size", "2", "--device", "cpu",
                       "--run-id", "t1"])
    assert code == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out.strip().splitlines()[-1])
    assert (summary["images_total"], summary["images_ok"], summary["images_failed"]) == (4, 3, 1)
    screen = captured.err[captured.err.index("run t1: EfficientDet-d0"):]  # the one-screen summary
    assert "4 this run: 3 ok, 1 failed" in screen and "broken.jpg: " in screen
    assert json.loads((out / "_manifest-t1.json").read_text())["images_ok"] == 3
    table = pd.read_parquet(out)
    assert len(table) == 4 and table["image_id"].is_unique
    assert table.loc[table["image_id"].str.endswith("broken.jpg"), "error"].item()
    detector = Detector("d0", "random", device="cpu")
    for _, row in table[table["error"].isna()].iterrows():
        image = decode_image(open(row["source_uri"], "rb").read())
        (want,) = detector.predict([image])
        got = {"boxes": np.stack(row["boxes"]), "scores": row["scores"], "classes": row["category_ids"]}
        assert len(got["scores"]) == len(want["scores"])
        assert_same_detections(got, want)


def test_missing_input_and_unwritable_output_fail_before_inference(indoor85, tmp_path, capsys):
    code = infer.main(["--model", "d0", "--input", str(tmp_path / "nope"), "--output", str(tmp_path / "o"),
                       "--weights", "random"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and err[-1].startswith("error: input") and "does not exist" in err[-1]
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code = infer.main(["--model", "d0", "--input", str(indoor85 / "images"), "--output", str(blocker / "sub"),
                       "--weights", "random"])
    assert code == 1 and "cannot write to output" in capsys.readouterr().err.strip().splitlines()[-1]


def test_dry_run_counts_without_running(indoor85, tmp_path, capsys):
    code = infer.main(["--model", "d3", "--input", str(indoor85 / "images"), "--output", str(tmp_path / "o"),
                       "--dry-run", "--limit", "5"])
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and summary["dry_run"] and summary["images_total"] == 5
    assert not list((tmp_path / "o").glob("*.parquet"))


class _StageProbe:
    """Stands in for a CPU actor's stage (PrepareAndDetect) in the job's own dataset: the thread
    each part runs on, its torch threads, set from the arguments the job gives the stage, and the
    memory Ray reserved for the actor."""

    def __init__(self, threads: int | None = None, **_: object) -> None:
        if threads:
            torch.set_num_threads(threads)

    def __call__(self, batch: dict):
        count = len(batch["image_id"])
        for i in range(count):  # a part at a time, as the stage yields them
            yield {"image_id": batch["image_id"][i:i + 1],
                   "main": np.array([threading.current_thread() is threading.main_thread()]),
                   "threads": np.array([torch.get_num_threads()]),
                   "memory": np.array([ray.get_runtime_context().get_assigned_resources().get("memory", 0)])}


def test_cpu_actors_run_batches_on_their_main_thread_with_the_threads_and_memory_they_need(
        ray_local, indoor85, tmp_path, monkeypatch):
    # What CPU speed rests on: off the main thread, torch's OpenMP threads sleep between the
    # network's small ops and the threads set in the constructor do not apply.
    assert cpu_actor_share(1, node_cpus=2) == (0.5, 2)  # room for the checkpoint filter and an I/O task
    assert cpu_actor_share(2, node_cpus=8)[0] == 0.5 and cpu_actor_share(4, node_cpus=2)[0] == 0.1875
    cfg = PipelineConfig(model="d0", inputs=(str(indoor85 / "images"),), output=str(tmp_path / "o"),
                         weights="random", batch_size=2, limit=6)
    monkeypatch.setattr(build, "PrepareAndDetect", _StageProbe)
    rows = build.build_dataset(cfg, resolve_inputs(cfg.inputs), "cpu", coco_labels()).take_all()
    assert len(rows) == 6 and all(r["main"] for r in rows) and {r["threads"] for r in rows} == {2}
    # Ray places the actor by the memory its model and batches need (D0 at 512 px: 16 first-stage
    # channels; 1.8 GiB at batch 2, well inside the local node's memory, so not capped).
    need = cpu_actor_memory(512, 16, param_count("d0"), batch=2, threads=2, parts=build.READ_AHEAD_PARTS)
    assert {r["memory"] for r in rows} == {need}
