"""Checked notebook outputs carry numbers at the precision the book shows, never a float's last digits.

nbval compares the outputs of cells tagged ``nbval-check-output`` with the committed ones. A float
printed or glued at full precision passes where it was recorded and may fail on a CPU whose
vectorized maths (log, power, exp) round differently in the last bit. So every number in a checked
output must be rounded to what the book displays:

* a glued float has at most the decimals of the formats the book shows it with
  (``{glue:text}`key:.1f``` -> 1 decimal, ``:d`` -> 0, ``:.3g`` -> 3 significant digits), and at
  most :data:`DEFAULT_DECIMALS` where no format is given (or it is not shown);
* a number printed in a checked cell, or inside a glued string, has at most
  :data:`DEFAULT_DECIMALS` decimals and :data:`MAX_SIGNIFICANT` significant digits.
"""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
DEFAULT_DECIMALS = 3
MAX_SIGNIFICANT = 6
GLUE_MIME = "application/papermill.record/text/plain"

# {glue}`key`, {glue:text}`key:.1f`, {glue:text}`executed/nb.ipynb::key:.1f`
_GLUE_REF = re.compile(r"\{glue(?::\w+)?\}`(?:[^`]*::)?(\w+)(?::([^`]*))?`")
# a number token: digits with an optional fraction and exponent
_NUMBER = re.compile(r"(?<![\d.])[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\d.])")


def _markdown_texts():
    for path in sorted((ROOT / "book").glob("*.md")):
        yield path.read_text()
    for path in NOTEBOOKS:
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] == "markdown":
                yield "".join(cell["source"])


def display_formats() -> dict[str, set[str]]:
    """Every glue key the book shows, with the format specs it uses (``""`` for none)."""
    out: dict[str, set[str]] = {}
    for text in _markdown_texts():
        for key, fmt in _GLUE_REF.findall(text):
            out.setdefault(key, set()).add(fmt)
    return out


def allowed(fmt: str) -> tuple[int | None, int]:
    """(decimals, significant digits) a format spec displays; None where it does not fix one."""
    m = re.search(r"\.(\d+)([fg%])$", fmt)
    if m and m.group(2) == "g":
        return None, int(m.group(1))
    if m:
        return int(m.group(1)) + (2 if m.group(2) == "%" else 0), MAX_SIGNIFICANT
    if fmt.endswith("d"):
        return 0, MAX_SIGNIFICANT
    return DEFAULT_DECIMALS, MAX_SIGNIFICANT


def digits(token: str) -> tuple[int, int]:
    """(decimals, significant digits) of a number as written."""
    mantissa = re.split(r"[eE]", token.lstrip("+-"))[0]
    whole, _, frac = mantissa.partition(".")
    return len(frac), len((whole + frac).lstrip("0"))


def too_precise(token: str, decimals: int | None, significant: int) -> bool:
    """Whether a number as written carries more than ``decimals`` (or, for exponent notation
    and ``g`` formats, ``significant``) digits."""
    dec, sig = digits(token)
    if decimals is None or "e" in token.lower():
        return sig > significant
    return dec > decimals


def is_checked(cell: dict) -> bool:
    """Whether nbval compares this cell's outputs (its tag, or the comment marker nbval also reads)."""
    return ("nbval-check-output" in cell.get("metadata", {}).get("tags", [])
            or "# NBVAL_CHECK_OUTPUT" in "".join(cell["source"]))


def checked_outputs(path: Path):
    """(cell index, kind, glue key or None, text) of every output of the checked cells."""
    for i, cell in enumerate(json.loads(path.read_text())["cells"]):
        if cell["cell_type"] != "code" or not is_checked(cell):
            continue
        for out in cell.get("outputs", []):
            if out["output_type"] == "stream":
                yield i, "printed", None, "".join(out["text"])
            elif GLUE_MIME in out.get("data", {}):
                key = out.get("metadata", {}).get("scrapbook", {}).get("name")
                yield i, "glued", key, "".join(out["data"][GLUE_MIME])
            elif "text/plain" in out.get("data", {}):
                yield i, "displayed", None, "".join(out["data"]["text/plain"])


