"""Throughput of EfficientDet models on this machine, as JSON lines.

    python jobs/benchmark.py --model d0 --device cpu --batch-size 4
    python jobs/benchmark.py --models d0,d1,d2 --device cuda --precision bf16 --batch-size 16
    python jobs/benchmark.py --pipeline --model d0 --device cpu --count 1024 --batch-size 8
    python jobs/benchmark.py --pipeline --lake 12mp --lake-store local,s3 --count 256 --device cpu --batch-size 8
    python jobs/benchmark.py --decode-bench --out benchmarks/results/decode_cpu_2026-12-01.json
    python jobs/benchmark.py --models d0,d5 --device cuda --batch-size 64 --kinds detect --reference
    python jobs/benchmark.py --stage-bench --model d0 --device cuda --batch-size 64
    python jobs/benchmark.py --gpu-decode-bench --batch-size 32

--pipeline measures the inference job end to end (local Ray, cluster start excluded) on a lake of
--count files made from the --images photos, from each --lake-store in turn, against Detector.detect
on the same images' letterboxed canvases, and prints one record (also written to --out). The
lakes (--lake) and their shares of each kind of file follow this text. Stores (--lake-store):
local (a folder), s3 (moto on 127.0.0.1 behind a proxy delaying every request by --s3-delay-ms;
needs the test extra).
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
from effdet_batch.synthetic_lake import KINDS, LAKES  # noqa: E402

DEFAULT_IMAGES = Path(__file__).resolve().parents[1] / "examples" / "images"


def _sizes(text: str) -> list[int]:
    return [positive_int(part) for part in text.split(",")]


def _kinds(text: str) -> tuple[str, ...]:
    from effdet_batch.benchmark import KINDS

    kinds = tuple(part.strip() for part in text.split(",") if part.strip())
    if not kinds or set(kinds) - set(KINDS):
        raise argparse.ArgumentTypeError(f"expected some of {', '.join(KINDS)}, got {text!r}")
    return kinds


def _lakes_text() -> str:
    """The lakes --pipeline builds, each kind's share and what it is (from synthetic_lake)."""
    lines = ["--pipeline lakes (--lake):"]
    for lake, shares in LAKES.items():
        lines.append(f"  {lake}: " + "; ".join(f"{share:.0%} {KINDS[kind].description}" for kind, share in shares.items()))
    return "\n".join(lines)


def _stores(text: str) -> tuple[str, ...]:
    from effdet_batch.pipeline_benchmark import STORES

    stores = tuple(part.strip() for part in text.split(",") if part.strip())
    if not stores or set(stores) - set(STORES) or len(set(stores)) < len(stores):
        raise argparse.ArgumentTypeError(f"expected some of {', '.join(STORES)}, each once, got {text!r}")
    return stores


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, epilog=_lakes_text(),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
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
    parser.add_argument("--lake", default="small", choices=sorted(LAKES),
                        help="--pipeline: the kinds of file the lake holds, in the shares above (default small)")
    parser.add_argument("--lake-store", type=_stores, default=("local",),
                        help="--pipeline: where the lake is read from, comma-separated, in this order: local, s3 "
                             "(default local)")
    parser.add_argument("--lake-variants", type=positive_int, default=8,
                        help="--pipeline: distinct files per kind of the lake, repeated to --count (default 8)")
    parser.add_argument("--s3-delay-ms", type=positive_int, default=50,
                        help="--pipeline: delay of every request to the loopback S3 (default 50)")
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
                        help="--pipeline, --decode-bench, --stage-bench, --gpu-decode-bench: also write the record to "
                             "this file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def run() -> int:
        from effdet_batch.benchmark import benchmark_model, load_images
        from effdet_batch.model import get_spec
        from effdet_batch.model.cpu import keep_freed_memory

        keep_freed_memory()  # as the job's workers run: process-wide, so set here, by the entry point
        if args.decode_bench or args.gpu_decode_bench or args.stage_bench or args.pipeline:
            return _one_record()
        names = [get_spec(n).name for n in args.models.split(",") if n.strip()]
        images = load_images(args.images, args.batch_size)
        for name in names:
            for record in benchmark_model(
                name, device=args.device, precision=args.precision, batch_size=args.batch_size,
                iterations=args.iterations, warmup=args.warmup, weights=args.weights,
                compile=args.compile, images=images, kinds=args.kinds, reference=args.reference,
            ):
                print(json.dumps(record), flush=True)
        return 0

    def _one_record() -> int:
        from effdet_batch.benchmark import benchmark_decode
        from effdet_batch.model import get_spec
        from effdet_batch.stage_benchmark import benchmark_gpu_decode, benchmark_stages

        if args.pipeline:
            measured = _pipeline(get_spec(args.models.split(",")[0]).name)
        elif args.stage_bench:
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

    def _pipeline(name: str) -> dict:
        import tempfile

        from effdet_batch.benchmark import machine
        from effdet_batch.pipeline_benchmark import benchmark_pipeline

        with tempfile.TemporaryDirectory(prefix="effdet-bench-") as workdir:
            measured = benchmark_pipeline(
                name, photos=args.images, lake=args.lake, count=args.count, stores=args.lake_store,
                batch_size=args.batch_size, device=args.device, precision=args.precision, weights=args.weights,
                actors=args.actors, variants=args.lake_variants, s3_delay=args.s3_delay_ms / 1000,
                workdir=Path(workdir))
        return {**measured, "machine": machine()}

    return run_cli(run)


if __name__ == "__main__":
    sys.exit(main())
