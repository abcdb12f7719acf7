"""What every `jobs/*.py` shares: logging setup, argument types, and one-line errors."""
from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from .errors import EffdetBatchError

if TYPE_CHECKING:
    from .pipeline.summary import RunSummary

__all__ = ["positive_int", "positive_float", "run_cli", "add_run_arguments", "run_settings", "add_criteria_arguments",
           "criteria_settings", "report_run"]

RANDOM_WARNING = (
    "WARNING: --weights random: SMOKE RUN with seeded random weights; the detections are NOT meaningful. "
    "Use the official weights (default) or --weights PATH for real labels."
)


def _positive(cast: Callable[[str], float], what: str) -> Callable[[str], float]:
    """An argparse type: `cast` of the text, which must be a finite number above zero."""
    def parse(text: str) -> float:
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a positive {what}, got {text!r}") from None
        if not 0 < value < float("inf"):
            raise argparse.ArgumentTypeError(f"expected a positive {what}, got {value}")
        return value

    return parse


positive_int = _positive(int, "integer")
positive_float = _positive(float, "number")


def run_cli(run: Callable[[], int]) -> int:
    """Run a job's body; a user-facing error becomes `error: <one line>` on stderr and its exit code."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    try:
        return run()
    except EffdetBatchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code


def _actors(text: str) -> tuple[int, int]:
    try:
        parts = [int(p) for p in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N or MIN,MAX, got {text!r}") from None
    if len(parts) not in (1, 2):
        raise argparse.ArgumentTypeError(f"expected N or MIN,MAX, got {text!r}")
    return (parts[0], parts[-1])


def add_run_arguments(p: argparse.ArgumentParser, one_model: bool = True) -> None:
    """The model and Ray settings of a labelling run (jobs/infer.py, jobs/relabel.py). Without
    `one_model` (jobs/select.py, whose candidates each bring theirs), no model, weights or labels."""
    if one_model:
        p.add_argument("--model", required=True, help="d0..d7, d7x, lite0..lite4, lite3x, d0_ap..d5_ap")
        p.add_argument("--weights", default=None,
                       help="checkpoint path/URI (a state dict or effdet's training file), or random "
                            "(default: official)")
        p.add_argument("--labels", default=None,
                       help="class names and ids: COCO JSON (categories), JSON list of names, or one name per "
                            "line (default: COCO's for 90-class checkpoints, else class_1..N)")
        p.add_argument("--label-order", default=None, choices=["id", "position"],
                       help="how --labels maps onto the classes (default: by id when every id is in 1..N, "
                            "else by position)")
    p.add_argument("--batch-size", type=positive_int, default=8)
    p.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp16", "fp32"])
    p.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"])
    p.add_argument("--num-gpus-per-actor", type=float, default=1.0)
    p.add_argument("--actors", type=_actors, default=(1, 1), help="N or MIN,MAX detector actors")
    p.add_argument("--min-score", type=float, default=0.0, help="drop detections below (default keeps all)")
    p.add_argument("--max-detections", type=positive_int, default=100)
    p.add_argument("--rows-per-file", type=positive_int, default=4096,
                   help="least rows per output file, and the unit of resume")
    p.add_argument("--s3-endpoint", default=None, help="S3 endpoint URL (default: AWS_ENDPOINT_URL)")
    p.add_argument("--decode", default="fast", choices=["fast", "exact"],
                   help="fast (default): JPEGs of 2x the input size or more decoded reduced by DCT scaling; "
                        "exact: every image at full size")
    p.add_argument("--address", default=None, help="Ray address (default: running cluster, else local)")
    p.add_argument("--wait", action="store_true",
                   help="when another run is writing to the output, wait for it instead of stopping (exit 1)")
    # lease.DEFAULT_EXPIRY_S (a test holds them equal); imported, the pipeline package would bring torch to --help.
    p.add_argument("--lease-expiry", type=positive_float, default=60.0, metavar="SECONDS",
                   help="a crashed run's hold on the output lapses this long after its last heartbeat, when "
                        "not on this host (default: %(default)g)")
    p.add_argument("--dry-run", action="store_true", help="validate arguments, inputs and output only")


_MODEL_SETTINGS = ("model", "weights", "labels", "label_order")
_RUN_SETTINGS = ("batch_size", "precision", "device", "num_gpus_per_actor", "actors", "min_score",
                 "max_detections", "rows_per_file", "s3_endpoint", "decode", "wait", "lease_expiry")


def run_settings(args: argparse.Namespace, one_model: bool = True) -> dict:
    """`PipelineConfig` keyword arguments of the flags `add_run_arguments` added (with the same
    `one_model`)."""
    names = (*_MODEL_SETTINGS, *_RUN_SETTINGS) if one_model else _RUN_SETTINGS
    return {name: getattr(args, name) for name in names}


def add_criteria_arguments(p: argparse.ArgumentParser) -> None:
    """The price, what the chosen model must meet and the nightly volume it is planned for
    (jobs/report.py, jobs/select.py)."""
    p.add_argument("--gpu-hour-price", type=positive_float, default=None,
                   help="price of one GPU-hour (of one CPU node-hour for CPU measurements); no default")
    p.add_argument("--budget-per-million", type=positive_float, default=None,
                   help="choose the most accurate model costing at most this per million images")
    p.add_argument("--min-images-per-second", type=positive_float, default=None,
                   help="choose the most accurate model at least this fast (images/s per device)")
    p.add_argument("--images-per-night", type=positive_int, default=None,
                   help="plan the chosen model's capacity for this many images a night")
    p.add_argument("--night-hours", type=positive_float, default=8.0,
                   help="--images-per-night: hours the night's run may take (default 8)")


def criteria_settings(args: argparse.Namespace) -> dict:
    """`reports.Criteria` keyword arguments of the flags `add_criteria_arguments` added."""
    names = ("gpu_hour_price", "budget_per_million", "min_images_per_second", "images_per_night", "night_hours")
    return {name: getattr(args, name) for name in names}


def report_run(weights: str | None, run: Callable[[], RunSummary], text: Callable[[RunSummary], str]) -> int:
    """Run a labelling job and report it: its summary for people on stderr, then, as the last
    stdout line, the summary as one JSON line for programs. A run with random weights says loudly,
    before and after, that its labels mean nothing."""
    from .pipeline.summary import summary_json

    if weights == "random":
        print(RANDOM_WARNING, file=sys.stderr, flush=True)
    summary = run()
    print(text(summary), file=sys.stderr, flush=True)
    if weights == "random":
        print(RANDOM_WARNING, file=sys.stderr, flush=True)
    print(summary_json(summary), flush=True)
    return 0
