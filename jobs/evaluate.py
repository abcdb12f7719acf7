"""COCO mAP of the inference job's Parquet output against COCO ground truth.

    python jobs/evaluate.py --predictions s3://labels/d5 --annotations s3://lake/instances.json --output reports/d5

Writes DIR/metrics.json (the 12 COCO bbox statistics, counts, missed images, error rows),
DIR/per_class.csv (AP, AP50 and ground-truth count per category), DIR/precision_recall.png, and
DIR/index.html, a page of them all with the images of most missed and most false detections
(ground truth and predictions drawn as COCOeval matched them at IoU 0.5; thumbnails beside it).
Rows are matched to ground-truth images by file name (--match for other conventions).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

if not __package__:  # run as a script: the checkout, not jobs/, heads sys.path (else jobs/select.py
    sys.path[0] = str(Path(__file__).resolve().parents[1])  # would stand in for the standard select)

from effdet_batch.cli import run_cli  # noqa: E402
from effdet_batch.evaluation.coco import CATEGORY_MODES  # noqa: E402
from effdet_batch.evaluation.predictions import MATCH_MODES  # noqa: E402


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--predictions", required=True, help="the job's output: folder/prefix URI of Parquet files")
    p.add_argument("--annotations", required=True, help="COCO instances JSON (path or URI)")
    p.add_argument("--output", required=True, help="folder (or URI) for metrics.json, per_class.csv, the chart and index.html")
    p.add_argument("--match", default="basename", choices=MATCH_MODES, help="how rows find their ground-truth image")
    p.add_argument("--categories", default="id", choices=CATEGORY_MODES,
                   help="compare category ids (default), or label names with the ground truth's names")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def run() -> int:
        from effdet_batch.evaluation import evaluate_to, load_ground_truth

        metrics = evaluate_to(args.output, args.predictions, load_ground_truth(args.annotations), args.annotations,
                              args.match, args.categories)
        print(" ".join(f"{k} {metrics[k]:.4f}" for k in ("AP", "AP50", "AP75")) +
              f"  ({metrics['images_evaluated']}/{metrics['images_gt']} images, {metrics['images_missed']} missed, "
              f"{metrics['rows_error']} error rows)", file=sys.stderr)
        print(json.dumps({k: v for k, v in metrics.items() if k not in ("missed_images", "error_rows")}), flush=True)
        return 0

    return run_cli(run)


if __name__ == "__main__":
    sys.exit(main())
