"""The capacity plan's arithmetic on constructed measurements, and the plan in the report."""
import json

import pytest

from effdet_batch.errors import ConfigError
from effdet_batch.pipeline import RunSummary
from effdet_batch.reports import Criteria, build_report
from effdet_batch.reports.capacity import S3_GETS_PER_PREFIX, plan_capacity
from effdet_batch.reports.render import as_json, markdown


def test_a_plan_under_the_request_limit():
    # 10 M images at 350/s per GPU after 25 s of start-up, in 8 h: 10e6 / (350 x 28,775) = 0.993 -> 1 GPU.
    p = plan_capacity("D0", "GPU", 10_000_000, 8, 350.0, startup_seconds=25.0, decode_cpu_seconds_per_image=0.025,
                      mean_image_bytes=300_000, price=2.5)
    assert p.devices == 1
    assert p.hours == pytest.approx((25 + 10_000_000 / 350) / 3600)
    assert p.device_hours == pytest.approx(p.hours) and p.cost == pytest.approx(p.hours * 2.5)
    assert p.decode_cores_per_device == pytest.approx(8.75)
    assert p.requests_per_second == 350.0 and p.shard_images is None and p.prefixes == 1
    text = "\n".join(p.lines)
    assert "N = ceil(M / (r x (3600 H - s))) = ceil(10,000,000 / (350 x 28,775)) = ceil(0.993) = 1." in text
    assert "T = (s + M / (N r)) / 3600 = (25 + 10,000,000 / (1 x 350)) / 3600 = 7.94 h." in text
    assert "cost at 2.50 per GPU-hour: 7.94 x 2.50 = 19.86." in text
    assert "0.025 CPU s/image x 350 images/s = 8.75 cores per GPU: at least 9 CPU cores per GPU (9 in all)" in text
    assert "350 GET/s against S3's 5,500 per prefix" in text and "image files will do" in text


def test_a_plan_over_the_request_limit_needs_shards_or_prefixes():
    # 200 M images at 2,000/s per GPU in 6 h: ceil(200e6 / (2,000 x 21,575)) = ceil(4.63) = 5 GPUs,
    # 10,000 images/s: over 5,500 GET/s as files; shards of ceil(10,000 / 5,500) = 2 images of 3 MB
    # are one 50 MiB read each: 5,000 GET/s.
    p = plan_capacity("D0", "GPU", 200_000_000, 6, 2000.0, 25.0, 0.012, 3_000_000, 2.5)
    assert (p.devices, p.requests_per_second, p.shard_images, p.shard_requests_per_second, p.prefixes) == (
        5, 10_000.0, 2, 5_000.0, 1)
    assert p.hours == pytest.approx((25 + 200_000_000 / (5 * 2000)) / 3600)
    assert p.decode_cores_per_device == pytest.approx(24.0)
    assert "ceil(200,000,000 / (2,000 x 21,575)) = ceil(4.63) = 5." in p.lines[1]
    assert "shards of at least n = ceil(10,000 / 5,500) = 2 images" in p.lines[-1]
    assert "Image files instead need ceil(10,000 / 5,500) = 2 prefixes." in p.lines[-1]

    # Images so large that a shard's reads alone exceed the limit: 40 MB each, 110,000 images/s in
    # all: 20 per shard, 800 MB = 16 reads of 50 MiB: 110,000 / 20 x 16 = 88,000 GET/s, 16 prefixes.
    big = plan_capacity("D7", "GPU", 3_960_000_000, 10, 11_000.0, None, None, 40e6, None)
    assert (big.devices, big.shard_images, big.prefixes) == (10, 20, 16)
    assert big.shard_requests_per_second == pytest.approx(110_000 / 20 * 16)
    assert big.cost is None and "no price given" in big.lines[3] and "not measured" in big.lines[4]
    assert big.shard_requests_per_second / big.prefixes <= S3_GETS_PER_PREFIX


def test_start_up_counts_once_and_cpu_nodes_decode_within_their_rate():
    p = plan_capacity("D0", "CPU node", 100_000, 1, 10.0, startup_seconds=600.0, decode_cpu_seconds_per_image=0.05)
    assert p.devices == 4  # 100,000 / (10 x 3,000) = 3.33: the start-up takes a sixth of the hour
    assert p.hours == pytest.approx((600 + 100_000 / 40) / 3600)
    assert "0.5 of each node's cores, within its measured rate" in p.lines[4]
    with pytest.raises(ConfigError, match="longer than the night"):
        plan_capacity("D0", "GPU", 1000, 0.1, 10.0, startup_seconds=400.0)


def _run(model, steady, startup, decode):
    return RunSummary(run_id=f"run-{model}", model=model, weights="official", images_total=100, images_per_second=1.0,
                      device="cuda", device_count=1, device_name="NVIDIA H100", precision="bf16",
                      time_to_first_batch_seconds=startup, steady_images=99, steady_seconds=99 / steady,
                      steady_images_per_second=steady, decode_cpu_seconds_per_image=decode, mean_image_bytes=2e6)


def test_the_report_plans_the_selected_model_from_its_measurements(tmp_path):
    runs = [_run("d0", 400.0, 20.0, 0.02), _run("d2", 150.0, 30.0, 0.03)]
    metrics = [{"model": "d0", "AP": 0.3, "AP50": 0.5, "_source": "a"}, {"model": "d2", "AP": 0.4, "AP50": 0.6,
                                                                          "_source": "b"}]
    criteria = Criteria(gpu_hour_price=2.0, budget_per_million=10.0, images_per_night=5_000_000, night_hours=6)
    report = build_report(runs, metrics, [], criteria)
    assert report.selected == "d2"  # 1e6 / 150 / 3600 x 2 = 3.70 per million
    assert report.plan == plan_capacity("D2", "GPU", 5_000_000, 6, 150.0, 30.0, 0.03, 2e6, 2.0)
    assert report.plan.devices == 2  # 5e6 / (150 x 21,570) = 1.55
    text = markdown(report)
    assert "## Capacity plan: 5,000,000 images per night within 6 hours" in text
    assert all(f"- {line}" in text for line in report.plan.lines)
    assert json.loads(json.dumps(as_json(report)))["capacity_plan"]["devices"] == 2

    unselected = build_report(runs, metrics, [], Criteria(images_per_night=1000))
    assert unselected.selected is None and unselected.plan.model == "D2"
    assert any("the capacity plan is for the most accurate one measured, D2" in n for n in unselected.notes)
    assert build_report(runs, metrics, [], Criteria()).plan is None
