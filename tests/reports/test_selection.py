"""The model-selection table on constructed measurements: throughput over several runs, cost,
the Pareto front, the choice under a budget or a speed floor, the charts, and misuse."""
import json

import pandas as pd
import pytest

from effdet_batch.errors import ConfigError
from effdet_batch.model import model_info
from effdet_batch.pipeline import RunSummary
from effdet_batch.reports import Criteria, build_report
from effdet_batch.reports.charts import accuracy_cost_figure, throughput_figure
from effdet_batch.reports.render import markdown
from jobs import report as report_cli


def _run(model, images, ips, devices=1, device="cuda", **extra):
    """A run summary of `images` at `ips` images/s (whole run) on `devices`; steady-state fields in `extra`."""
    return RunSummary(**{"run_id": f"{model}-run", "model": model, "images_total": images, "images_per_second": ips,
                         "device": device, "device_count": devices, "device_name": "NVIDIA H100", "precision": "bf16",
                         "weights": "official", **extra})


def _metrics(model, ap):
    return {"model": model, "AP": ap, "AP50": ap + 0.2, "_source": f"{model}/metrics.json"}


# AP and images/s per GPU; at 3.6 per GPU-hour a million images cost 1000 / (images/s).
MODELS = {"d0": (0.30, 100.0), "d1": (0.35, 50.0), "d2": (0.33, 30.0), "d3": (0.40, 20.0)}


def _report(**criteria):
    runs = [_run(m, 1000, ips) for m, (_, ips) in MODELS.items()]
    return build_report(runs, [_metrics(m, ap) for m, (ap, _) in MODELS.items()], [], Criteria(**criteria))


def test_cost_pareto_front_and_selection():
    report = _report(gpu_hour_price=3.6)
    t = report.table.set_index("model")
    assert list(t.index) == ["d0", "d1", "d2", "d3"]
    for model, (ap, ips) in MODELS.items():
        assert t.loc[model, "AP"] == ap and t.loc[model, "images_per_second"] == pytest.approx(ips, rel=1e-12)
        assert t.loc[model, "device_hours_per_million"] == pytest.approx(1e6 / ips / 3600, rel=1e-12)
        assert t.loc[model, "cost_per_million"] == pytest.approx(1000 / ips, rel=1e-12)
        assert (t.loc[model, "params"], t.loc[model, "macs"]) == (model_info(model)["params"], model_info(model)["macs"])
    # d2 is less accurate than d1 and costs more: the only one off the front.
    assert list(t.index[t["pareto"]]) == ["d0", "d1", "d3"]
    assert report.selected is None  # nothing asked

    assert _report(gpu_hour_price=3.6, budget_per_million=25).selected == "d1"
    assert _report(gpu_hour_price=3.6, budget_per_million=50).selected == "d3"
    assert _report(gpu_hour_price=3.6, budget_per_million=5).selected is None
    assert _report(min_images_per_second=40).selected == "d1"
    assert _report(min_images_per_second=60).selected == "d0"
    assert _report(gpu_hour_price=3.6, budget_per_million=25, min_images_per_second=60).selected == "d0"
    text = markdown(_report(gpu_hour_price=3.6, budget_per_million=5))
    assert "No model has cost at most 5 per million images" in text


def test_throughput_over_several_runs_is_images_per_device_second():
    # 100 images at 50/s on 1 GPU (2 GPU-s) and 300 at 150/s on 2 GPUs (4 GPU-s): 400 / 6.
    runs = [_run("d0", 100, 50.0), _run("d0", 300, 150.0, devices=2),
            _run("d0", 0, 0.0), _run("d0", None, None, dry_run=True)]
    report = build_report(runs, [], [], Criteria())
    assert report.table["images_per_second"].item() == pytest.approx(400 / 6, rel=1e-12)
    assert report.table["throughput_from"].item() == "2 whole run(s), start-up included"
    assert any("2 run manifest(s) with no images" in n for n in report.notes)
    assert report.table["cost_per_million"].isna().all() and report.unit == "GPU"


