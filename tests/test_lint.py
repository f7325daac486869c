"""Static check (pyflakes) of the code: undefined names, unused imports, shadowed loops.

Catches mistakes in branches the CPU tests never run (the CUDA side of the profiler and loader).
"""

from pathlib import Path

from pyflakes.api import checkPath
from pyflakes.reporter import Reporter

ROOT = Path(__file__).resolve().parents[1]


class _Collect(Reporter):
    def __init__(self):
        self.messages = []

    def unexpectedError(self, filename, msg):
        self.messages.append(f"{filename}: {msg}")

    def syntaxError(self, filename, msg, lineno, offset, text):
        self.messages.append(f"{filename}:{lineno}: {msg}")

    def flake(self, message):
        self.messages.append(str(message))


def test_code_is_pyflakes_clean():
    files = sorted(p for d in ("plcore", "tests", "scripts", "benchmarks")
                   for p in (ROOT / d).rglob("*.py"))
    assert len(files) > 40
    report = _Collect()
    for path in files:
        checkPath(str(path), report)
    assert not report.messages, "\n".join(report.messages)


def test_the_check_finds_an_undefined_name(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    return undefined_thing\n")
    report = _Collect()
    checkPath(str(bad), report)
    assert any("undefined name 'undefined_thing'" in m for m in report.messages)
