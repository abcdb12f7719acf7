"""Throughput of EfficientDet models on this machine, as JSON lines.

    python jobs/benchmark.py --model d0 --device cpu --batch-size 4
    python jobs/benchmark.py --models d0,d1,d2 --device cuda --precision bf16 --batch-size 16
    python jobs/benchmark.py --pipeline --model d0 --device cpu --count 1024 --batch-size 8
    python jobs/benchmark.py --decode-bench --out benchmarks/results/decode_cpu_2026-12-01.json

--pipeline measures the inference job end to end (local Ray, cluster start excluded) against
Detector.predict on the same pre-decoded images, and prints their ratio.
--decode-bench measures decode + letterbox of 12 MP JPEGs (each --images photo upscaled with
sensor-like noise) on one core, --decode fast against exact, and prints one record with the
command, machine and date (also written to --out).
"""
from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runs from a checkout without install

from effdet_batch.cli import positive_int, run_cli  # noqa: E402

DEFAULT_IMAGES = Path(__file__).resolve().parents[1] / "examples" / "images"


def _sizes(text: str) -> list[int]:
    return [positive_int(part) for part in text.split(",")]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", "--models", dest="models", default="d0",
                        help="variant or comma-separated variants (d0..d7x, lite0..lite4, lite3x, d0_ap..d5_ap)")
    parser.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"])
    parser.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp16", "fp32"])
    parser.add_argument("--batch-size", type=positive_int, default=4)
    parser.add_argument("--iterations", type=positive_int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--weights", default="random",
                        help="checkpoint path/URI, or random (default: speed does not depend on the values, and "
                             "benchmarks run offline)")
    parser.add_argument("--images", type=Path, default=DEFAULT_IMAGES,
                        help="folder of photos to benchmark predict on (default: bundled samples)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the network")
    parser.add_argument("--pipeline", action="store_true", help="benchmark jobs/infer.py end to end")
    parser.add_argument("--count", type=positive_int, default=1024,
                        help="--pipeline: number of image files (the detector actor's start, about 3 s, is paid once)")
    parser.add_argument("--actors", type=positive_int, default=1, help="--pipeline: detector actors")
    parser.add_argument("--decode-bench", action="store_true",
                        help="benchmark decode + letterbox of 12 MP JPEGs, --decode fast against exact")
    parser.add_argument("--sizes", type=_sizes, default=(512, 1024, 1536),
                        help="--decode-bench: input sizes, comma-separated (default 512,1024,1536)")
    parser.add_argument("--rounds", type=positive_int, default=5, help="--decode-bench: timed runs per mode and size")
    parser.add_argument("--out", type=Path, default=None, help="--decode-bench: also write the record to this file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def run() -> int:
        from effdet_batch.benchmark import benchmark_model, load_images
        from effdet_batch.model import get_spec
        from effdet_batch.model.cpu import keep_freed_memory

        keep_freed_memory()  # as the job's workers run: process-wide, so set here, by the entry point
        if args.decode_bench:
            return _decode_bench()
        names = [get_spec(n).name for n in args.models.split(",") if n.strip()]
        if args.pipeline:
            return _pipeline(names)
        images = load_images(args.images, args.batch_size)
        for name in names:
            for record in benchmark_model(
                name, device=args.device, precision=args.precision, batch_size=args.batch_size,
                iterations=args.iterations, warmup=args.warmup, weights=args.weights,
                compile=args.compile, images=images,
            ):
                print(json.dumps(record), flush=True)
        return 0

    def _pipeline(names: list[str]) -> int:
        import tempfile

        from effdet_batch.benchmark import benchmark_pipeline

        for name in names:
            with tempfile.TemporaryDirectory(prefix="effdet-bench-") as workdir:
                record = benchmark_pipeline(
                    name, folder=args.images, count=args.count, batch_size=args.batch_size, device=args.device,
                    precision=args.precision, weights=args.weights,
                    actors=args.actors, workdir=Path(workdir),
                )
            print(json.dumps(record), flush=True)
        return 0

    def _decode_bench() -> int:
        from effdet_batch.benchmark import benchmark_decode

        record = {
            "command": " ".join(["python", "jobs/benchmark.py", *(sys.argv[1:] if argv is None else argv)]),
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            **benchmark_decode(args.images, sizes=args.sizes, rounds=args.rounds),
        }
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(record, indent=1) + "\n")
        print(json.dumps(record), flush=True)
        return 0

    return run_cli(run)


if __name__ == "__main__":
    sys.exit(main())
