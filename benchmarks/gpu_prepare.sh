#!/usr/bin/env bash
# What benchmarks/gpu_check.sh needs on the GPU machine beyond its image, into benchmarks/gpu_carry/
# (git-ignored), made here where PyPI is reachable:
#   wheels/   effdet 0.4.1 (the reference implementation) and what it imports that the image lacks:
#             omegaconf, antlr4-python3-runtime (omegaconf 2.3's 4.9 line; an sdist only, so a
#             pure-Python wheel is built here) and pycocotools (for CPython 3.12, x86-64)
#   shared    a link to ../shared: carrying shared/reference/parity_d0 and shared/data/indoor85/images
#             through it gives the gpu tests their checkpoint and photos there
# Carry benchmarks/gpu_carry/wheels and those two paths with the run (about 37 MB).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
DEST=benchmarks/gpu_carry
mkdir -p "$DEST/wheels"
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d "$DEST/wheels" effdet==0.4.1 omegaconf==2.3.0 pycocotools==2.0.11
"$PY" -m pip wheel -q --no-deps -w "$DEST/wheels" antlr4-python3-runtime==4.9.3
if [[ -d ../shared ]]; then
  ln -sfn "$(cd ../shared && pwd)" "$DEST/shared"
fi
ls "$DEST/wheels"
