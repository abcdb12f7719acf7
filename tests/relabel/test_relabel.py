"""jobs/relabel.py on a lake in loopback S3 (moto): run 1 labels everything, run 2 nothing, run 3
exactly the new and overwritten images, and its churn page shows the overwritten one's old and new
boxes; a run killed midway leaves the state as it was and the next run resumes it."""
import io
import json
import sys
import time
import uuid

import pyarrow.dataset as pds
import pyarrow.parquet as pq
import pytest

from effdet_batch.datasets import open_dataset
from effdet_batch.relabel.state import load_pending
from jobs import relabel as relabel_cli
from tests.browser import opened
from tests.helpers import REPO, committed_checkpoints, job_env, job_process, wait_while_running


@pytest.fixture(scope="module")
def s3(s3_env, ray_local):
    import s3fs

    return s3fs.S3FileSystem(endpoint_url=s3_env)


@pytest.fixture
def lake(s3, indoor85):
    """A fresh lake bucket and labels bucket; returns (lake URI, labels URI, photo bytes by index)."""
    name = uuid.uuid4().hex[:8]
    s3.mkdir(f"lake-{name}")
    s3.mkdir(f"labels-{name}")
    photos = [p.read_bytes() for p in sorted((indoor85 / "images").glob("*.jpg"))]
    return f"s3://lake-{name}", f"s3://labels-{name}/nightly", photos


