#!/usr/bin/env bash
# The test suite, from a fresh clone: sets up .venv, then runs pytest (extra arguments pass through).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest "$@"
