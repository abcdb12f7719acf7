"""One model selection: the fixed sample, then, for each candidate under one Ray connection, the
job over the sample into `OUTPUT/runs/<name>/`, its evaluation into `OUTPUT/metrics/<name>/` and a
benchmark of the model alone on the device its actors used into `OUTPUT/bench/<name>.json`; then
the selection report into `OUTPUT/report/`.

Rerunning the same command after a crash redoes nothing finished: a run whose output holds a row
for every sample image and a manifest is kept (an unfinished one resumes from its committed
rows), and so are complete evaluations and benchmark records; completeness is read from the
files, never from their times."""
from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ..evaluation import evaluate_to, load_ground_truth
from ..pipeline import PipelineConfig, run_inference
from ..pipeline.config import new_run_id
from ..pipeline.labels import run_labels
from ..pipeline.lease import OutputLease
from ..pipeline.run import check_writable, storage_environment
from ..pipeline.summary import read_manifests
from ..reports import build_report, load_benchmarks, load_metrics, load_runs, write_report
from ..reports.table import Candidate, Report
from ..uri import join, redact
from .config import SelectionConfig
from .plan import PlannedModel
from .sample import Sample, fix_sample

__all__ = ["select_model", "selection_text", "SMOKE_WARNING"]

log = logging.getLogger(__name__)

RUNS, METRICS, BENCH, REPORT = "runs", "metrics", "bench", "report"
SMOKE_WARNING = ("SMOKE RUN (--smoke): the candidates ran with seeded random weights or only to check the "
                 "plumbing; their AP means nothing and no model should be chosen from this selection")
# What jobs/evaluate.py writes besides its thumbnails; the page, index.html, is written last.
_EVALUATION_FILES = ("metrics.json", "per_class.csv", "precision_recall.png", "index.html")


class _Ray:
    """The selection's one Ray connection, made when a stage first needs it (a rerun with every
    stage finished starts no Ray), and left at the end if this selection made it."""

    def __init__(self, address: str | None, env: dict[str, str]) -> None:
        self.address, self.env, self.joined, self.connected = address, env, False, False

    def join(self) -> None:
        from ..pipeline.session import connect

        if not self.joined:
            self.connected, self.joined = connect(self.address, self.env), True

    def leave(self) -> None:
        from ..pipeline.session import disconnect

        if self.connected:
            disconnect()
            self.connected = False


def _read(uri: str) -> str | None:
    """The text of `uri`; None when it is missing or cannot be read (then the stage is redone)."""
    import fsspec

    try:
        with fsspec.open(uri, "r") as f:
            return f.read()
    except (OSError, UnicodeDecodeError):
        return None


def _exists(uri: str) -> bool:
    import fsspec

    fs, path = fsspec.core.url_to_fs(uri)
    return fs.exists(path)


def _labelled(output: str, images: tuple[str, ...]) -> int:
    """How many of `images` have a row in the job output `output`."""
    from ..datasets import open_dataset

    if not _exists(output):
        return 0
    try:
        dataset = open_dataset(output)
        if "image_id" not in dataset.schema.names:  # no data file yet
            return 0
        ids = set(dataset.to_table(columns=["image_id"])["image_id"].to_pylist())
    except (OSError, ValueError):  # a data file a killed run left half-written: the resumed run replaces it
        return 0
    return len(ids.intersection(images))


def _has_manifest(output: str) -> bool:
    return bool(read_manifests(output, skip_unreadable=True))


def _evaluated(folder: str, images: int) -> bool:
    """True when `folder` holds a whole evaluation of `images` ground-truth images: its metrics
    readable, and every file of it there, the page (written last) too."""
    text = _read(join(folder, "metrics.json"))
    try:
        metrics = json.loads(text) if text is not None else None
    except ValueError:
        return False
    return (isinstance(metrics, dict) and metrics.get("images_gt") == images
            and all(_exists(join(folder, name)) for name in _EVALUATION_FILES[1:]))


