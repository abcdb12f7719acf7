"""A static gallery of the inference job's output: index.html and its thumbnails, to open from disk.

    python jobs/gallery.py --predictions s3://labels/d5 --output gallery/d5
    python jobs/gallery.py --predictions out/demo --output gallery/demo --classes person,dog --min-score 0.3

A stratified sample of the processed images (--sample N; --seed K makes it repeatable), each with
its detections drawn over a thumbnail made from its source (files, tar members and Parquet rows
alike). The page filters by class and score (from --min-score down to every kept detection) and
lists the detections per class and the error rows with their reasons. Nothing in the page is
fetched from elsewhere: the folder can be copied to a bucket as it is.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

if not __package__:  # run as a script: the checkout, not jobs/, heads sys.path (else jobs/select.py
    sys.path[0] = str(Path(__file__).resolve().parents[1])  # would stand in for the standard select)

from effdet_batch.cli import positive_int, run_cli  # noqa: E402
from effdet_batch.views import DEFAULT_MIN_SCORE  # noqa: E402


def _score(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a score in [0, 1], got {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a score in [0, 1], got {value}")
    return value


def _classes(text: str) -> list[str]:
    names = [c.strip() for c in text.split(",") if c.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"expected class names or ids separated by commas, got {text!r}")
    return names


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--predictions", required=True, help="the job's output: folder/prefix URI of Parquet files")
    p.add_argument("--output", required=True, help="folder (or URI) for index.html and the thumbnails")
    p.add_argument("--sample", type=positive_int, default=48, help="images in the gallery (default 48)")
    p.add_argument("--classes", type=_classes, default=[], help="only these classes (names or ids, comma-separated)")
    p.add_argument("--min-score", type=_score, default=DEFAULT_MIN_SCORE,
                   help=f"boxes shown at first, and the sample's strata (default {DEFAULT_MIN_SCORE})")
    p.add_argument("--seed", type=int, default=0, help="the sample's seed (default 0)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def run() -> int:
        from effdet_batch.views import write_gallery

        summary = write_gallery(args.predictions, args.output, sample=args.sample, classes=args.classes,
                                min_score=args.min_score, seed=args.seed)
        print(f"gallery of {summary['sampled']} images ({summary['rows']} rows, {summary['rows_error']} error rows, "
              f"{summary['sources_unavailable']} sources unavailable): {summary['page']}", file=sys.stderr)
        print(json.dumps(summary), flush=True)
        return 0

    return run_cli(run)


if __name__ == "__main__":
    sys.exit(main())
