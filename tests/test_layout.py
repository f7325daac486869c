"""The layout of plcore: four wings whose imports only go down (rules in plcore/__init__.py).

Every ``import`` and ``from ... import`` in the package, at module level or inside a function, is
parsed with :mod:`ast` and resolved to the module it names; each is checked against the rules.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "plcore"

WINGS = ("model", "schedulers", "gpu", "online", "serving", "study")
ROOT_MODULES = {"__init__", "__main__", "cli", "errors", "paths"}
LEAVES = {"errors", "paths"}  # import nothing of plcore; any wing may use them
# What each part of the package may import (besides itself and the leaves). "plcore" is the
# package's own __init__ (the public API).
ALLOWED = {
    "model": set(),
    "schedulers": {"model"},
    "gpu": {"model"},
    "online": {"model", "schedulers"},
    # the real server drives the online wing's policies with the gpu wing's loader
    "serving": {"model", "schedulers", "gpu", "online", "plcore"},
    "study": {"model", "schedulers", "gpu", "online", "serving", "plcore"},
    "plcore": {"model", "schedulers"},
    "errors": set(),
    "paths": set(),
    "cli": {"model", "schedulers", "gpu", "online", "serving", "study", "plcore"},
    "__main__": {"cli"},
}
# The gpu wing imports schedulers only where it runs a schedule.
RUNS_SCHEDULES = {"plcore.gpu.runtime", "plcore.gpu.loadtime"}


def module_name(path: Path, package: Path) -> str:
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def part_of(module: str) -> str:
    """The wing (or root module) a dotted name belongs to: ``plcore.model.x`` -> ``model``."""
    parts = module.split(".")
    if len(parts) == 1:
        return "plcore"
    return parts[1]


def imported_modules(path: Path, package: Path) -> list[tuple[int, str]]:
    """(line, module) for every plcore module that ``path`` imports."""
    name = module_name(path, package)
    is_package = path.name == "__init__.py"
    here = name if is_package else name.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            found.append((node.lineno, target))
            # `from plcore import study` names a module, not an attribute
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                rel = Path(*sub.split(".")[1:]) if "." in sub else Path()
                if (package / rel).with_suffix(".py").exists() or (package / rel).is_dir():
                    found.append((node.lineno, sub))
    root = package.name
    return [(line, m) for line, m in found if m == root or m.startswith(root + ".")]


def layout_violations(package: Path = PACKAGE) -> list[str]:
    problems = []
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package)
        if len(rel.parts) == 1 and path.stem not in ROOT_MODULES:
            problems.append(f"{rel}: only {sorted(ROOT_MODULES)} live at the package root")
            continue
        if len(rel.parts) > 1 and rel.parts[0] not in WINGS:
            problems.append(f"{rel}: {rel.parts[0]}/ is not one of the wings {WINGS}")
            continue
        name = module_name(path, package)
        mine = part_of(name)
        allowed = ALLOWED[mine] | {mine} | LEAVES
        if name in RUNS_SCHEDULES:
            allowed = allowed | {"schedulers"}
        if mine in LEAVES:
            allowed = set()
        for line, target in imported_modules(path, package):
            theirs = part_of(target)
            if theirs not in allowed:
                problems.append(f"{rel}:{line}: {mine} imports {target} ({theirs})")
    return problems


def test_every_module_keeps_the_layering():
    assert len(list(PACKAGE.rglob("*.py"))) > 30
    problems = layout_violations()
    assert not problems, "\n".join(problems)


def test_the_wings_and_root_are_as_documented():
    wings = {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert wings <= set(WINGS) and {"model", "schedulers", "gpu", "study"} <= wings
    assert {p.stem for p in PACKAGE.glob("*.py")} == ROOT_MODULES


def _fake_package(tmp_path, files: dict[str, str]) -> Path:
    pkg = tmp_path / "plcore"
    for rel, text in files.items():
        path = pkg / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for wing in WINGS:
        (pkg / wing).mkdir(exist_ok=True)
        (pkg / wing / "__init__.py").touch()
    return pkg


@pytest.mark.parametrize("files, expected", [
    # model reaching up into schedulers, with a relative import inside a function
    ({"model/timeline.py": "def f():\n    from ..schedulers import solve\n"},
     "model/timeline.py:2: model imports plcore.schedulers (schedulers)"),
    # schedulers importing study by absolute name
    ({"schedulers/dp.py": "import plcore.study.sweep\n"},
     "schedulers/dp.py:1: schedulers imports plcore.study.sweep (study)"),
    # a module named through its package: `from .. import study`
    ({"gpu/loader.py": "from .. import study\n", "study/x.py": ""},
     "gpu/loader.py:1: gpu imports plcore.study (study)"),
    # online serving may not reach the study wing
    ({"online/simulator.py": "from ..study import sweep\n"},
     "online/simulator.py:1: online imports plcore.study (study)"),
    # gpu importing schedulers outside the modules that run a schedule
    ({"gpu/loader.py": "from ..schedulers import solve\n"},
     "gpu/loader.py:1: gpu imports plcore.schedulers (schedulers)"),
    # the public package importing study (import plcore would pull pandas in)
    ({"__init__.py": "from .study import sweep\n"},
     "__init__.py:1: plcore imports plcore.study (study)"),
    # a leaf importing a wing
    ({"errors.py": "from .model import instance\n"},
     "errors.py:1: errors imports plcore.model (model)"),
    # a stray module at the root
    ({"helpers.py": ""}, "helpers.py: only"),
])
def test_the_check_finds_each_kind_of_violation(tmp_path, files, expected):
    problems = layout_violations(_fake_package(tmp_path, files))
    assert any(p.startswith(expected) for p in problems), problems


def test_the_check_accepts_allowed_imports(tmp_path):
    pkg = _fake_package(tmp_path, {
        "model/timeline.py": "from ..errors import ScheduleError\nfrom .instance import X\n",
        "schedulers/dp.py": "from ..model.timeline import f\n",
        "gpu/runtime.py": "from ..schedulers import solve\nfrom ..model import evaluate\n",
        "study/sweep.py": "import plcore\nfrom ..gpu import profile\nfrom ..paths import RESULTS\n",
        "cli.py": "from .study import sweep\n",
    })
    assert layout_violations(pkg) == []


def test_import_plcore_stays_light():
    """The public API needs neither torch nor pandas nor matplotlib, nor the study wing."""
    code = ("import sys, plcore; heavy = {'torch', 'pandas', 'matplotlib', 'plcore.study', "
            "'plcore.gpu'}; print(sorted(heavy & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