def _benchmarked(uri: str) -> bool:
    """True when `uri` holds benchmark records (JSON lines), a `predict` one among them."""
    text = _read(uri)
    try:
        records = [json.loads(line) for line in (text or "").splitlines() if line.strip()]
    except ValueError:
        return False
    return any(isinstance(r, dict) and r.get("benchmark") == "predict" for r in records)


def _run_device(output: str) -> str:
    """The device ("cuda" or "cpu") the detector actors of the runs into `output` used: the latest
    run's that labelled images (a rerun with nothing left starts no actor)."""
    runs = sorted((r for r in load_runs([output]) if r.images_total), key=lambda r: r.finished or "")
    return (runs or load_runs([output]))[-1].device


class _Selection:
    def __init__(self, cfg: SelectionConfig, env: dict[str, str], address: str | None,
                 progress: Callable[[str], None]) -> None:
        self.cfg, self.env, self.progress = cfg, env, progress
        self.ray = _Ray(address, env)
        # Validates the inputs, the output and the shared run settings once, and makes local paths
        # absolute (the workers do not share this directory).
        first = cfg.models[0]
        probe = PipelineConfig(model=first.model, inputs=cfg.inputs, output=cfg.output, **cfg.run)
        self.inputs, self.output, self.shared = probe.inputs, probe.output, probe
        self.jobs = {m.name: PipelineConfig(model=m.model, weights=m.weights, labels=m.labels, inputs=probe.inputs,
                                            output=join(self.output, RUNS, m.name), **cfg.run) for m in cfg.models}

    def check(self) -> None:
        """What would stop the selection part-way, found before any work: the output cannot be
        written, or a candidate's checkpoint or label file cannot be read or does not fit."""
        check_writable(self.output)
        for model in self.cfg.models:
            run_labels(model.model, model.weights, model.labels, None)

    def sample(self, write: bool) -> Sample:
        cfg = self.cfg
        gt = load_ground_truth(cfg.annotations)
        sample, kept = fix_sample(self.output, self.inputs, cfg.annotations, gt, cfg.sample, cfg.seed, cfg.match,
                                  write=write)
        of = (f"{len(sample.images)} of the input's {sample.matched} images with ground truth"
              + (f" (all: --sample {cfg.sample} asked for more)" if len(sample.images) < cfg.sample else ""))
        where = redact(sample.manifest) if write else "not written (dry run)"
        self.progress(f"sample: {'kept, ' if kept else ''}{of}, seed {cfg.seed} -> {where}")
        return sample

    def candidate(self, i: int, model: PlannedModel, sample: Sample) -> dict[str, str]:
        """The candidate's three stages, each done or kept; returns what happened to each."""
        tag = f"[{i}/{len(self.cfg.models)}] {model.name}"
        job = replace(self.jobs[model.name], inputs=(sample.manifest,), format="manifest")
        stages = {"run": self._run(tag, job, sample)}
        stages["evaluation"] = self._evaluate(tag, model, job, sample)
        stages["benchmark"] = self._benchmark(tag, model, job, sample)
        return stages

    def _run(self, tag: str, job: PipelineConfig, sample: Sample) -> str:
        total = len(sample.images)
        labelled = _labelled(job.output, sample.images)
        if labelled == total and _has_manifest(job.output):
            self.progress(f"{tag} run: kept, {total}/{total} sample images labelled in {redact(job.output)}")
            return "kept"
        self.ray.join()
        run_inference(job)
        resumed = f", resumed from {labelled}" if labelled else ""
        self.progress(f"{tag} run: {total - labelled} images labelled{resumed} -> {redact(job.output)}")
        return "done"

    def _evaluate(self, tag: str, model: PlannedModel, job: PipelineConfig, sample: Sample) -> str:
        folder = join(self.output, METRICS, model.name)
        if _evaluated(folder, len(sample.images)):
            self.progress(f"{tag} evaluation: kept, {redact(join(folder, 'metrics.json'))}")
            return "kept"
        metrics = evaluate_to(folder, job.output, load_ground_truth(sample.ground_truth), sample.ground_truth,
                              self.cfg.match, self.cfg.categories)
        self.progress(f"{tag} evaluation: AP {metrics['AP']:.4f}, AP50 {metrics['AP50']:.4f} over "
                      f"{metrics['images_evaluated']}/{metrics['images_gt']} images -> {redact(folder)}")
        return "done"

    def _benchmark(self, tag: str, model: PlannedModel, job: PipelineConfig, sample: Sample) -> str:
        import fsspec

        from .bench import benchmark_on_actor_device

        uri = join(self.output, BENCH, f"{model.name}.json")
        if _benchmarked(uri):
            self.progress(f"{tag} benchmark: kept, {redact(uri)}")
            return "kept"
        self.ray.join()
        records = benchmark_on_actor_device(
            job.model, job.weights, device=_run_device(job.output), precision=job.precision,
            batch_size=self.cfg.bench_batch_size or job.batch_size, iterations=self.cfg.bench_iterations,
            images=sample.images, actors=job.actors[1], num_gpus_per_actor=job.num_gpus_per_actor)
        fs, root = fsspec.core.url_to_fs(join(self.output, BENCH))
        fs.makedirs(root, exist_ok=True)
        with fsspec.open(uri, "w") as f:  # one write: a record file is whole or unreadable
            f.write("".join(json.dumps({**r, "candidate": model.name}) + "\n" for r in records))
        predict = next(r for r in records if r["benchmark"] == "predict")
        self.progress(f"{tag} benchmark: {predict['images_per_second']:.2f} images/s predict on "
                      f"{predict['device_name']}, batch {predict['batch_size']} -> {redact(uri)}")
        return "done"

    def report(self) -> tuple[Report, list[str]]:
        names = [m.name for m in self.cfg.models]
        runs = load_runs([self.jobs[n].output for n in names])
        report = build_report(
            runs,
            load_metrics([join(self.output, METRICS, n) for n in names]),
            load_benchmarks([join(self.output, BENCH, f"{n}.json") for n in names]),
            self.cfg.criteria)
        if self.cfg.smoke:
            report.notes.insert(0, SMOKE_WARNING)
        written = write_report(report, join(self.output, REPORT), runs=runs)  # with the sample images
        self.progress(f"report: {redact(join(self.output, REPORT))} ({', '.join(u.rsplit('/', 1)[-1] for u in written)})")
        return report, written


