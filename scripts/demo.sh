#!/usr/bin/env bash
# The main job on the bundled sample photos, on a local Ray: examples/images -> out/demo (Parquet).
# Uses the official D0 weights; where they cannot be fetched (offline) it runs as a smoke run with
# seeded random weights and says so. Extra arguments go to jobs/infer.py.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
weights=()
if ! .venv/bin/python jobs/fetch_weights.py --model d0 >/dev/null 2>/tmp/effdet_batch_fetch.err; then
  cat /tmp/effdet_batch_fetch.err >&2
  cat >&2 <<'BANNER'
##########################################################################################
#  OFFLINE: the official EfficientDet-D0 weights could not be fetched.                  #
#  Running a SMOKE RUN with seeded RANDOM weights: the pipeline runs end to end, but    #
#  the detections are meaningless. Supply the weights (see the error above) for labels. #
##########################################################################################
BANNER
  weights=(--weights random)
fi
rm -rf out/demo  # a fresh output: rerunning into the same one resumes, labelling nothing new
exec .venv/bin/python jobs/infer.py --model d0 --input examples/images --output out/demo \
  --batch-size 4 "${weights[@]}" "$@"
