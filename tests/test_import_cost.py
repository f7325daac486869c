"""`import plcore` stays light: the heavy modules are imported where they are used."""

import subprocess
import sys

# Each costs a sizeable part of a second to import and is needed only by some solvers or tools.
HEAVY = ("scipy.optimize", "scipy.linalg", "scipy.special", "scipy.sparse", "torch", "pandas",
         "matplotlib")


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "; import sys; print(*sys.modules)"],
                         capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_import_plcore_loads_no_heavy_module():
    loaded = _modules_after("import plcore")
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_dp_still_finds_its_assignment_solver():
    # The lazy import must work: a binding budget makes dp call linear_sum_assignment.
    loaded = _modules_after(
        "import plcore; from plcore.study.synthetic import random_instance; "
        "inst = random_instance(3, 12, 4, structure='bottom', common_deadline=True, "
        "bandwidth_hz=3e6); seq = plcore.solve(inst, method='dp'); "
        "assert plcore.evaluate(inst, seq).feasible")
    assert "scipy.optimize" in loaded
