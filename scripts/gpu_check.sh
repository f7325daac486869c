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
$py - "$out" <<'PYEOF'
import json, sys
p = json.load(open(sys.argv[1]))
peak, got = p["h2d_pinned_peak_Bps"], p["loader_Bps"]
print(f"device {p['device']}  driver {p['driver']}  torch {p['torch']}")
if peak:
    print(f"pinned H2D peak {peak / 1e9:.1f} GB/s; packed loader {got / 1e9:.1f} GB/s "
          f"({100 * got / peak:.1f} % of peak; target >= 90 %)")
else:
    print(f"no pinned H2D peak (CPU profile); packed loader {got / 1e9:.1f} GB/s")
v = p["validation"]
print(f"validation: makespan error {100 * v['makespan_rel_err']:.2f} % (target <= 5 %), "
      f"runs {[round(100 * e, 2) for e in v['runs_makespan_rel_err']]}")
print("whole-model load (median; ResNet-50 target on an H100: packed_pinned <= 2.0 ms):")
for arch, a in p["architectures"].items():
    print(arch, {k: f"{1e3 * t:.2f} ms" for k, t in a["model_load_s"].items()},
          f"infer b1 {1e3 * a['infer_s']['1']:.2f} ms",
          {k: f"{100 * s:.1f} %" for k, s in a["loading_share"].items()})
PYEOF