def test_benchmark_records_give_latency_memory_and_throughput_without_runs():
    bench = [{"benchmark": "forward", "model": "d4", "images_per_second": 999.0, "device": "cuda", "_source": "b"},
             {"benchmark": "predict", "model": "d4", "images_per_second": 80.0, "batch_latency_ms_p50": 100.0,
              "batch_latency_ms_p95": 120.0, "peak_memory_bytes": 3 * 2**30, "batch_size": 8, "device": "cuda",
              "device_name": "NVIDIA H100", "precision": "fp16", "weights": "random", "_source": "b"}]
    report = build_report([], [_metrics("d4", 0.5)], bench, Criteria(gpu_hour_price=2.0))
    row = report.table.iloc[0]
    assert (row["images_per_second"], row["batch_latency_ms_p50"], row["batch_latency_ms_p95"]) == (80.0, 100.0, 120.0)
    assert row["peak_memory_bytes"] == 3 * 2**30 and row["throughput_from"] == "benchmark"
    assert row["cost_per_million"] == pytest.approx(1e6 / 80 / 3600 * 2.0)
    # The AP is of the official weights; the benchmark's random weights only timed the network.
    assert not any("random weights" in n for n in report.notes)
    assert "| D4 | 0.5000 | 0.7000 | 49.3 | 80.00 |" in markdown(report)
    alone = build_report([], [], bench, Criteria(gpu_hour_price=2.0))
    assert any("random weights (smoke runs): D4." in n for n in alone.notes)
    # A model without a benchmark beside one with: its cells are empty, the other's batch size shown.
    mixed = markdown(build_report([], [_metrics("d4", 0.5), _metrics("d5", 0.6)], bench, Criteria()))
    lines = [[c.strip() for c in line.split("|")[1:-1]] for line in mixed.splitlines() if line.startswith("| ")]
    rows = {row[0]: dict(zip(lines[0], row)) for row in lines[1:]}
    columns = ("batch latency p50 / p95 ms", "batch size")
    assert [rows["D4"][c] for c in columns] == ["100.0 / 120.0", "8"] and [rows["D5"][c] for c in columns] == ["", ""]


def test_candidates_are_variant_weights_and_label_set():
    # The official D0 and the same variant fine-tuned on 3 classes are two rows; only the official
    # weights with COCO's classes carry the published AP, and the fine-tuned head's size is its own.
    labels = {"source": "labels.json", "sha256": "ab" * 32, "num_classes": 3}
    custom_run = _run("d0", 200, 40.0, weights="/ckpt/d0_3class_train.pth.tar", labels=labels)
    custom_metrics = {**_metrics("d0", 0.6), "weights": "/ckpt/d0_3class_train.pth.tar", "labels_sha256": "ab" * 32}
    report = build_report([_run("d0", 1000, 100.0), custom_run], [_metrics("d0", 0.3), custom_metrics], [],
                          Criteria(gpu_hour_price=3.6, budget_per_million=30))
    t = report.table.set_index("model")
    assert list(t.index) == ["d0", "d0 d0_3class_train labels:abababab"]
    official, custom = t.loc["d0"], t.loc["d0 d0_3class_train labels:abababab"]
    assert (official["AP"], official["published_coco_ap"], official["images_per_second"]) == (0.3, 34.3, 100.0)
    assert custom["AP"] == 0.6 and pd.isna(custom["published_coco_ap"]) and custom["images_per_second"] == 40.0
    assert custom["params"] == model_info("d0", num_classes=3)["params"] < official["params"]
    assert report.selected == "d0 d0_3class_train labels:abababab"  # 25 per million, within the budget
    assert "| **D0 d0_3class_train labels:abababab** (selected) | 0.6000 | 0.8000 |  | 40.00 |" in markdown(report)


def test_charts_have_one_labelled_point_per_model_and_the_front():
    report = _report(gpu_hour_price=3.6, budget_per_million=25)
    (ax,) = accuracy_cost_figure(report).axes
    assert ax.get_xlabel().startswith("cost per million images") and ax.get_ylabel().startswith("AP")
    points = ax.collections[0].get_offsets()
    assert len(points) == 4 and sorted(points[:, 1].tolist()) == sorted(ap for ap, _ in MODELS.values())
    assert sorted(t.get_text() for t in ax.texts) == ["D0", "D1", "D2", "D3"]
    (front,) = [line for line in ax.lines if line.get_label() == "Pareto front"]
    assert list(front.get_xdata()) == pytest.approx([10, 20, 50])
    (bars,) = throughput_figure(report).axes
    assert [p.get_height() for p in bars.patches] == pytest.approx([100, 50, 30, 20])
    assert bars.get_ylabel() == "images/s per GPU"


def test_ambiguous_or_inconsistent_inputs_are_refused():
    with pytest.raises(ConfigError, match="needs --gpu-hour-price"):
        Criteria(budget_per_million=1.0)
    with pytest.raises(ConfigError, match="two metrics for d0"):
        build_report([], [_metrics("d0", 0.3), _metrics("d0", 0.31)], [], Criteria())
    with pytest.raises(ConfigError, match="two metrics for d0 mine"):
        mine = {"weights": "s3://ckpt/mine.pth"}
        build_report([], [{**_metrics("d0", 0.3), **mine}, {**_metrics("d0", 0.31), **mine}], [], Criteria())
    with pytest.raises(ConfigError, match="several models"):
        build_report([], [_metrics(None, 0.3)], [], Criteria())
    with pytest.raises(ConfigError, match="cannot share one price"):
        build_report([_run("d0", 10, 5.0), _run("d1", 10, 1.0, device="cpu")], [], [], Criteria())


