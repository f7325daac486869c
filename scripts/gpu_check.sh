#!/usr/bin/env bash
# The device checks of the real-GPU work, as one script (run from the repository root on a machine
# with an NVIDIA GPU and the project's .venv): GPU tests, then a full profile with provenance, then
# its report against the targets, then the real server against the simulator
# (plcore validate-serving --device cuda --quick; reported, not part of the exit status).
#   bash scripts/gpu_check.sh [OUT.json]
# On a lent device machine, whose image has torch but not this project's venv:
#   PY=python3 PYTHONPATH=. bash scripts/gpu_check.sh
# (plcore needs numpy, scipy, safetensors and tqdm there; pytest for the GPU tests; aiohttp and
# prometheus-client for the server). Where the
# environment variable OUT names a folder (the device tool's folder of files to bring back), the
# profile and the log are copied into it (or, if measuring fails, the profile so far: <profile>.json.partial).
# A failing GPU test does not stop the measurement; the exit status is non-zero if a test failed
# or a target was missed.
set -uo pipefail
out=${1:-data/profiles/$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1 | tr ' ' '-' | tr -cd 'A-Za-z0-9-').json}
py=${PY:-.venv/bin/python}
log=$(mktemp)
{
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
    $py -m pytest tests/test_gpu.py -q -p no:cacheprovider; tests=$?
    if ! $py -m plcore measure --out "$out"; then
        # What was measured before the failure (plcore measure keeps it in OUT.json.partial).
        if [ -n "${OUT:-}" ] && [ -d "${OUT:-}" ] && [ -f "$out.partial" ]; then cp "$out.partial" "$OUT/"; fi
        exit 3
    fi
    if [ -n "${OUT:-}" ] && [ -d "${OUT:-}" ]; then cp "$out" "$OUT/"; fi
    $py -m plcore profile "$out" --check; check=$?
    # The real server on the GPU against the simulator (a small version; its table in the log).
    timeout -k 10 240 $py -m plcore validate-serving --device cuda --quick; serving=$?
    echo "gpu tests exit $tests, targets check exit $check, validate-serving exit $serving"
    [ "$tests" -eq 0 ] && [ "$check" -eq 0 ]
} 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
if [ -n "${OUT:-}" ] && [ -d "${OUT:-}" ]; then cp "$log" "$OUT/gpu_check.log"; fi
rm -f "$log"
exit "$status"
