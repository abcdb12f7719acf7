"""Label images with EfficientDet on Ray: image files, tar shards, Parquet shards or manifests ->
detections as Parquet.

    python jobs/infer.py --model d0 --input examples/images --output out/demo
    ray job submit --working-dir . -- python jobs/infer.py --model d5 --input s3://lake/images --output s3://labels/d5

Rerunning a command with the same --output resumes it: images that already have a row are skipped.
The last stdout line is the run summary as one JSON line (also written beside the Parquet as
_manifest-<run_id>.json); a readable summary goes to stderr.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

if not __package__:  # run as a script: the checkout, not jobs/, heads sys.path (else jobs/select.py
    sys.path[0] = str(Path(__file__).resolve().parents[1])  # would stand in for the standard select)

from effdet_batch.cli import (  # noqa: E402
    add_run_arguments, positive_int, report_run, run_cli, run_settings,
)
from effdet_batch.pipeline.sources import FORMATS  # noqa: E402


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--input", action="append", required=True, help="folder, prefix or file URI (repeatable)")
    p.add_argument("--output", required=True, help="folder or prefix URI for the Parquet dataset")
    p.add_argument("--format", default="auto", choices=FORMATS,
                   help="input format (auto: by suffix; manifests must be named as files)")
    p.add_argument("--image-column", default="image", help="Parquet shards: the image bytes column")
    p.add_argument("--id-column", default=None, help="Parquet shards: the id column (default: row number)")
    p.add_argument("--limit", type=positive_int, default=None, help="process at most N images")
    p.add_argument("--run-id", default=None)
    add_run_arguments(p)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def run() -> int:
        from effdet_batch.pipeline import PipelineConfig, run_inference, summary_text

        extra = {"run_id": args.run_id} if args.run_id else {}
        cfg = PipelineConfig(
            inputs=tuple(args.input), output=args.output, format=args.format, image_column=args.image_column,
            id_column=args.id_column, limit=args.limit, **run_settings(args), **extra,
        )
        return report_run(cfg.weights, lambda: run_inference(cfg, address=args.address, dry_run=args.dry_run),
                          summary_text)

    return run_cli(run)


if __name__ == "__main__":
    sys.exit(main())
