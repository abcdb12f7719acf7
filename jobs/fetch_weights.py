"""Download (or find in the cache) the official checkpoint of a variant and print its local path.

    python jobs/fetch_weights.py --model d5

Exit 1 with one line saying how to supply the file when it cannot be fetched (offline).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

if not __package__:  # run as a script: the checkout, not jobs/, heads sys.path (else jobs/select.py
    sys.path[0] = str(Path(__file__).resolve().parents[1])  # would stand in for the standard select)

from effdet_batch.cli import run_cli  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="d0..d7, d7x")
    args = parser.parse_args(argv)

    def run() -> int:
        from effdet_batch.model import get_spec
        from effdet_batch.model.checkpoint import fetch, official_uri

        spec = get_spec(args.model)
        path, sha = fetch(official_uri(spec), spec)
        print(f"{path}\t{sha}")
        return 0

    return run_cli(run)


if __name__ == "__main__":
    sys.exit(main())
