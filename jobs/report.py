"""Model-selection report: accuracy, throughput and cost per million images for each model.

    python jobs/report.py --runs s3://labels/d0 s3://labels/d5 --metrics reports/d0 reports/d5 \\
        --benchmarks bench/h100.jsonl --gpu-hour-price 2.5 --budget-per-million 1.0 --output reports/selection

Reads run manifests of jobs/infer.py (files, or every _manifest-*.json under a job's output),
metrics.json of jobs/evaluate.py (files or folders) and JSON lines of jobs/benchmark.py. Writes
report.md, report.html (with the same sample images under each model that has runs, thumbnails
beside it), report.json, accuracy_vs_cost.png and throughput.png under --output.
Throughput comes from the runs' steady state (first finished batch to the last) when a model has
one, else from its benchmark `predict` record; start-up is shown apart, a fixed cost per run.
Prices are yours: one device-hour is a GPU-hour, or a CPU node-hour for measurements on CPU.
--images-per-night adds a capacity plan for the chosen model: devices, hours, cost, CPU cores for
decoding and the object-store request rate, with the arithmetic.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

if not __package__:  # run as a script: the checkout, not jobs/, heads sys.path (else jobs/select.py
    sys.path[0] = str(Path(__file__).resolve().parents[1])  # would stand in for the standard select)

from effdet_batch.cli import add_criteria_arguments, criteria_settings, run_cli  # noqa: E402


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", nargs="+", default=[], metavar="URI", help="run manifests, or job output prefixes")
    p.add_argument("--metrics", nargs="+", default=[], metavar="URI", help="metrics.json files or their folders")
    p.add_argument("--benchmarks", nargs="+", default=[], metavar="URI",
                   help="JSON lines files of jobs/benchmark.py, or folders of *.jsonl")
    p.add_argument("--output", required=True, help="folder (or URI) for the report's files")
    add_criteria_arguments(p)
    args = p.parse_args(argv)
    if not (args.runs or args.metrics or args.benchmarks):
        p.error("give at least one of --runs, --metrics, --benchmarks")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def run() -> int:
        from effdet_batch.reports import (
            Criteria, build_report, display_name, load_benchmarks, load_metrics, load_runs, write_report,
        )

        criteria = Criteria(**criteria_settings(args))  # flags that disagree fail before any reading
        runs = load_runs(args.runs)
        report = build_report(runs, load_metrics(args.metrics), load_benchmarks(args.benchmarks), criteria)
        for uri in write_report(report, args.output, runs):
            print(f"wrote {uri}", file=sys.stderr)
        chosen = display_name(report.selected) if report.selected else "none"
        front = ", ".join(display_name(m) for m in report.table.loc[report.table["pareto"], "model"])
        print(f"Pareto front: {front or 'none'}; selected: {chosen}", file=sys.stderr)
        if report.plan:
            print("\n".join(["capacity plan:", *report.plan.lines]), file=sys.stderr)
        return 0

    return run_cli(run)


if __name__ == "__main__":
    sys.exit(main())
