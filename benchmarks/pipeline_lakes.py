"""Repeated runs of `jobs/benchmark.py --pipeline`, each a fresh process, gathered into one record.

    python benchmarks/pipeline_lakes.py --rounds 3 --out benchmarks/results/pipeline_lakes_cpu_DATE.json -- \\
        --lake 12mp --count 256 --lake-store local,s3 --device cpu --batch-size 8

Every second round reverses the order of `--lake-store` (local then s3, s3 then local, ...), so
that neither store always runs first on a machine whose other work comes and goes. Each run's
record (its command, date, machine and figures) is appended to the `runs` of `--out`, and this
command to its `commands`: several lakes' runs gather in one file, which benchmarks/readme_tables.py
renders.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _alternated(args: list[str], round_: int) -> list[str]:
    """`args` with the `--lake-store` list reversed on odd rounds."""
    out = list(args)
    if round_ % 2 and "--lake-store" in out:
        i = out.index("--lake-store") + 1
        out[i] = ",".join(reversed(out[i].split(",")))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("benchmark_args", nargs=argparse.REMAINDER,
                        help="after --: the arguments of jobs/benchmark.py --pipeline")
    args = parser.parse_args(argv)
    bench_args = [a for a in args.benchmark_args if a != "--"]
    record = json.loads(args.out.read_text()) if args.out.exists() else {"benchmark": "pipeline_lakes", "commands": [],
                                                                         "runs": []}
    record["commands"].append(" ".join(["python", "benchmarks/pipeline_lakes.py", *(argv or sys.argv[1:])]))
    for round_ in range(args.rounds):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "run.json"
            command = [sys.executable, "jobs/benchmark.py", "--pipeline", *_alternated(bench_args, round_),
                       "--out", str(out)]
            subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
            run = json.loads(out.read_text())
        run["command"] = run["command"].replace(f" --out {out}", "")  # a temporary file, gone
        record["runs"].append(run)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(record, indent=1) + "\n")  # after each run: a long series keeps what it has
        stores = ", ".join(f"{s['store']} {s['pipeline_images_per_second']} ({s['over_detect']} of detect)"
                           for s in run["stores"])
        print(f"round {round_ + 1}: detect {run['detect_images_per_second']} images/s; {stores}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