def _value(x: Any) -> Any:
    """A table cell as JSON: None for missing, plain Python numbers."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return None
    return x.item() if hasattr(x, "item") else x


def _summary(cfg: SelectionConfig, selection: _Selection, sample: Sample, report: Report,
             stages: dict[str, dict[str, str]], selection_id: str) -> dict[str, Any]:
    rows = report.table.set_index("model")
    models, by_report_name = {}, {}
    for model in cfg.models:
        metrics = load_metrics([join(selection.output, METRICS, model.name)])[0]
        key = Candidate.of(metrics).name
        by_report_name[key] = model.name
        row = rows.loc[key]
        models[model.name] = {
            "model": model.model, "weights": metrics.get("weights"), "report_name": key,
            **{k: _value(row[k]) for k in ("AP", "AP50", "images_per_second", "throughput_from",
                                           "device_hours_per_million", "cost_per_million")},
            "pareto": bool(row["pareto"]), "stages": stages[model.name],
        }
    chosen = by_report_name.get(report.selected) if report.selected else None
    summary: dict[str, Any] = {
        "selection_id": selection_id,
        "smoke": cfg.smoke,
        **({"warning": SMOKE_WARNING} if cfg.smoke else {}),
        "chosen": chosen,
        "criteria": dict(vars(cfg.criteria)),
        "device": report.device,
        "unit": report.unit,
        "sample": {"images": len(sample.images), "requested": sample.requested, "matched": sample.matched,
                   "seed": sample.seed, "manifest": redact(sample.manifest),
                   "ground_truth": redact(sample.ground_truth)},
        "models": models,
        "notes": report.notes,
        "output": redact(selection.output),
        "report": redact(join(selection.output, REPORT)),
    }
    if report.plan is not None:
        plan = report.plan
        summary["capacity"] = {"model": chosen, "images_per_night":
                               plan.images_per_night, "devices": plan.devices, "hours": plan.hours,
                               "device_hours": plan.device_hours, "cost": plan.cost, "lines": plan.lines}
    return summary


def select_model(cfg: SelectionConfig, *, address: str | None = None, dry_run: bool = False,
                 progress: Callable[[str], None] = log.info) -> dict[str, Any]:
    """Run (or, with `dry_run`, only validate and draw the sample without writing it) the selection;
    returns its summary. `progress` gets one line per stage."""
    with storage_environment(cfg.run.get("s3_endpoint")) as env:
        selection = _Selection(cfg, env, address, progress)
        selection.check()
        if dry_run:
            sample = selection.sample(write=False)
            return {"dry_run": True, "smoke": cfg.smoke, "output": redact(selection.output),
                    "sample": {"images": len(sample.images), "requested": sample.requested,
                               "matched": sample.matched, "seed": sample.seed},
                    "models": {m.name: {"model": m.model, "weights": m.weights or "official"} for m in cfg.models}}
        selection_id = new_run_id()
        # One selection writes to OUTPUT at a time (each candidate's run also holds its own folder's).
        with OutputLease(selection.output, selection_id, expiry_s=selection.shared.lease_expiry,
                         wait=selection.shared.wait):
            sample = selection.sample(write=True)
            try:
                stages = {m.name: selection.candidate(i, m, sample) for i, m in enumerate(cfg.models, 1)}
            finally:
                selection.ray.leave()
            report, _ = selection.report()
        return _summary(cfg, selection, sample, report, stages, selection_id)


def selection_text(summary: dict[str, Any]) -> str:
    """The selection on one screen, for people (the JSON line is for programs)."""
    smoke = [f"  {SMOKE_WARNING}"] if summary.get("smoke") else []
    if summary.get("dry_run"):
        s = summary["sample"]
        return "\n".join([f"dry run: {', '.join(summary['models'])} over a sample of {s['images']} images "
                          f"(of {s['matched']} with ground truth); output {summary['output']} writable; "
                          "nothing was run", *smoke])
    unit = summary["unit"]
    lines = [f"selection {summary['selection_id']}{' (SMOKE)' if summary['smoke'] else ''}: "
             f"{len(summary['models'])} candidates over {summary['sample']['images']} sample images", *smoke,
             f"  {'model':<16} {'AP':>7} {'AP50':>7} {'images/s per ' + unit:>22} {'cost / 1M':>10}  from"]
    for name, m in summary["models"].items():
        def cell(value: Any, spec: str) -> str:
            return "" if value is None else format(value, spec)
        mark = " *" if name == summary["chosen"] else ("  Pareto" if m["pareto"] else "")
        lines.append(f"  {name:<16} {cell(m['AP'], '.4f'):>7} {cell(m['AP50'], '.4f'):>7} "
                     f"{cell(m['images_per_second'], '.2f'):>22} {cell(m['cost_per_million'], '.2f'):>10}  "
                     f"{m['throughput_from'] or ''}{mark}")
    c = summary["criteria"]
    if summary["chosen"]:
        lines.append(f"  chosen   {summary['chosen']} (*): the most accurate meeting the criteria")
    elif c["budget_per_million"] is None and c["min_images_per_second"] is None:
        lines.append("  chosen   none: give --budget-per-million and/or --min-images-per-second to choose")
    else:
        lines.append("  chosen   none: no candidate meets the criteria")
    if "capacity" in summary:
        lines += ["  capacity plan:", *(f"    {line}" for line in summary["capacity"]["lines"])]
    lines.append(f"  report   {summary['report']}")
    return "\n".join(lines)
