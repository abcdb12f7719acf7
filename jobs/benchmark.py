"""Throughput of EfficientDet models on this machine, as JSON lines.

    python jobs/benchmark.py --model d0 --device cpu --batch-size 4
    python jobs/benchmark.py --models d0,d1,d2 --device cuda --precision bf16 --batch-size 16
    python jobs/benchmark.py --pipeline --model d0 --device cpu --count 1024 --batch-size 8
    python jobs/benchmark.py --decode-bench --out benchmarks/results/decode_cpu_2026-12-01.json
    python jobs/benchmark.py --models d0,d5 --device cuda --batch-size 64 --kinds detect --reference
    python jobs/benchmark.py --stage-bench --model d0 --device cuda --batch-size 64
    python jobs/benchmark.py --gpu-decode-bench --batch-size 32

--pipeline measures the inference job end to end (local Ray, cluster start excluded) against
Detector.predict on the same pre-decoded images, and prints their ratio.
--decode-bench measures decode + letterbox of 12 MP JPEGs (each --images photo upscaled with
sensor-like noise) on one core, --decode fast against exact, and prints one record with the
command, machine and date (also written to --out).
--kinds picks the model records (forward, predict, detect: Detector.detect on letterboxed uint8
batches); --reference adds effdet's own eager forward on the same input (needs effdet).
--stage-bench measures decode + letterbox per core against DetectStage with one and two batches in
flight (the decode cores one detector needs); --gpu-decode-bench, nvJPEG decoding on the GPU
(torchvision) against the CPU's reduced decode per core.
"""
from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

if not __package__:  # run as a script: the checkout, not jobs/, heads sys.path (else jobs/select.py
    sys.path[0] = str(Path(__file__).resolve().parents[1])  # would stand in for the standard select)

from effdet_batch.cli import positive_int, run_cli  # noqa: E402

DEFAULT_IMAGES = Path(__file__).resolve().parents[1] / "examples" / "images"


def _sizes(text: str) -> list[int]:
    return [positive_int(part) for part in text.split(",")]


def _kinds(text: str) -> tuple[str, ...]:
    from effdet_batch.benchmark import KINDS

    kinds = tuple(part.strip() for part in text.split(",") if part.strip())
    if not kinds or set(kinds) - set(KINDS):
        raise argparse.ArgumentTypeError(f"expected some of {', '.join(KINDS)}, got {text!r}")
    return kinds


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
    parser.add_argument("--kinds", type=_kinds, default=("forward", "predict"),
                        help="model records, comma-separated: forward, predict, detect (default forward,predict)")
    parser.add_argument("--reference", action="store_true",
                        help="also time effdet's own eager forward under autocast on the same input (needs effdet)")
    parser.add_argument("--pipeline", action="store_true", help="benchmark jobs/infer.py end to end")
    parser.add_argument("--count", type=positive_int, default=1024,
                        help="--pipeline: number of image files (the detector actor's start, about 3 s, is paid once)")
    parser.add_argument("--actors", type=positive_int, default=1, help="--pipeline: detector actors")
    parser.add_argument("--decode-bench", action="store_true",
                        help="benchmark decode + letterbox of 12 MP JPEGs, --decode fast against exact")
    parser.add_argument("--sizes", type=_sizes, default=(512, 1024, 1536),
                        help="--decode-bench: input sizes, comma-separated (default 512,1024,1536); "
                             "--gpu-decode-bench: the first is the size resized to")
    parser.add_argument("--rounds", type=positive_int, default=5,
                        help="--decode-bench (and the decode part of --stage-bench, --gpu-decode-bench): timed runs "
                             "per mode and size")
    parser.add_argument("--stage-bench", action="store_true",
                        help="benchmark decode per core against DetectStage with one and two batches in flight")
    parser.add_argument("--gpu-decode-bench", action="store_true",
                        help="benchmark decoding 12 MP JPEGs on the GPU (torchvision) against the CPU per core")
    parser.add_argument("--out", type=Path, default=None,
                        help="--decode-bench, --stage-bench, --gpu-decode-bench: also write the record to this file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def run() -> int:
        from effdet_batch.benchmark import benchmark_model, load_images
        from effdet_batch.model import get_spec
        from effdet_batch.model.cpu import keep_freed_memory

        keep_freed_memory()  # as the job's workers run: process-wide, so set here, by the entry point
        if args.decode_bench or args.gpu_decode_bench or args.stage_bench:
            return _one_record()
        names = [get_spec(n).name for n in args.models.split(",") if n.strip()]
        if args.pipeline:
            return _pipeline(names)
        images = load_images(args.images, args.batch_size)
        for name in names:
            for record in benchmark_model(
                name, device=args.device, precision=args.precision, batch_size=args.batch_size,
                iterations=args.iterations, warmup=args.warmup, weights=args.weights,
                compile=args.compile, images=images, kinds=args.kinds, reference=args.reference,
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

    def _one_record() -> int:
        from effdet_batch.benchmark import benchmark_decode
        from effdet_batch.model import get_spec
        from effdet_batch.stage_benchmark import benchmark_gpu_decode, benchmark_stages

        if args.stage_bench:
            measured = benchmark_stages(
                get_spec(args.models.split(",")[0]).name, folder=args.images, device=args.device,
                precision=args.precision, batch_size=args.batch_size, iterations=args.iterations, warmup=args.warmup,
                weights=args.weights, rounds=args.rounds)
        elif args.gpu_decode_bench:
            measured = benchmark_gpu_decode(args.images, image_size=args.sizes[0], batch_size=args.batch_size,
                                            iterations=args.iterations, warmup=args.warmup, rounds=args.rounds)
        else:
            measured = benchmark_decode(args.images, sizes=args.sizes, rounds=args.rounds)
        record = {
            "command": " ".join(["python", "jobs/benchmark.py", *(sys.argv[1:] if argv is None else argv)]),
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            **measured,
        }
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(record, indent=1) + "\n")
        print(json.dumps(record), flush=True)
        return 0

    return run_cli(run)


if __name__ == "__main__":
    sys.exit(main())
