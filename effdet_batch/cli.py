"""What every `jobs/*.py` shares: logging setup, argument types, and one-line errors."""
from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable

from .errors import EffdetBatchError

__all__ = ["positive_int", "positive_float", "run_cli"]


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
