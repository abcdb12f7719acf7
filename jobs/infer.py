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
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runs from a checkout without install

from effdet_batch.cli import positive_int, run_cli  # noqa: E402
from effdet_batch.pipeline.sources import FORMATS  # noqa: E402

RANDOM_WARNING = (
    "WARNING: --weights random: SMOKE RUN with seeded random weights; the detections are NOT meaningful. "
    "Use the official weights (default) or --weights PATH for real labels."
)


def _actors(text: str) -> tuple[int, int]:
    try:
        parts = [int(p) for p in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N or MIN,MAX, got {text!r}") from None
    if len(parts) not in (1, 2):
        raise argparse.ArgumentTypeError(f"expected N or MIN,MAX, got {text!r}")
    return (parts[0], parts[-1])


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="d0..d7, d7x")
    p.add_argument("--input", action="append", required=True, help="folder, prefix or file URI (repeatable)")
    p.add_argument("--output", required=True, help="folder or prefix URI for the Parquet dataset")
    p.add_argument("--weights", default=None, help="checkpoint path/URI, or random (default: official)")
    p.add_argument("--format", default="auto", choices=FORMATS,
                   help="input format (auto: by suffix; manifests must be named as files)")
    p.add_argument("--image-column", default="image", help="Parquet shards: the image bytes column")
    p.add_argument("--id-column", default=None, help="Parquet shards: the id column (default: row number)")
    p.add_argument("--batch-size", type=positive_int, default=8)
    p.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp16", "fp32"])
    p.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"])
    p.add_argument("--num-gpus-per-actor", type=float, default=1.0)
    p.add_argument("--actors", type=_actors, default=(1, 1), help="N or MIN,MAX detector actors")
    p.add_argument("--min-score", type=float, default=0.0, help="drop detections below (default keeps all)")
    p.add_argument("--max-detections", type=positive_int, default=100)
    p.add_argument("--limit", type=positive_int, default=None, help="process at most N images")
    p.add_argument("--rows-per-file", type=positive_int, default=4096,
                   help="least rows per output file, and the unit of resume")
    p.add_argument("--run-id", default=None)
    p.add_argument("--s3-endpoint", default=None, help="S3 endpoint URL (default: AWS_ENDPOINT_URL)")
    p.add_argument("--address", default=None, help="Ray address (default: running cluster, else local)")
    p.add_argument("--dry-run", action="store_true", help="validate arguments, inputs and output only")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def run() -> int:
        from effdet_batch.pipeline import PipelineConfig, run_inference, summary_text

        extra = {"run_id": args.run_id} if args.run_id else {}
        cfg = PipelineConfig(
            model=args.model, inputs=tuple(args.input), output=args.output, weights=args.weights,
            format=args.format, image_column=args.image_column, id_column=args.id_column,
            rows_per_file=args.rows_per_file, s3_endpoint=args.s3_endpoint, batch_size=args.batch_size, precision=args.precision, device=args.device,
            num_gpus_per_actor=args.num_gpus_per_actor, actors=args.actors, min_score=args.min_score,
            max_detections=args.max_detections, limit=args.limit, **extra,
        )
        if cfg.weights == "random":
            print(RANDOM_WARNING, file=sys.stderr, flush=True)
        summary = run_inference(cfg, address=args.address, dry_run=args.dry_run)
        print(summary_text(summary), file=sys.stderr, flush=True)
        if cfg.weights == "random":
            print(RANDOM_WARNING, file=sys.stderr, flush=True)
        print(json.dumps({k: v for k, v in summary.items() if k != "ray_data_stats"}), flush=True)
        return 0

    return run_cli(run)


if __name__ == "__main__":
    sys.exit(main())
