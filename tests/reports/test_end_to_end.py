"""infer -> evaluate -> benchmark -> report on CPU with a real local Ray: the report's numbers are
the manifests', the metrics' and the benchmark's, costs follow the steady-state speed, the
manifests read back through the typed summary unchanged, the files render, and the page shows the
same sample images under every model, each with its own boxes."""
import json
import shutil
from dataclasses import fields
from html.parser import HTMLParser

import pytest
from PIL import Image

from effdet_batch.model import model_info
from effdet_batch.pipeline import RunSummary
from effdet_batch.reports import load_runs
from jobs import benchmark as benchmark_cli
from jobs import evaluate as evaluate_cli
from jobs import infer as infer_cli
from jobs import report as report_cli
from tests.browser import BOXES_JS, opened

MODELS = ("d0", "d1")


class _Page(HTMLParser):
    """Checks that every opened tag is closed in order; collects cells and image sources outside
    the sample images' section (test_the_same_images_are_shown_under_every_model reads that)."""

    VOID = {"meta", "img", "br", "hr", "link", "input"}

    def __init__(self):
        super().__init__()
        self.stack, self.cells, self.images, self.rows = [], [], [], 0

    def handle_starttag(self, tag, attrs):
        samples = "section" in self.stack
        if tag == "img":
            self.images += [] if samples else [dict(attrs)["src"]]
        elif tag not in self.VOID:
            self.stack.append(tag)
        self.rows += tag == "tr" and not samples

    def handle_endtag(self, tag):
        assert self.stack.pop() == tag

    def handle_data(self, data):
        if "td" in self.stack and "section" not in self.stack and data.strip():
            self.cells.append(data.strip())


@pytest.fixture(scope="module")
def measured(ray_local, indoor85, tmp_path_factory):
    """Two models run on eight photos (four batches: a steady state of three after the first),
    evaluated against their ground truth."""
    root = tmp_path_factory.mktemp("e2e")
    instances = json.loads((indoor85 / "instances.json").read_text())
    images = instances["images"][:8]
    ids = {i["id"] for i in images}
    (root / "photos").mkdir()
    for image in images:
        shutil.copy(indoor85 / "images" / image["file_name"], root / "photos")
    gt = {**instances, "images": images, "annotations": [a for a in instances["annotations"] if a["image_id"] in ids]}
    (root / "instances.json").write_text(json.dumps(gt))
    for model in MODELS:
        assert infer_cli.main(["--model", model, "--input", str(root / "photos"), "--output", str(root / model),
                               "--weights", "random", "--device", "cpu", "--batch-size", "2",
                               "--run-id", f"run-{model}"]) == 0
        assert evaluate_cli.main(["--predictions", str(root / model), "--annotations", str(root / "instances.json"),
                                  "--output", str(root / f"eval-{model}"), "--categories", "name"]) == 0
    return root


def test_the_manifest_reads_back_through_the_typed_summary_unchanged(measured):
    for model in MODELS:
        uri = measured / model / f"_manifest-run-{model}.json"
        manifest = json.loads(uri.read_text())
        assert set(manifest) == {f.name for f in fields(RunSummary)} - {"extra"}  # the job writes every field
        summary = RunSummary.from_json(manifest)
        assert summary.extra == {} and summary.to_json() == manifest and load_runs([str(uri)]) == [summary]
        # The batch figures of 8 images in batches of 2, one actor: the steady state is batches 2 to 4.
        assert (summary.images_total, summary.batches, summary.steady_images) == (8, 4, 6)
        assert 0 < summary.time_to_first_batch_seconds < summary.wall_seconds
        assert 0 < summary.steady_seconds < summary.wall_seconds - summary.time_to_first_batch_seconds
        assert summary.steady_images_per_second == pytest.approx(6 / summary.steady_seconds, rel=1e-2)
        assert summary.steady_images_per_second > summary.images_per_second  # start-up is left out
        assert summary.decode_cpu_seconds_per_image > 0 and summary.mean_image_bytes > 10_000


