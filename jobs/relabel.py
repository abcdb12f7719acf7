"""Nightly incremental re-labeling of an image lake.

    python jobs/relabel.py --model d5 --lake s3://lake/images/ --output s3://labels/nightly-d5

Labels only the images added or changed (by size and ETag, or mtime) since the last successful
run, into <output>/date=YYYY-MM-DD/run=<run id>/, and writes the label churn against the previous
labels of the same images (per class: added, removed, changed class, kept) to
<output>/_relabel/churn-<run id>.csv. The state is updated only after success: a run that dies
leaves it as it was, and the next run resumes the unfinished one. The last stdout line is the
inference run's summary JSON (images_total = images labelled in this run).
"""
from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

if not __package__:  # run as a script: the checkout, not jobs/, heads sys.path (else jobs/select.py
    sys.path[0] = str(Path(__file__).resolve().parents[1])  # would stand in for the standard select)

from effdet_batch.cli import add_run_arguments, report_run, run_cli, run_settings  # noqa: E402


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lake", required=True, help="folder or prefix URI of the images (any depth)")
    p.add_argument("--output", required=True, help="prefix URI of the date-partitioned labels and the state")
    p.add_argument("--date", type=date.fromisoformat, default=None, help="partition date (default: today, UTC)")
    p.add_argument("--churn-min-score", type=float, default=0.5, help="detections compared for the churn")
    add_run_arguments(p)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def run() -> int:
        from effdet_batch.relabel import relabel
        from effdet_batch.relabel.run import relabel_text

        return report_run(args.weights, lambda: relabel(
            run_settings(args), args.lake, args.output, day=args.date, churn_min_score=args.churn_min_score,
            address=args.address, dry_run=args.dry_run), relabel_text)

    return run_cli(run)


if __name__ == "__main__":
    sys.exit(main())