def precision_problems(path: Path, formats: dict[str, set[str]]) -> list[str]:
    problems = []
    for i, kind, key, text in checked_outputs(path):
        where = f"{path.name} cell {i}" + (f" glue {key!r}" if key else f" ({kind})")
        if kind == "glued" and re.fullmatch(_NUMBER.pattern, text.strip()):
            if text.strip().lstrip("+-").isdigit():
                continue                                      # an integer: exact everywhere
            specs = [allowed(f) for f in formats.get(key, {""})]
            decimals = max((d for d, _ in specs if d is not None), default=None)
            significant = max(s for _, s in specs)
            if too_precise(text.strip(), decimals, significant):
                problems.append(f"{where}: {text.strip()} has more digits than the book shows "
                                f"(formats {sorted(formats.get(key, {''}))})")
            continue
        for token in _NUMBER.findall(text):
            if too_precise(token, DEFAULT_DECIMALS, MAX_SIGNIFICANT):
                problems.append(f"{where}: {token} carries more than {DEFAULT_DECIMALS} decimals "
                                f"or {MAX_SIGNIFICANT} significant digits")
    return problems


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_checked_outputs_are_rounded_to_what_the_book_shows(path):
    problems = precision_problems(path, display_formats())
    assert not problems, "\n".join(problems)


def test_the_rule_catches_full_precision_floats(tmp_path):
    """A glued raw float (as in the latency notebook once) and a printed one are both refused."""
    cell = {"cell_type": "code", "source": ["x = 1\n"], "metadata": {"tags": ["nbval-check-output"]},
            "outputs": [
                {"output_type": "display_data", "metadata": {"scrapbook": {"name": "lf_p99_pct"}},
                 "data": {GLUE_MIME: "-45.65457750867724"}},
                {"output_type": "display_data", "metadata": {"scrapbook": {"name": "ok_pct"}},
                 "data": {GLUE_MIME: "-45.7"}},
                {"output_type": "display_data", "metadata": {"scrapbook": {"name": "n"}},
                 "data": {GLUE_MIME: "1159"}},
                {"output_type": "stream", "name": "stdout", "text": ["ratio 1.019501\n"]},
                {"output_type": "stream", "name": "stdout", "text": ["x 15.33 at 5 users\n"]}]}
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps({"cells": [cell]}))
    problems = precision_problems(path, {"lf_p99_pct": {"+.0f", ".1f"}, "ok_pct": {"+.1f"}})
    assert len(problems) == 2, problems
    assert "-45.65457750867724" in problems[0] and "1.019501" in problems[1]


@pytest.mark.parametrize("token, decimals, significant, bad", [
    ("2.2913995693556636e-05", 3, 6, True), ("2.29e-05", 3, 6, False),
    ("65.0", 1, 6, False), ("65.03", 1, 6, True), ("1401.86", 3, 6, False),
    ("0.1234", None, 3, True), ("0.123", None, 3, False), ("120.00000000000001", 3, 6, True),
])
def test_digit_counting(token, decimals, significant, bad):
    assert too_precise(token, decimals, significant) is bad


def test_formats_are_read_from_the_book():
    formats = display_formats()
    assert ".1f" in formats["dp_rate_ample"] and "s" in formats["tvb_verdict"]
    assert allowed(".2f") == (2, MAX_SIGNIFICANT) and allowed("d")[0] == 0
    assert allowed(".3g") == (None, 3)


def test_checked_cells_are_tagged_not_commented():
    """The marker is a cell tag, so no page of the book shows an ``NBVAL_CHECK_OUTPUT`` comment,
    and every notebook with headline numbers has checked cells with committed outputs."""
    checked = 0
    for path in NOTEBOOKS:
        for cell in json.loads(path.read_text())["cells"]:
            assert "NBVAL_CHECK_OUTPUT" not in "".join(cell["source"]), path.name
            if cell["cell_type"] == "code" and is_checked(cell):
                checked += 1
                assert cell.get("outputs"), f"{path.name}: a checked cell without outputs passes " \
                                            "silently; commit the notebook executed"
    assert checked >= 12


def test_plumbing_is_hidden_and_parameters_shown():
    """A reader follows a result page without its code: every code cell but the parameters is
    folded away (tag ``hide-input``), and the parameters cell stays visible."""
    for path in NOTEBOOKS:
        cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
        params = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(params) == 1, f"{path.name}: one cell tagged 'parameters'"
        assert "hide-input" not in params[0]["metadata"]["tags"]
        for c in cells:
            tags = c.get("metadata", {}).get("tags", [])
            # "show-input": code that is the lesson itself (building_an_instance), not plumbing.
            assert {"parameters", "show-input", "hide-input", "remove-input"} & set(tags), \
                f"{path.name}: a code cell shows its input: {''.join(c['source'])[:60]!r}"
