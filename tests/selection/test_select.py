"""jobs/select.py end to end on CPU with a real local Ray: D0 and D1 over a sample of 12 indoor85
photos, killed during D1 and rerun. Both runs hold exactly the sample; each metrics file is
jobs/evaluate.py's on its run against the sample's ground truth; the report's rows are those
metrics and the benchmark records; a budget only one model meets chooses it; nothing D0 finished
was redone by the rerun; every output says SMOKE. One selection (killed, then finished) serves all."""
import json
import re
import subprocess
import sys

import fsspec
import pyarrow.dataset as pds
import pytest

from jobs import evaluate as evaluate_cli
from jobs import select as select_cli
from tests.helpers import REPO, committed_checkpoints, job_env, job_process, wait_while_running

SAMPLE = 12


def _args(indoor85, out, *extra):
    return ["--models", "d0,d1", "--smoke", "--weights", "random", "--sample", str(SAMPLE),
            "--input", str(indoor85 / "images"), "--annotations", str(indoor85 / "instances.json"),
            "--output", str(out), "--device", "cpu", "--batch-size", "2", "--rows-per-file", "2",
            "--bench-iterations", "1", "--gpu-hour-price", "1", *extra]


def _files(folder):
    """Every file under `folder`: its bytes and mtime."""
    return {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def selection(indoor85, tmp_path_factory):
    out = tmp_path_factory.mktemp("select") / "sel"
    command = [sys.executable, str(REPO / "jobs" / "select.py"), *_args(indoor85, out)]
    env = job_env()
    with job_process(command, env) as first:  # killed once D1's run has committed rows
        wait_while_running(first, lambda: len(committed_checkpoints(fsspec.filesystem("file"),
                                                                    str(out / "runs" / "d1"))) >= 1, timeout=400)
        assert first.poll() is None, "the first selection ended before it could be killed during D1"
    assert not (out / "metrics" / "d1").exists()
    d0 = {**_files(out / "runs" / "d0"), **_files(out / "metrics" / "d0"), **_files(out / "bench")}
    assert out / "bench" / "d0.json" in d0 and out / "metrics" / "d0" / "metrics.json" in d0

    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    return {"out": out, "d0": d0, "stderr": second.stderr, "summary": json.loads(second.stdout.splitlines()[-1])}


def test_rerun_after_a_kill_redoes_nothing_finished(selection):
    out, summary = selection["out"], selection["summary"]
    assert {**_files(out / "runs" / "d0"), **_files(out / "metrics" / "d0"),
            **{p: v for p, v in _files(out / "bench").items() if p.name == "d0.json"}} == selection["d0"]
    assert summary["models"]["d0"]["stages"] == dict.fromkeys(("run", "evaluation", "benchmark"), "kept")
    assert summary["models"]["d1"]["stages"] == dict.fromkeys(("run", "evaluation", "benchmark"), "done")
    stages = [line for line in selection["stderr"].splitlines() if re.match(r"\[\d/2\] ", line)]
    assert [line.split(":")[0] for line in stages] == [f"[{i}/2] {m} {s}" for i, m in ((1, "d0"), (2, "d1"))
                                                       for s in ("run", "evaluation", "benchmark")]
    assert "[2/2] d1 run: " in selection["stderr"] and ", resumed from " in selection["stderr"]


def test_both_runs_hold_exactly_the_sample(selection):
    out = selection["out"]
    manifest = [line for line in (out / "sample" / "images.txt").read_text().splitlines()
                if not line.startswith("#")]
    gt = json.loads((out / "sample" / "instances.json").read_text())
    assert len(manifest) == SAMPLE == len(set(manifest)) == len(gt["images"])
    assert sorted(u.rsplit("/", 1)[1] for u in manifest) == sorted(i["file_name"] for i in gt["images"])
    for model in ("d0", "d1"):
        ids = pds.dataset(str(out / "runs" / model), format="parquet").to_table(columns=["image_id"])
        assert sorted(ids["image_id"].to_pylist()) == sorted(manifest)


def test_metrics_are_evaluate_py_on_each_run_against_the_sample(selection, tmp_path):
    out = selection["out"]
    for model in ("d0", "d1"):
        assert evaluate_cli.main(["--predictions", str(out / "runs" / model), "--annotations",
                                  str(out / "sample" / "instances.json"), "--output", str(tmp_path / model)]) == 0
        expected = json.loads((tmp_path / model / "metrics.json").read_text())
        assert json.loads((out / "metrics" / model / "metrics.json").read_text()) == expected
        assert expected["images_gt"] == expected["images_evaluated"] == SAMPLE


def test_report_rows_are_the_metrics_and_the_benchmarks_and_say_smoke(selection):
    out, summary = selection["out"], selection["summary"]
    report = json.loads((out / "report" / "report.json").read_text())
    rows = {r["model"]: r for r in report["models"]}
    assert list(rows) == ["d0", "d1"] and report["device"] == "cpu"
    for model in ("d0", "d1"):
        metrics = json.loads((out / "metrics" / model / "metrics.json").read_text())
        bench = [json.loads(line) for line in (out / "bench" / f"{model}.json").read_text().splitlines()]
        predict = next(r for r in bench if r["benchmark"] == "predict")
        row = rows[model]
        assert (row["AP"], row["AP50"]) == (metrics["AP"], metrics["AP50"])
        for key in ("batch_latency_ms_p50", "batch_latency_ms_p95", "batch_size", "peak_memory_bytes"):
            assert row[key] == predict[key], key
        assert predict["device"] == "cpu" and predict["candidate"] == model and predict["iterations"] == 1
        if row["throughput_from"] == "benchmark":
            assert row["images_per_second"] == predict["images_per_second"]
        mine = summary["models"][model]
        assert {k: mine[k] for k in ("AP", "images_per_second", "cost_per_million")} == \
               {k: row[k] for k in ("AP", "images_per_second", "cost_per_million")}
        # Priced from the row's own throughput at the run's price (1 per GPU-hour): a timed figure,
        # so no order between the models is asserted (a busy machine can slow either).
        assert row["cost_per_million"] == pytest.approx(1e6 / row["images_per_second"] / 3600)
    assert summary["smoke"] is True and "SMOKE" in summary["warning"]
    assert "SMOKE" in report["notes"][0] and "SMOKE" in (out / "report" / "report.md").read_text()
    assert "SMOKE" in selection["stderr"].split("report: ", 1)[1]  # the one-screen summary

    # The same sample images under each model, side by side (drawn and checked in a browser by
    # tests/reports/test_end_to_end.py; here: the selection's report has them, for both models).
    html = (out / "report" / "report.html").read_text()
    cells = re.findall(r'<td class="sample" data-model="([^"]+)">\s*<figure[^>]*data-image-id="([^"]+)"', html)
    by_model = {m: [i for mm, i in cells if mm == m] for m in ("d0", "d1")}
    assert by_model["d0"] and by_model["d0"] == by_model["d1"]


def test_a_budget_only_one_model_meets_chooses_it(selection, indoor85, capsys):
    out, summary = selection["out"], selection["summary"]
    assert summary["chosen"] is None  # no criterion given
    cheap, dear = sorted(("d0", "d1"), key=lambda m: summary["models"][m]["cost_per_million"])
    budget = (summary["models"][cheap]["cost_per_million"] + summary["models"][dear]["cost_per_million"]) / 2
    capsys.readouterr()
    # Everything is finished: only the report is made again, in either order of the candidates.
    argv = _args(indoor85, out, "--budget-per-million", f"{budget}")
    argv[1] = "d1,d0"
    assert select_cli.main(argv) == 0
    chosen = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert chosen["chosen"] == cheap
    assert all(s == "kept" for m in chosen["models"].values() for s in m["stages"].values())
    report = json.loads((out / "report" / "report.json").read_text())
    assert report["selected"] == cheap and report["criteria"]["budget_per_million"] == budget


def test_dry_run_draws_the_sample_and_writes_nothing(indoor85, tmp_path, capsys):
    out = tmp_path / "sel"
    assert select_cli.main(_args(indoor85, out, "--dry-run")) == 0
    summary = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert summary["dry_run"] and summary["sample"] == {"images": SAMPLE, "requested": SAMPLE, "matched": 85,
                                                       "seed": 0}
    assert list(summary["models"]) == ["d0", "d1"] and summary["smoke"] is True
    assert list(out.iterdir()) == []  # the output was probed, and nothing was written
