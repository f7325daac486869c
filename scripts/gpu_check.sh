#!/usr/bin/env bash
# The device checks of the real-GPU work, as one script (run from the repository root on a machine
# with an NVIDIA GPU and the project's .venv): GPU tests, then a full profile with provenance.
#   bash scripts/gpu_check.sh [OUT.json]
# On a lent device machine, whose image has torch but not this project's venv:
#   PY=python3 PYTHONPATH=. bash scripts/gpu_check.sh
# (plcore needs numpy, scipy and safetensors there; pytest for the GPU tests).
set -euo pipefail
out=${1:-data/profiles/$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1 | tr ' ' '-' | tr -cd 'A-Za-z0-9-').json}
py=${PY:-.venv/bin/python}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
$py -m pytest tests/test_gpu.py -q -p no:cacheprovider
$py -m plcore measure --out "$out"
$py -m plcore profile "$out" --check      # exit 1 if a target is missed