def test_cli_misuse_is_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        report_cli.main(["--output", str(tmp_path / "r")])
    assert exit_info.value.code == 2
    with pytest.raises(SystemExit) as exit_info:
        report_cli.main(["--metrics", "m.json", "--gpu-hour-price", "-2", "--output", str(tmp_path / "r")])
    assert exit_info.value.code == 2 and "expected a positive number" in capsys.readouterr().err
    assert report_cli.main(["--runs", str(tmp_path / "nope"), "--output", str(tmp_path / "r")]) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("error: report input")
    bad = tmp_path / "metrics.json"
    bad.write_text(json.dumps({"AP": 0.1}))
    assert report_cli.main(["--metrics", str(bad), "--output", str(tmp_path / "r")]) == 1
    assert "is not metrics of jobs/evaluate.py: no model, AP50" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_inputs_with_nothing_to_report_are_one_line(tmp_path, capsys):
    # A dry run's manifest and a forward-pass record: inputs that parse, but no row to show.
    manifest = tmp_path / "_manifest-dry.json"
    manifest.write_text(json.dumps(_run("d0", 0, None, dry_run=True).to_json()))
    bench = tmp_path / "bench.jsonl"
    bench.write_text(json.dumps({"benchmark": "forward", "model": "d0", "images_per_second": 9.0, "device": "cpu"}))
    assert report_cli.main(["--runs", str(manifest), "--benchmarks", str(bench), "--output", str(tmp_path / "r")]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "error: nothing to report: the inputs hold no metrics, no run that labelled images and no predict "
        "benchmark record")
    assert not (tmp_path / "r").exists()


def test_cost_follows_the_steady_state_whatever_the_start_up():
    # The case: over whole 4-image runs D1 looks faster than D0 (start-up dominates), but
    # from the first finished batch on D0 is 2.5x faster. D2's run is too short for a steady state:
    # it is priced from its benchmark; D3 has only a whole run (an older manifest) and no benchmark.
    runs = [_run("d0", 4, 0.72, time_to_first_batch_seconds=5.0, steady_images=2, steady_seconds=0.2,
                 steady_images_per_second=10.0),
            _run("d1", 4, 1.22, time_to_first_batch_seconds=2.5, steady_images=2, steady_seconds=0.5,
                 steady_images_per_second=4.0),
            _run("d2", 2, 0.5, time_to_first_batch_seconds=3.0, steady_images=0, steady_seconds=0.0),
            _run("d3", 4, 0.4)]
    bench = [{"benchmark": "predict", "model": "d2", "images_per_second": 3.0, "device": "cuda", "_source": "b"}]
    report = build_report(runs, [_metrics(m, ap) for m, (ap, _) in MODELS.items()], bench,
                          Criteria(gpu_hour_price=3.6))
    t = report.table.set_index("model")
    assert t.loc["d0", "images_per_second"] == pytest.approx(10.0) and t.loc["d1", "images_per_second"] == 4.0
    assert t.loc["d0", "cost_per_million"] < t.loc["d1", "cost_per_million"]
    assert (t.loc["d0", "cost_per_million"], t.loc["d1", "cost_per_million"]) == (pytest.approx(100.0), pytest.approx(250.0))
    assert list(t["throughput_from"]) == ["steady state of 1 run(s)", "steady state of 1 run(s)", "benchmark",
                                          "1 whole run(s), start-up included"]
    assert (t.loc["d2", "images_per_second"], t.loc["d3", "images_per_second"]) == (3.0, pytest.approx(0.4))
    assert list(t["startup_seconds"].iloc[:3]) == [5.0, 2.5, 3.0] and pd.isna(t.loc["d3", "startup_seconds"])
    assert any("used for D2, whose runs are too short for a steady state" in n for n in report.notes)
    assert any(n.startswith("Throughput from whole runs includes their start-up") for n in report.notes)
    assert "| D0 | 0.3000 | 0.5000 | 34.3 | 10.00 | 5.0 | 27.778 | 100.00 |" in markdown(report)

    # Several runs: steady images over steady device-seconds (2 GPUs on the second).
    two = build_report([runs[0], _run("d0", 40, 3.0, devices=2, time_to_first_batch_seconds=7.0, steady_images=36,
                                      steady_seconds=2.0, steady_images_per_second=18.0)], [], [], Criteria())
    row = two.table.iloc[0]
    assert row["images_per_second"] == pytest.approx(38 / (0.2 + 4.0)) and row["startup_seconds"] == 6.0
    assert row["throughput_from"] == "steady state of 2 run(s)"
