#!/usr/bin/env bash
# Pipelined against sequential execution on a GPU, as one script (run from the repository root on
# a machine with an NVIDIA GPU): the GPU tests of the streamed executor, then the measurement,
# added to the device's profile (`pipelining`), then its report.
#   bash scripts/gpu_pipelining.sh [PROFILE.json]
# On a lent device machine, whose image has torch but not this project's venv:
#   PY=python3 PYTHONPATH=. bash scripts/gpu_pipelining.sh
# PROFILE defaults to data/profiles/<GPU name>.json. Where the environment variable OUT names a
# folder (the device tool's folder of files to bring back), the committed profile is left alone
# and a copy with the measurement goes to OUT/<PROFILE's name>, with the section alone in
# OUT/pipelining.json and the log in OUT/gpu_pipelining.log; otherwise PROFILE itself is updated.
# The measurement writes after each architecture and runs under a time limit, so whatever it
# measured is kept if it fails or is stopped. Exit status: non-zero if a test failed, an
# architecture failed or its outputs differed.
set -uo pipefail
py=${PY:-.venv/bin/python}
name=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 | tr ' ' '-' | tr -cd 'A-Za-z0-9-' | tr 'A-Z' 'a-z')
profile=${1:-data/profiles/${name:-nvidia-h200}.json}
log=$(mktemp)
out_args=()
if [ -n "${OUT:-}" ] && [ -d "${OUT:-}" ]; then
    out_args=(--out "$OUT/$(basename "$profile")" --section "$OUT/pipelining.json")
fi
{
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
    timeout -k 10 75 $py -m pytest tests/test_gpu.py -q -p no:cacheprovider -k "streamed or pipelin"
    tests=$?
    timeout -k 10 100 $py scripts/measure_pipelining.py "$profile" ${out_args[@]+"${out_args[@]}"}
    measured=$?
    echo "gpu tests exit $tests, pipelining exit $measured"
    [ "$tests" -eq 0 ] && [ "$measured" -eq 0 ]
} 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
if [ -n "${OUT:-}" ] && [ -d "${OUT:-}" ]; then cp "$log" "$OUT/gpu_pipelining.log"; fi
rm -f "$log"
exit "$status"
