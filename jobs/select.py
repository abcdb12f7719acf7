"""Choose a model in one command: every candidate over the same sample of your images, evaluated
against its ground truth and benchmarked on the device its job ran on, then the selection report.

    python jobs/select.py --models d0,d1,d2,lite0,d3_ap --input s3://lake/images --annotations instances.json \\
        --output s3://labels/selection --gpu-hour-price 2.5 --budget-per-million 1.0
    python jobs/select.py --models d0,d1 --candidates mine.yaml --weights-dir s3://models/effdet ...

Writes OUTPUT/sample/ (the manifest of the sample and its ground truth), OUTPUT/runs/<name>/ (the
job's Parquet), OUTPUT/metrics/<name>/ (jobs/evaluate.py's files), OUTPUT/bench/<name>.json
(jobs/benchmark.py's records) and OUTPUT/report/ (jobs/report.py's files). Rerunning the same
command after a crash redoes nothing finished. One progress line per candidate stage on stderr,
then a one-screen summary; the last stdout line is the summary as JSON (the chosen model, and per
model AP, images/s per device and cost per million images).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

if not __package__:  # run as a script: the checkout, not jobs/, heads sys.path (else this file
    sys.path[0] = str(Path(__file__).resolve().parents[1])  # would stand in for the standard select)

from effdet_batch.cli import (  # noqa: E402
    add_criteria_arguments, add_run_arguments, criteria_settings, positive_int, run_cli, run_settings,
)
from effdet_batch.evaluation.coco import CATEGORY_MODES  # noqa: E402
from effdet_batch.evaluation.predictions import MATCH_MODES  # noqa: E402


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default=None, help="published variants, comma-separated (d0,d1,lite0,d3_ap,...)")
    p.add_argument("--candidates", default=None,
                   help="YAML or JSON list of your own models: name, model, weights and optionally labels")
    p.add_argument("--input", action="append", required=True,
                   help="image folder/prefix, image file or manifest URI to sample from (repeatable)")
    p.add_argument("--annotations", required=True, help="COCO instances JSON of the input's images")
    p.add_argument("--output", required=True, help="folder or prefix URI of the selection")
    add_criteria_arguments(p)
    p.add_argument("--sample", type=positive_int, default=500, help="images in the sample (default 500)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sample's choice")
    p.add_argument("--match", default="basename", choices=MATCH_MODES, help="how images find their ground truth")
    p.add_argument("--categories", default="id", choices=CATEGORY_MODES,
                   help="compare category ids (default), or label names with the ground truth's names")
    p.add_argument("--weights-dir", default=None,
                   help="folder/prefix holding official checkpoints by their release file names "
                        "(default: the official download)")
    p.add_argument("--weights", default=None, choices=["random"],
                   help="random: seeded random weights for every --models variant (needs --smoke)")
    p.add_argument("--smoke", action="store_true",
                   help="a smoke run of the plumbing: allows --weights random; every output says SMOKE")
    p.add_argument("--bench-iterations", type=positive_int, default=10, help="timed batches of each benchmark")
    p.add_argument("--bench-batch-size", type=positive_int, default=None,
                   help="batch size of the benchmarks (default: --batch-size)")
    add_run_arguments(p, one_model=False)
    args = p.parse_args(argv)
    if not (args.models or args.candidates):
        p.error("give --models and/or --candidates")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def run() -> int:
        from effdet_batch.reports import Criteria
        from effdet_batch.selection import SelectionConfig, plan_models, select_model, selection_text

        def progress(line: str) -> None:
            print(line, file=sys.stderr, flush=True)

        cfg = SelectionConfig(
            models=tuple(plan_models(args.models, args.candidates, args.weights_dir, args.weights == "random")),
            inputs=tuple(args.input), annotations=args.annotations, output=args.output,
            criteria=Criteria(**criteria_settings(args)),
            sample=args.sample, seed=args.seed, match=args.match, categories=args.categories,
            smoke=args.smoke, bench_iterations=args.bench_iterations,
            bench_batch_size=args.bench_batch_size, run=run_settings(args, one_model=False),
        )
        summary = select_model(cfg, address=args.address, dry_run=args.dry_run, progress=progress)
        print(selection_text(summary), file=sys.stderr, flush=True)
        print(json.dumps(summary), flush=True)
        return 0

    return run_cli(run)


if __name__ == "__main__":
    sys.exit(main())