def test_report_numbers_are_the_measured_ones(measured, capsys):
    root = measured
    capsys.readouterr()
    assert benchmark_cli.main(["--models", ",".join(MODELS), "--device", "cpu", "--batch-size", "1",
                               "--iterations", "2", "--warmup", "0"]) == 0
    (root / "bench.jsonl").write_text(capsys.readouterr().out)
    price = 0.4
    assert report_cli.main(["--runs", *(str(root / m) for m in MODELS), "--metrics", str(root),
                            "--benchmarks", str(root / "bench.jsonl"), "--gpu-hour-price", str(price),
                            "--min-images-per-second", "0.001", "--images-per-night", "100000",
                            "--output", str(root / "report")]) == 0

    out = root / "report"
    report = json.loads((out / "report.json").read_text())
    rows = {r["model"]: r for r in report["models"]}
    assert list(rows) == list(MODELS) and report["device"] == "cpu"
    bench = {r["model"]: r for r in map(json.loads, (root / "bench.jsonl").read_text().splitlines())
             if r["benchmark"] == "predict"}
    markdown = (out / "report.md").read_text()
    for model in MODELS:
        manifest = json.loads((root / model / f"_manifest-run-{model}.json").read_text())
        metrics = json.loads((root / f"eval-{model}" / "metrics.json").read_text())
        row = rows[model]
        assert metrics["model"] == model and manifest["images_total"] == 8
        assert (row["AP"], row["AP50"]) == (metrics["AP"], metrics["AP50"])
        ips = manifest["steady_images"] / manifest["steady_seconds"] / manifest["device_count"]
        assert row["images_per_second"] == pytest.approx(ips, rel=1e-12)
        assert row["throughput_from"] == "steady state of 1 run(s)"
        assert row["startup_seconds"] == manifest["time_to_first_batch_seconds"]
        assert row["device_hours_per_million"] == pytest.approx(1e6 / ips / 3600, rel=1e-12)
        assert row["cost_per_million"] == pytest.approx(1e6 / ips / 3600 * price, rel=1e-12)
        for key in ("batch_latency_ms_p50", "batch_latency_ms_p95", "peak_memory_bytes", "batch_size"):
            assert row[key] == bench[model][key]
        assert (row["params"], row["macs"]) == (model_info(model)["params"], model_info(model)["macs"])
        assert (row["device_name"], row["precision"]) == (manifest["device_name"], manifest["precision"])
        assert f"| {metrics['AP']:.4f} | {metrics['AP50']:.4f} | " in markdown
        startup = manifest["time_to_first_batch_seconds"]
        assert f" | {ips:.2f} | {startup:.1f} | {1e6 / ips / 3600:.3f} | {1e6 / ips / 3600 * price:.2f} | " in markdown
    # D0 is 2.5x smaller than D1 in MACs: cheaper per million in steady state, whatever the start-ups.
    assert rows["d0"]["cost_per_million"] < rows["d1"]["cost_per_million"]
    # Every model meets the speed floor: the most accurate (the cheaper on a tie) is named.
    best = max(rows.values(), key=lambda r: (r["AP"], -r["cost_per_million"]))
    assert report["selected"] == best["model"]
    assert f"**{best['model'].upper()}**" in markdown
    # The capacity plan is the selected model's, from its measured speed, start-up and decode cost.
    plan = report["capacity_plan"]
    assert (plan["model"], plan["unit"], plan["images_per_night"]) == (best["model"].upper(), "CPU node", 100_000)
    assert (plan["images_per_second"], plan["startup_seconds"]) == (best["images_per_second"], best["startup_seconds"])
    assert plan["decode_cores_per_device"] == pytest.approx(
        best["decode_cpu_seconds_per_image"] * best["images_per_second"], rel=1e-12)
    assert "## Capacity plan: 100,000 images per night within 8 hours" in markdown
    assert "random weights" in markdown

    page = _Page()
    page.feed((out / "report.html").read_text())
    assert page.stack == [] and page.rows == 1 + len(MODELS)
    assert [c for c in page.cells if c.startswith(("D0", "D1"))] == ["D0", "D1"]
    assert sorted(page.images) == ["accuracy_vs_cost.png", "throughput.png"]
    for name in page.images:
        with Image.open(out / name) as png:
            assert png.format == "PNG" and png.size[0] > 400


def test_the_same_images_are_shown_under_every_model(measured, browser):
    import pyarrow.parquet as pq

    root = measured
    assert report_cli.main(["--runs", *(str(root / m) for m in MODELS), "--metrics", str(root),
                            "--output", str(root / "report-samples")]) == 0
    with opened(browser, root / "report-samples" / "report.html") as page:
        columns = page.eval_on_selector_all(
            "#samples td.sample", "cs => cs.map(c => [c.dataset.model, c.querySelector('figure').dataset.imageId])")
        cards = page.evaluate(BOXES_JS)
        page.eval_on_selector("#min-score", "e => { e.value = '0'; e.dispatchEvent(new Event('input')); }")
        page.screenshot(path=str(root / "report.png"), full_page=True)
    shown = {m: [i for model, i in columns if model == m] for m in MODELS}
    assert len(shown["d0"]) == 6 and all(ids == shown["d0"] for ids in shown.values())
    assert all(c["loaded"] for c in cards)
    for (model, image_id), card in zip(columns, cards):  # each model's own detections, all of them
        row = next(r for r in pq.read_table(root / model).to_pylist() if r["image_id"] == image_id)
        assert card["id"] == image_id
        assert sorted((b["label"], b["score"]) for b in card["boxes"]) == sorted(zip(row["labels"], row["scores"]))
