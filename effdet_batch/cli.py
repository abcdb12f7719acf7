"""What every `jobs/*.py` shares: logging setup, argument types, and one-line errors."""
from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable

from .errors import EffdetBatchError

__all__ = ["positive_int", "run_cli"]


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def run_cli(run: Callable[[], int]) -> int:
    """Run a job's body; a user-facing error becomes `error: <one line>` on stderr and its exit code."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    try:
        return run()
    except EffdetBatchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
