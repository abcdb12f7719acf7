#!/usr/bin/env bash
# The GPU check: one command for a GPU machine, under 6 minutes, one JSON line per measurement on
# stdout and in $OUT/gpu_check_<device>.jsonl (copy that file to benchmarks/results/).
#
#   bash benchmarks/gpu_prepare.sh                # beforehand, where PyPI is reachable: the wheels
#   OUT=/tmp/gpu bash benchmarks/gpu_check.sh     # on the GPU machine
#   bash benchmarks/gpu_check.sh --cpu-smoke      # CI: the same checks at tiny sizes on the CPU
#
# Checks, most wanted first (each in its own process, bounded by what is left of the budget):
#   gpu_tests, nms_agreement   the gpu-marked tests; NMS on torchvision's kernel against plain torch
#   model_<precision>          Detector.detect and forward for d0 and d5 at batch 64, beside effdet's
#                              own eager forward under autocast on the same input (detect_over_reference)
#   stages                     decode + letterbox per core against DetectStage, 1 and 2 batches in flight
#   gpu_decode                 nvJPEG (torchvision) on the GPU against the CPU's reduced decode per core
#   compile                    Detector.detect of d0 with torch.compile
# Needs no Ray, pycocotools or ../shared: the model path imports torch, numpy, Pillow, pyarrow and
# fsspec. The effdet wheels (and a link to ../shared for the tests' checkpoint and photos) come
# from benchmarks/gpu_carry/, made by gpu_prepare.sh.
set -uo pipefail
cd "$(dirname "$0")/.."

SMOKE=0
case "${1:-}" in
  --cpu-smoke) SMOKE=1 ;;
  "") ;;
  *) echo "usage: bash benchmarks/gpu_check.sh [--cpu-smoke]" >&2; exit 2 ;;
esac
PY=${PYTHON:-python3}
OUT=${OUT:-out/gpu_check}
mkdir -p "$OUT"
LOG="$OUT/gpu_check.log"
: > "$LOG"
export PYTHONUNBUFFERED=1

CARRY=benchmarks/gpu_carry
WHEELS_FAILED=0
if compgen -G "$CARRY/wheels/*.whl" > /dev/null; then
  SITE="${TMPDIR:-/tmp}/effdet-gpu-check-site"
  if "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" \
      "$CARRY"/wheels/*.whl >> "$LOG" 2>&1; then
    export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
  else
    WHEELS_FAILED=1  # said once the record file is open; effdet's comparison then says it is missing
  fi
fi
if [[ -d $CARRY/shared/reference/parity_d0 ]]; then
  export EFFDET_BATCH_SHARED="$PWD/$CARRY/shared"  # the gpu tests' checkpoint and photos
fi

if (( SMOKE )); then
  DEVICE=cpu MODELS=d0 PRECISIONS=fp32 BATCH=2 ITERATIONS=2 WARMUP=1 ROUNDS=1 DECODE_BATCH=2 BUDGET=240
  IMAGES="$OUT/photos"  # two photos: 12 MP versions of all eight take long on 2 cores
  mkdir -p "$IMAGES" && cp examples/images/2007_000027.jpg examples/images/2007_000032.jpg "$IMAGES"/
  NAME=cpu-smoke
else
  DEVICE=cuda MODELS=d0,d5 PRECISIONS="bf16 fp16" BATCH=64 ITERATIONS=10 WARMUP=3 ROUNDS=3 DECODE_BATCH=32 BUDGET=330
  IMAGES=examples/images  # the bundled photos, upscaled to 12 MP with noise: the CPU decode records' inputs
  NAME=$("$PY" -c 'import torch; print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no-gpu")' \
         2>> "$LOG" | tr -c 'A-Za-z0-9.\n' '-' | tr 'A-Z' 'a-z')
fi
LINES="$OUT/gpu_check_${NAME:-unknown}.jsonl"
: > "$LINES"
START=$SECONDS

emit() {  # lines from gpu_check_lines.py: to stdout and to the record file
  tee -a "$LINES"
}

left() {  # seconds of the budget left for a check, at most $1
  local rest=$(( BUDGET - (SECONDS - START) ))
  (( rest < $1 )) && echo "$rest" || echo "$1"
}

measure() {  # measure CHECK LIMIT_S ARGS...: jobs/benchmark.py ARGS, its records tagged with CHECK
  local check=$1 limit; limit=$(left "$2"); shift 2
  if (( limit < 10 )); then
    "$PY" benchmarks/gpu_check_lines.py skipped "$check" "no time left in the ${BUDGET} s budget" | emit
    return
  fi
  echo "== $check: jobs/benchmark.py $*" >> "$LOG"
  timeout "$limit" "$PY" -m jobs.benchmark "$@" > "$OUT/$check.out" 2>> "$LOG"
  "$PY" benchmarks/gpu_check_lines.py records "$check" $? "$LOG" < "$OUT/$check.out" | emit
}

run_tests() {  # run_tests CHECK LIMIT_S PYTEST_ARGS...
  local check=$1 limit; limit=$(left "$2"); shift 2
  echo "== $check: pytest $*" >> "$LOG"
  timeout "$limit" "$PY" -m pytest -q -p no:cacheprovider --junitxml="$OUT/$check.xml" "$@" >> "$LOG" 2>&1
  "$PY" benchmarks/gpu_check_lines.py tests "$check" $? "$OUT/$check.xml" "$LOG" | emit
}

if (( WHEELS_FAILED )); then
  "$PY" benchmarks/gpu_check_lines.py skipped wheels "the carried wheels did not install: $(grep -m1 ERROR "$LOG")" \
    | tee -a "$LINES"
fi
SIZES=(--iterations "$ITERATIONS" --warmup "$WARMUP" --device "$DEVICE")
run_tests gpu_tests 90 -m gpu tests/model
run_tests nms_agreement 45 "tests/model/test_nms.py::test_torchvision_and_plain_torch_agree_at_batch_16"
for precision in $PRECISIONS; do
  measure "model_$precision" 90 --models "$MODELS" --precision "$precision" --batch-size "$BATCH" "${SIZES[@]}" \
    --kinds forward,detect --reference
done
measure stages 75 --stage-bench --model d0 --precision "${PRECISIONS%% *}" --batch-size "$BATCH" "${SIZES[@]}" \
  --rounds "$ROUNDS" --images "$IMAGES"
measure gpu_decode 45 --gpu-decode-bench --batch-size "$DECODE_BATCH" --sizes 512 --iterations "$ITERATIONS" \
  --warmup "$WARMUP" --rounds "$ROUNDS" --images "$IMAGES"
if (( SMOKE )); then
  "$PY" benchmarks/gpu_check_lines.py skipped compile \
    "--cpu-smoke: inductor's CPU compile of D0 takes minutes on 2 cores" | emit
else
  measure compile 150 --models d0 --precision bf16 --batch-size "$BATCH" "${SIZES[@]}" --kinds detect --compile
fi
echo "gpu_check: $(wc -l < "$LINES") lines in $LINES, $(( SECONDS - START )) s" >&2
! grep -q '"status": "failed"' "$LINES"
