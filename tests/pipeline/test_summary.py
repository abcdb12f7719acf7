"""The typed run summary: a manifest written before it existed still reads, field for field, and
through the report; unknown keys are kept; what is not a run summary is refused. (A real run's
manifest read back unchanged: tests/reports/test_end_to_end.py.)"""
import json
from dataclasses import fields
from pathlib import Path

import pytest

from effdet_batch.pipeline import RunSummary
from effdet_batch.reports import Criteria, build_report, load_runs

# Written by jobs/infer.py (d0, random weights, 3 sample photos, batch 2) before the typed summary.
OLD = Path(__file__).parent / "data" / "_manifest-before-typed-summary.json"
NEW_FIELDS = {"batches", "time_to_first_batch_seconds", "steady_images", "steady_seconds", "steady_images_per_second",
              "decode_cpu_seconds_per_image", "mean_image_bytes", "relabel", "nodes_lost"}


def test_a_manifest_from_before_the_typed_summary_reads_field_for_field():
    old = json.loads(OLD.read_text())
    summary = RunSummary.from_json(old)
    assert summary.extra == {}  # every key it has is a field
    back = summary.to_json()
    assert {k: back[k] for k in old} == old
    names = {f.name for f in fields(RunSummary)} - {"extra"}
    assert set(back) == names and names - set(old) == NEW_FIELDS | {"dry_run"}
    assert all(back[k] is None for k in NEW_FIELDS) and back["dry_run"] is False
    assert (summary.model, summary.images_total, summary.device_count, summary.labels["num_classes"]) == ("d0", 3, 1, 90)

    # The report reads it too, priced from the whole run (it has no steady state).
    (run,) = load_runs([str(OLD)])
    assert run == summary
    row = build_report([run], [], [], Criteria()).table.iloc[0]
    assert row["images_per_second"] == pytest.approx(old["images_per_second"])
    assert row["throughput_from"] == "1 whole run(s), start-up included"


def test_unknown_keys_are_kept_and_a_non_summary_is_refused():
    data = {"run_id": "r1", "model": "d0", "images_total": 2, "spot_price": [0.31]}
    summary = RunSummary.from_json(data)
    assert summary.extra == {"spot_price": [0.31]} and summary.images_total == 2
    assert summary.to_json()["spot_price"] == [0.31]
    with pytest.raises(ValueError, match="not a run summary: no model"):
        RunSummary.from_json({"run_id": "r1"})


def test_read_manifests_reads_the_runs_of_an_output_and_names_a_broken_one(tmp_path):
    from effdet_batch.errors import InputError
    from effdet_batch.pipeline.summary import manifest_uri, read_manifests

    out = tmp_path / "out"
    assert read_manifests(str(out)) == []  # not written yet
    out.mkdir()
    for run_id in ("r2", "r1"):
        Path(manifest_uri(str(out), run_id)).write_text(json.dumps({"run_id": run_id, "model": "d0"}))
    (out / "part-0.json").write_text("{}")  # not a manifest
    assert [s.run_id for s in read_manifests(str(out))] == ["r1", "r2"]

    (out / "_manifest-r3.json").write_text('{"run_id": "r3", "mod')  # a run killed while writing it
    with pytest.raises(InputError, match=r"^cannot read run manifest .*_manifest-r3\.json: "):
        read_manifests(str(out))
    assert [s.run_id for s in read_manifests(str(out), skip_unreadable=True)] == ["r1", "r2"]
