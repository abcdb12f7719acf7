"""Export the inference job's Parquet output to the tools people use.

    python jobs/export.py --predictions s3://labels/d5 --format coco --annotations instances.json --output d5.json
    python jobs/export.py --predictions s3://labels/d5 --format coco-dataset --output d5-dataset.json
    python jobs/export.py --predictions s3://labels/d5 --format label-studio --output tasks.json

coco: a COCO results list (image_id, category_id, bbox [x, y, w, h], score); image ids are the
    rows' own, or with --annotations the ground truth's (rows matched as jobs/evaluate.py matches
    them; rows of other images are left out).
coco-dataset: a COCO detection dataset with scores (FiftyOne's COCODetectionDataset, CVAT); each
    image's file_name is its URI or path, `<shard URI>#<member>` for tar members and Parquet rows.
label-studio: tasks with predictions (Label Studio pre-annotations), and the labeling config
    beside them (--output with the suffix .xml, or --config). Image URLs are the source URIs
    (Label Studio resolves s3:// through its cloud storage), or --url-prefix followed by each
    image's path under the folder all the images share (a tar member's name, a Parquet row's key).
Categories are the run's label set (its manifests, else the ids and names in the rows). Error
rows are left out and counted on stderr.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

if not __package__:  # run as a script: the checkout, not jobs/, heads sys.path (else jobs/select.py
    sys.path[0] = str(Path(__file__).resolve().parents[1])  # would stand in for the standard select)

from effdet_batch.cli import positive_float, run_cli  # noqa: E402
from effdet_batch.evaluation.coco import CATEGORY_MODES  # noqa: E402
from effdet_batch.evaluation.predictions import MATCH_MODES  # noqa: E402
from effdet_batch.export import FORMATS  # noqa: E402


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--predictions", required=True, help="the job's output: folder/prefix URI of Parquet files")
    p.add_argument("--format", required=True, choices=FORMATS)
    p.add_argument("--output", required=True, help="the file (path or URI) to write")
    p.add_argument("--min-score", type=positive_float, default=None,
                   help="leave out detections below (default keeps all)")
    p.add_argument("--annotations", default=None, help="coco: COCO instances JSON whose image ids to use")
    p.add_argument("--match", default=None, choices=MATCH_MODES,
                   help="with --annotations: how rows find their ground-truth image (default basename)")
    p.add_argument("--categories", default=None, choices=CATEGORY_MODES,
                   help="with --annotations: keep category ids (default), or use the ground truth's ids "
                        "of the rows' label names")
    p.add_argument("--url-prefix", default=None,
                   help="label-studio: image URLs are this, as written, then the image's relative path")
    p.add_argument("--config", default=None, help="label-studio: where to write the labeling config")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def run() -> int:
        from effdet_batch.export import export, summary_text

        summary = export(args.predictions, args.format, args.output, min_score=args.min_score,
                         annotations=args.annotations, match=args.match, categories=args.categories,
                         url_prefix=args.url_prefix, config=args.config)
        print(summary_text(summary), file=sys.stderr)
        print(json.dumps(summary), flush=True)
        return 0

    return run_cli(run)


if __name__ == "__main__":
    sys.exit(main())