def _run(capsys, lake_uri, output, *extra):
    assert relabel_cli.main(["--model", "d0", "--weights", "random", "--device", "cpu", "--batch-size", "4",
                             "--lake", lake_uri, "--output", output, *extra]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def _wait_until_settled(s3, output, quiet=1.5):
    """Until the killed run's last requests, already sent, have landed: moto serves them from this
    busy process, seconds late (real S3 finishes a request within its round trip)."""
    before = None
    while True:
        s3.invalidate_cache()
        now = sorted(s3.find(output.removeprefix("s3://")))
        if now == before:
            return
        before = now
        time.sleep(quiet)


def _state(s3, output):
    return pq.read_table(io.BytesIO(s3.cat(f"{output}/_relabel/state.parquet"))).to_pydict()


def test_runs_label_only_what_is_new_or_changed(s3, lake, capsys, browser, tmp_path):
    lake_uri, output, photos = lake
    for i in range(4):
        s3.pipe(f"{lake_uri}/day1/img{i}.jpg", photos[i])
    s3.pipe(f"{lake_uri}/day1/notes.txt", b"not an image")

    first = _run(capsys, lake_uri, output)
    assert first["images_total"] == 4 and first["relabel"]["images_new"] == 4

    second = _run(capsys, lake_uri, output)
    assert second["images_total"] == 0 and second["relabel"]["images_to_label"] == 0

    added = [f"{lake_uri}/day2/img{i}.jpg" for i in range(3)]
    for i, uri in enumerate(added):
        s3.pipe(uri, photos[10 + i])
    s3.pipe(f"{lake_uri}/day1/img2.jpg", photos[20])  # overwritten: new content, new ETag
    # Random weights score far below the default 0.5: every detection is compared.
    third = _run(capsys, lake_uri, output, "--churn-min-score", "0")
    assert third["images_total"] == 4
    assert (third["relabel"]["images_new"], third["relabel"]["images_changed"]) == (3, 1)

    partition = third["relabel"]["partition"]
    assert partition.startswith("date=") and "/run=" in partition
    labelled = open_dataset(f"{output}/{partition}").to_table()
    assert sorted(labelled["image_id"].to_pylist()) == sorted([*added, f"{lake_uri}/day1/img2.jpg"])
    everything = open_dataset(output, partitioning="hive").to_table(columns=["image_id", "run", "run_id"])
    assert everything.num_rows == 8 and everything["run"].to_pylist() == everything["run_id"].to_pylist()
    assert len(_state(s3, output)["uri"]) == 7
    churn = s3.cat(third["relabel"]["churn"]).decode().splitlines()
    assert churn[0] == "category_id,label,added,removed,changed,kept"
    _check_churn_page(s3, third, browser, tmp_path, output, f"{lake_uri}/day1/img2.jpg")


def _check_churn_page(s3, summary, browser, tmp_path, output, image_id):
    """The page, copied out of the bucket and opened from disk: the one image labelled again, its
    first labels before and this run's now, every box with its outcome, as the churn counts them."""
    page = summary["relabel"]["churn_page"]
    s3.get(page.rsplit("/", 1)[0], str(tmp_path / "churn"), recursive=True)
    with opened(browser, tmp_path / "churn" / "index.html") as view:
        pairs = view.eval_on_selector_all(".side", "ps => ps.map(p => p.dataset.imageId)")
        sides = {side: view.eval_on_selector_all(
            f".side .{side} .box", "bs => bs.map(b => [b.dataset.label, parseFloat(b.dataset.score), b.className])")
            for side in ("before", "after")}
        loaded = view.eval_on_selector(".side .after img", "i => i.complete && i.naturalWidth > 0")
        view.screenshot(path=str(tmp_path / "churn.png"), full_page=True)
    assert pairs == [image_id] and loaded
    labels = open_dataset(output, partitioning="hive").to_table(filter=pds.field("image_id") == image_id).to_pylist()
    this_run = summary["relabel"]["partition"].rsplit("run=", 1)[1]
    rows = {"after" if r["run"] == this_run else "before": r for r in labels}
    for side, row in rows.items():
        assert sorted((b[0], b[1]) for b in sides[side]) == sorted(zip(row["labels"], row["scores"])), side
    totals = summary["relabel"]["churn_totals"]
    outcomes = [b[2].split()[1] for side in sides.values() for b in side]
    assert outcomes.count("removed") == totals["removed"] and outcomes.count("added") == totals["added"]
    assert outcomes.count("kept") == 2 * totals["kept"] and outcomes.count("changed") == 2 * totals["changed"]
    assert totals["added"] + totals["removed"] + totals["changed"] > 0


def test_killed_run_leaves_the_state_and_is_resumed(s3, lake, s3_env, capsys):
    lake_uri, output, photos = lake
    s3.pipe(f"{lake_uri}/img-base.jpg", photos[0])
    _run(capsys, lake_uri, output)
    before = s3.cat(f"{output}/_relabel/state.parquet")

    batch = [f"{lake_uri}/batch/img{i:02d}.jpg" for i in range(30)]
    for i, uri in enumerate(batch):
        s3.pipe(uri, photos[i % len(photos)])
    command = [sys.executable, str(REPO / "jobs" / "relabel.py"), "--model", "d0", "--weights", "random",
               "--device", "cpu", "--batch-size", "2", "--rows-per-file", "2", "--lake", lake_uri, "--output", output]

    def committed() -> int:
        pending = load_pending(output)  # the unfinished run's partition
        partition = pending and f"{output}/date={pending['date']}/run={pending['run']}"
        return len(committed_checkpoints(s3, partition)) if partition else 0

    with job_process(command, job_env()) as job:
        wait_while_running(job, lambda: committed() >= 2)
        assert job.poll() is None, "the run ended before it could be killed midway"
    _wait_until_settled(s3, output)
    assert s3.cat(f"{output}/_relabel/state.parquet") == before  # the state is as it was

    resumed = _run(capsys, lake_uri, output)
    assert resumed["relabel"]["resumed"] and 0 < resumed["images_total"] < 30
    rows = open_dataset(f"{output}/{resumed['relabel']['partition']}").to_table()
    assert sorted(rows["image_id"].to_pylist()) == sorted(batch)  # every image once, killed run's rows kept
    assert len(_state(s3, output)["uri"]) == 31
    assert _run(capsys, lake_uri, output)["images_total"] == 0
