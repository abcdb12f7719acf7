"""infer -> evaluate -> benchmark -> report on CPU with a real local Ray: the report's numbers are
the manifests', the metrics' and the benchmark's, and its files render."""
import json
import shutil
from html.parser import HTMLParser

import pytest
from PIL import Image

from effdet_batch.model import model_info
from jobs import benchmark as benchmark_cli
from jobs import evaluate as evaluate_cli
from jobs import infer as infer_cli
from jobs import report as report_cli

MODELS = ("d0", "d1")


class _Page(HTMLParser):
    """Checks that every opened tag is closed in order; collects cells and image sources."""

    VOID = {"meta", "img", "br", "hr", "link"}

    def __init__(self):
        super().__init__()
        self.stack, self.cells, self.images, self.rows = [], [], [], 0

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs)["src"])
        elif tag not in self.VOID:
            self.stack.append(tag)
        self.rows += tag == "tr"

    def handle_endtag(self, tag):
        assert self.stack.pop() == tag

    def handle_data(self, data):
        if "td" in self.stack and data.strip():
            self.cells.append(data.strip())


@pytest.fixture(scope="module")
def measured(ray_local, indoor85, tmp_path_factory):
    """Two models run on four photos, evaluated against their ground truth, and benchmarked."""
    root = tmp_path_factory.mktemp("e2e")
    instances = json.loads((indoor85 / "instances.json").read_text())
    images = instances["images"][:4]
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


def test_report_numbers_are_the_measured_ones(measured, capsys):
    root = measured
    capsys.readouterr()
    assert benchmark_cli.main(["--models", ",".join(MODELS), "--device", "cpu", "--batch-size", "1",
                               "--iterations", "2", "--warmup", "0"]) == 0
    (root / "bench.jsonl").write_text(capsys.readouterr().out)
    price = 0.4
    assert report_cli.main(["--runs", *(str(root / m) for m in MODELS), "--metrics", str(root),
                            "--benchmarks", str(root / "bench.jsonl"), "--gpu-hour-price", str(price),
                            "--min-images-per-second", "0.001", "--output", str(root / "report")]) == 0

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
        assert metrics["model"] == model and manifest["images_total"] == 4
        assert (row["AP"], row["AP50"]) == (metrics["AP"], metrics["AP50"])
        ips = manifest["images_per_second"] / manifest["device_count"]
        assert row["images_per_second"] == pytest.approx(ips, rel=1e-12)
        assert row["device_hours_per_million"] == pytest.approx(1e6 / ips / 3600, rel=1e-12)
        assert row["cost_per_million"] == pytest.approx(1e6 / ips / 3600 * price, rel=1e-12)
        for key in ("batch_latency_ms_p50", "batch_latency_ms_p95", "peak_memory_bytes", "batch_size"):
            assert row[key] == bench[model][key]
        assert (row["params"], row["macs"]) == (model_info(model)["params"], model_info(model)["macs"])
        assert (row["device_name"], row["precision"]) == (manifest["device_name"], manifest["precision"])
        assert f"| {metrics['AP']:.4f} | {metrics['AP50']:.4f} | " in markdown
        assert f" | {ips:.2f} | {1e6 / ips / 3600:.3f} | {1e6 / ips / 3600 * price:.2f} | " in markdown
    # Every model meets the speed floor: the most accurate (the cheaper on a tie) is named.
    best = max(rows.values(), key=lambda r: (r["AP"], -r["cost_per_million"]))
    assert report["selected"] == best["model"]
    assert f"**{best['model'].upper()}**" in markdown
    assert "random weights" in markdown

    page = _Page()
    page.feed((out / "report.html").read_text())
    assert page.stack == [] and page.rows == 1 + len(MODELS)
    assert [c for c in page.cells if c.startswith(("D0", "D1"))] == ["D0", "D1"]
    assert sorted(page.images) == ["accuracy_vs_cost.png", "throughput.png"]
    for name in page.images:
        with Image.open(out / name) as png:
            assert png.format == "PNG" and png.size[0] > 400
