"""The model-selection table: per candidate model, accuracy, throughput per device, device-hours and
cost per million images, batch latency, peak memory and size; the candidates on the Pareto front of
accuracy against cost; and the most accurate one under a budget or a speed floor.

A candidate is a variant with its weights and label set: the official D0 and a D0 fine-tuned on
12 classes are two rows. Throughput and cost depend on the variant only, so a benchmark record
(of the model alone) serves every candidate of its variant.

Costs are priced from the steady state: the runs' images/s from their first finished batch to the
last, start-up shown apart as a fixed cost per run; where no run is long enough to have a steady
state, from the model-alone benchmark; the table says which (`throughput_from`)."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..errors import ConfigError
from ..model import DETECTORS, get_spec, model_info
from ..model.labels import coco_labels
from ..pipeline.summary import RunSummary
from ..uri import basename
from .capacity import CapacityPlan, plan_capacity

__all__ = ["Criteria", "Report", "Candidate", "build_report", "display_name", "pareto_front", "most_accurate"]

SECONDS_PER_HOUR = 3600
MILLION = 1_000_000


@dataclass(frozen=True)
class Criteria:
    """What the user prices and requires. The price is of one device-hour: a GPU-hour, or a CPU
    node-hour when the measurements are on CPU. With `images_per_night`, the report plans the
    chosen model's capacity for that many images within `night_hours`."""

    gpu_hour_price: float | None = None
    budget_per_million: float | None = None
    min_images_per_second: float | None = None  # per device
    images_per_night: int | None = None
    night_hours: float = 8.0

    def __post_init__(self) -> None:
        for name in ("gpu_hour_price", "budget_per_million", "min_images_per_second", "images_per_night",
                     "night_hours"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be positive, got {value}")
        if self.budget_per_million is not None and self.gpu_hour_price is None:
            raise ConfigError("--budget-per-million needs --gpu-hour-price to turn device-hours into cost")


@dataclass
class Report:
    table: pd.DataFrame  # one row per model, in variant order (columns: see `build_report`)
    device: str  # "cuda" or "cpu": what one priced device-hour is
    criteria: Criteria
    selected: str | None  # the most accurate model meeting the criteria (None: none asked, or none meets them)
    notes: list[str] = field(default_factory=list)
    plan: CapacityPlan | None = None  # for `criteria.images_per_night`

    @property
    def unit(self) -> str:
        return "GPU" if self.device == "cuda" else "CPU node"


def _device_type(record: dict[str, Any] | RunSummary) -> str:
    device = record.device if isinstance(record, RunSummary) else record["device"]
    return str(device).split(":", 1)[0]


@dataclass(frozen=True, order=True)
class Candidate:
    """(variant, weights, label set) of a run or an evaluation. `weights` is as the run manifest
    says it: "official", "random", or the checkpoint's path/URI."""

    model: str
    weights: str
    labels_sha256: str

    @classmethod
    def of(cls, record: dict[str, Any] | RunSummary) -> Candidate:
        """The candidate of a run summary or metrics record; records from before weights and
        label sets were recorded are of the official weights and COCO's labels."""
        if isinstance(record, RunSummary):
            model, weights, labels = record.model, record.weights, record.labels
            sha = labels.get("sha256") if labels else None
        else:
            model, weights, labels = record["model"], record.get("weights"), record.get("labels")
            sha = labels.get("sha256") if isinstance(labels, dict) else record.get("labels_sha256")
        return cls(get_spec(model).name, weights or "official", sha or coco_labels().sha256)

    @property
    def published(self) -> bool:
        """The variant's own published weights and classes, which its published AP describes."""
        official = self.weights == "official" or basename(self.weights) == get_spec(self.model).checkpoint_name
        return official and self.labels_sha256 == coco_labels().sha256

    @property
    def name(self) -> str:
        """`d0` for the official or random weights with COCO's labels; else the variant, the
        checkpoint's file name and, for other labels, their sha256 prefix."""
        name = self.model
        if self.weights not in ("official", "random") and not self.published:
            name += f" {basename(self.weights).split('.')[0]}"
        if self.labels_sha256 != coco_labels().sha256:
            name += f" labels:{self.labels_sha256[:8]}"
        return name


def display_name(name: str) -> str:
    """A candidate's name as the report shows it: the variant in capitals (D0, LITE3X)."""
    variant, _, rest = name.partition(" ")
    return f"{variant.upper()} {rest}".rstrip()


def _per_candidate(records: list[dict[str, Any]], what: str) -> dict[Candidate, dict[str, Any]]:
    """One record per candidate; a second one for the same candidate is ambiguous."""
    out: dict[Candidate, dict[str, Any]] = {}
    for record in records:
        if record["model"] is None:
            raise ConfigError(f"{record['_source']}: its predictions come from several models; "
                              "evaluate one model's output at a time")
        key = Candidate.of(record)
        if key in out:
            raise ConfigError(f"two {what} for {key.name}: {out[key]['_source']} and {record['_source']}")
        out[key] = record
    return out


def _steady_throughput(runs: list[RunSummary]) -> float | None:
    """Images per device-second in steady state over the runs that have one: their steady images
    over their steady device-seconds; None when none has one."""
    steady = [r for r in runs if r.steady_images_per_second]
    if not steady:
        return None
    return sum(r.steady_images for r in steady) / sum(r.steady_seconds * r.device_count for r in steady)


def _run_throughput(runs: list[RunSummary]) -> float:
    """Images per device-second over whole runs, start-up included (manifests from before the
    steady state was recorded): all their images over all their device-seconds."""
    images = sum(r.images_total for r in runs)
    device_seconds = sum(r.images_total / r.images_per_second * r.device_count for r in runs)
    return images / device_seconds


def _per_image(runs: list[RunSummary], name: str) -> float | None:
    """The runs' per-image figure `name`, weighted by their images (runs without it left out)."""
    known = [r for r in runs if getattr(r, name) is not None and r.images_total]
    if not known:
        return None
    return sum(getattr(r, name) * r.images_total for r in known) / sum(r.images_total for r in known)


def _throughput(runs: list[RunSummary], bench: dict[str, Any]) -> tuple[float | None, str | None]:
    """Images/s per device and where it is from: the runs' steady state, else the model-alone
    benchmark (runs too short for a steady state), else the whole runs (older manifests)."""
    steady = _steady_throughput(runs)
    if steady is not None:
        return steady, f"steady state of {sum(1 for r in runs if r.steady_images_per_second)} run(s)"
    if bench:
        return bench.get("images_per_second"), "benchmark"
    if runs:
        return _run_throughput(runs), f"{len(runs)} whole run(s), start-up included"
    return None, None


def pareto_front(ap: pd.Series, cost: pd.Series) -> pd.Series:
    """True for rows no other row beats: none at least as accurate and as cheap, and better in one.
    Rows missing either value are not on the front."""
    known = ap.notna() & cost.notna()
    front = pd.Series(False, index=ap.index)
    for i in ap.index[known]:
        others = known & (ap >= ap[i]) & (cost <= cost[i]) & ((ap > ap[i]) | (cost < cost[i]))
        front[i] = not others.any()
    return front


def most_accurate(table: pd.DataFrame, criteria: Criteria) -> str | None:
    """The highest-AP model within the budget and the speed floor (ties: the cheaper); None when
    no criterion is given or no model meets them."""
    if criteria.budget_per_million is None and criteria.min_images_per_second is None:
        return None
    ok = table["AP"].notna() & table["images_per_second"].notna()
    if criteria.budget_per_million is not None:
        ok &= table["cost_per_million"] <= criteria.budget_per_million
    if criteria.min_images_per_second is not None:
        ok &= table["images_per_second"] >= criteria.min_images_per_second
    if not ok.any():
        return None
    best = table[ok].sort_values(["AP", "device_hours_per_million"], ascending=[False, True])
    return str(best["model"].iloc[0])


def build_report(runs: list[RunSummary], metrics: list[dict[str, Any]], benchmarks: list[dict[str, Any]],
                 criteria: Criteria) -> Report:
    """Join what was measured per candidate: `runs` (run summaries, `load_runs`), `metrics`
    (`load_metrics`) and `benchmarks` (`load_benchmarks`). Throughput comes from the runs' steady
    state when a model has one (the whole job, per device), else from its last `predict`
    benchmark record (the model alone: no reading, decoding or writing); latency and memory from
    that benchmark record; start-up, decode cost and image size from the runs. With
    `criteria.images_per_night`, `Report.plan` is the chosen model's capacity plan."""
    notes = []
    accuracy = _per_candidate(metrics, "metrics")
    measured = [r for r in runs if not r.dry_run and r.images_total and r.images_per_second]
    if len(measured) < len(runs):
        notes.append(f"{len(runs) - len(measured)} run manifest(s) with no images labelled "
                     "(dry runs, or reruns with nothing left) are not counted.")
    runs_by_candidate: dict[Candidate, list[RunSummary]] = defaultdict(list)
    for run in measured:
        runs_by_candidate[Candidate.of(run)].append(run)
    bench: dict[str, dict[str, Any]] = {}
    for record in benchmarks:
        if record["benchmark"] == "predict":  # later records replace earlier ones
            bench[get_spec(record["model"]).name] = record

    used = [r for rs in runs_by_candidate.values() for r in rs] + list(bench.values())
    devices = sorted({_device_type(r) for r in used})
    if len(devices) > 1:
        raise ConfigError(f"measurements on {' and '.join(devices)} cannot share one price per device-hour: "
                          "report one device type at a time")

    candidates = set(accuracy) | set(runs_by_candidate)
    measured_variants = {c.model for c in candidates}
    # A benchmarked variant with no run or evaluation stands for its published model.
    candidates |= {Candidate.of({"model": m}) for m in bench if m not in measured_variants}
    order = list(DETECTORS)
    rows, smoke, short = [], [], []
    for key in sorted(candidates, key=lambda c: (order.index(c.model), not c.published, c)):
        acc, record, model_runs = accuracy.get(key, {}), bench.get(key.model, {}), runs_by_candidate.get(key, [])
        # Size and cost of the head the runs used (a fine-tuned head has fewer classes).
        classes = next((r.labels["num_classes"] for r in model_runs if r.labels), 90)
        info = model_info(key.model, classes)
        source = model_runs[-1].to_json() if model_runs else record
        ips, ips_from = _throughput(model_runs, record)
        if model_runs and ips_from == "benchmark":
            short.append(display_name(key.name))
        hours = MILLION / ips / SECONDS_PER_HOUR if ips else None
        if key.weights == "random" or (not model_runs and not acc and record.get("weights") == "random"):
            smoke.append(display_name(key.name))
        rows.append({
            "model": key.name,
            "variant": key.model,
            "weights": key.weights,
            "labels_sha256": key.labels_sha256,
            "AP": acc.get("AP"),
            "AP50": acc.get("AP50"),
            "published_coco_ap": info["published_coco_ap"] if key.published else None,
            "images_per_second": ips,
            "throughput_from": ips_from,
            "startup_seconds": _mean([r.time_to_first_batch_seconds for r in model_runs]),
            "device_hours_per_million": hours,
            "cost_per_million": hours * criteria.gpu_hour_price if hours and criteria.gpu_hour_price else None,
            "decode_cpu_seconds_per_image": _per_image(model_runs, "decode_cpu_seconds_per_image"),
            "mean_image_bytes": _per_image(model_runs, "mean_image_bytes"),
            "batch_latency_ms_p50": record.get("batch_latency_ms_p50"),
            "batch_latency_ms_p95": record.get("batch_latency_ms_p95"),
            "batch_size": record.get("batch_size"),
            "peak_memory_bytes": record.get("peak_memory_bytes"),
            "params": info["params"],
            "macs": info["macs"],
            "device_name": source.get("device_name"),
            "precision": source.get("precision"),
        })
    if not rows:  # before the frame: one with no rows has no columns to cast
        raise ConfigError("nothing to report: the inputs hold no metrics, no run that labelled images "
                          "and no predict benchmark record")
    table = pd.DataFrame(rows).astype({c: "float64" for c in (
        "AP", "AP50", "images_per_second", "startup_seconds", "device_hours_per_million", "cost_per_million",
        "decode_cpu_seconds_per_image", "mean_image_bytes", "batch_latency_ms_p50", "batch_latency_ms_p95",
        "peak_memory_bytes")})
    table["pareto"] = pareto_front(table["AP"], table["device_hours_per_million"])
    if smoke:
        notes.append(f"Measured with random weights (smoke runs): {', '.join(smoke)}. "
                     "Their AP says nothing about the models.")
    sources = set(table["throughput_from"].dropna())
    if any(s.startswith("steady") for s in sources):
        notes.append("Throughput from runs is the whole job's in steady state, from the first finished batch "
                     "to the last; start-up (to the first batch) is a fixed cost per run, shown apart.")
    if "benchmark" in sources:
        notes.append("Throughput from a benchmark is the model's alone (no reading, decoding or writing)"
                     + (f"; used for {', '.join(short)}, whose runs are too short for a steady state." if short
                        else "."))
    if any(s.endswith("start-up included") for s in sources):
        notes.append("Throughput from whole runs includes their start-up (on a short run, mostly start-up): "
                     "used where no run has a steady state (too short, or from before it was recorded) and "
                     "there is no benchmark of the model.")
    device = devices[0] if devices else "cuda"
    selected = most_accurate(table, criteria)
    plan = _plan(table, selected, device, criteria, notes) if criteria.images_per_night else None
    return Report(table, device, criteria, selected, notes, plan)


def _mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def _plan(table: pd.DataFrame, selected: str | None, device: str, criteria: Criteria,
          notes: list[str]) -> CapacityPlan | None:
    """The capacity plan of the selected model, else of the most accurate one with a throughput."""
    timed = table[table["images_per_second"].notna()]
    if timed.empty:
        notes.append("No capacity plan: no model has a measured throughput.")
        return None
    if selected is None:
        selected = str(timed.sort_values("AP", ascending=False, na_position="last")["model"].iloc[0])
        notes.append(f"No model was selected (no budget or speed floor met or given): the capacity plan is for "
                     f"the most accurate one measured, {display_name(selected)}.")
    row = table[table["model"] == selected].iloc[0]

    def known(name: str) -> float | None:
        return None if pd.isna(row[name]) else float(row[name])

    return plan_capacity(display_name(selected), "GPU" if device == "cuda" else "CPU node",
                         criteria.images_per_night, criteria.night_hours, float(row["images_per_second"]),
                         known("startup_seconds"), known("decode_cpu_seconds_per_image"), known("mean_image_bytes"),
                         criteria.gpu_hour_price)
