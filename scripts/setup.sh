#!/usr/bin/env bash
# Create .venv and install the project into it (torch first, so that pip keeps the CPU build
# instead of pulling the CUDA one). Re-running is cheap: it reinstalls only when pyproject.toml or the
# constraints changed.
set -euo pipefail
cd "$(dirname "$0")/.."
# Debian packages the tests use, where the machine runs as root with apt: headless Chromium for
# the tests that open the project's pages (gallery, evaluation, churn, report) as a person would,
# and iproute2 for the multi-host tests' network namespaces (tests/hosts.py).
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v ip >/dev/null || missing+=(iproute2)
if [ ${#missing[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
PYTHON=${PYTHON:-python3}
TORCH_VERSION=${TORCH_VERSION:-$(cat scripts/torch-version)}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
stamp=.venv/.effdet_batch-installed
want="torch=$TORCH_VERSION $(cat pyproject.toml scripts/constraints.txt | sha256sum | cut -c1-16)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet "torch==$TORCH_VERSION"
  .venv/bin/python -m pip install --quiet -e ".[test]" -c scripts/constraints.txt
  echo "$want" > "$stamp"
fi
