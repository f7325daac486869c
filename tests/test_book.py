"""The book's structure: every notebook in the table of contents, parameterized, figures from notebooks."""

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())
TOC_FILES = [TOC["root"]] + [c["file"] for p in TOC["parts"] for c in p["chapters"]]


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_in_the_toc_and_parameterized(nb):
    assert f"book/executed/{nb.stem}" in TOC_FILES
    cells = json.loads(nb.read_text())["cells"]
    params = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(params) == 1, "exactly one cell tagged 'parameters'"
    assert re.search(r"^quick = ", "".join(params[0]["source"]), re.M), "a 'quick' switch"


def test_every_toc_entry_has_a_source():
    for entry in TOC_FILES:
        if entry.startswith("book/executed/"):
            assert (ROOT / "notebooks" / f"{entry.rsplit('/', 1)[1]}.ipynb").exists(), entry
        else:
            assert (ROOT / f"{entry}.md").exists(), entry


def test_figures_in_chapters_come_from_notebooks():
    for md in (ROOT / "book").glob("*.md"):
        for target in re.findall(r"```\{figure\}\s+(\S+)", md.read_text()):
            assert target.startswith("../results/"), (md.name, target)
            name = target.split("/")[2]
            assert (ROOT / "notebooks" / f"{name}.ipynb").exists(), (md.name, target)


def test_no_numbers_typed_into_verdicts():
    """The claims table takes every verdict from a notebook (its short form through the
    ``{verdict}`` role, or glue), or says there is no experiment; each claim links to its full
    verdict below the table."""
    text = (ROOT / "book" / "claims.md").read_text()
    rows = [r for r in text.splitlines() if r.startswith("| ") and not r.startswith("| claim")
            and not r.startswith("|---")]
    assert rows
    for row in rows:
        claim, verdict = row.split("|")[1], row.split("|")[3]
        assert "{verdict}" in verdict or "{glue:" in verdict or "no experiment yet" in verdict, row
        label = re.search(r"<(claim-[\w-]+)>`", claim)
        assert label and f"({label[1]})=" in text, f"no full verdict below the table: {row}"


def _ext(name):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, ROOT / "book" / "_ext" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _glued_texts():
    """Every text glued by the committed notebooks: {key: text}."""
    out = {}
    for nb in NOTEBOOKS:
        for cell in json.loads(nb.read_text())["cells"]:
            for o in cell.get("outputs", []):
                name = o.get("metadata", {}).get("scrapbook", {}).get("name")
                text = o.get("data", {}).get("application/papermill.record/text/plain")
                if name and isinstance(text, str) and text[:1] in "'\"":
                    out[name] = text[1:-1]
    return out


def test_short_verdicts_are_short_and_known():
    """The claims table's short verdicts, from the verdicts the notebooks glue today."""
    verdicts = _ext("verdicts")
    keys = re.findall(r"\{verdict\}`[^`]*::(\w+)`", (ROOT / "book" / "claims.md").read_text())
    glued = _glued_texts()
    assert keys
    for key in keys:
        if key not in glued:
            continue                       # a notebook committed unexecuted: nothing to check
        short = verdicts.short_verdict(glued[key])
        assert 0 < len(short) <= verdicts.MAX_CHARS, (key, glued[key], short)
    assert verdicts.short_verdict("direction reproduced, size not against x: y") == "direction only"
    assert verdicts.short_verdict("not reproduced") == "not reproduced"


SOLUTION_WORDS = ["test_small_example_by_hand", "Heads: $V_1[q]"]   # text only in solutions


def test_student_sources_carry_no_solutions(tmp_path):
    """The student edition's downloadable sources (``_sources/``) are stripped of solutions,
    exercises kept: the stripping run on copies of the book's own sources, as the build does."""
    strip = _ext("strip_solutions")
    sources = tmp_path / "_sources"
    for md in (ROOT / "book").glob("*.md"):
        (sources / "book").mkdir(parents=True, exist_ok=True)
        (sources / "book" / md.name).write_text(md.read_text())
    for nb in NOTEBOOKS:
        (sources / "book" / "executed").mkdir(parents=True, exist_ok=True)
        (sources / "book" / "executed" / nb.name).write_text(nb.read_text())
    before = {p: p.read_text() for p in sources.rglob("*") if p.is_file()}
    assert any("{solution}" in t for t in before.values())
    assert any(w in t for t in before.values() for w in SOLUTION_WORDS)
    strip.strip_sources(sources)
    for path, old in before.items():
        new = path.read_text()
        assert "{solution" not in new, path.name
        assert not any(w in new for w in SOLUTION_WORDS), path.name
        assert new.count("{exercise}") == old.count("{exercise}"), path.name
        if path.suffix == ".ipynb":
            cells = json.loads(new)["cells"]
            assert not [c for c in cells if "solution" in c.get("metadata", {}).get("tags", [])]


def test_stripping_handles_fences_and_tagged_cells():
    strip = _ext("strip_solutions")
    md = ("A\n\n:::{solution} ex-a\n:class: dropdown\nsecret\n```python\nx = 1\n```\n:::\n\n"
          "```{exercise}\n:label: ex-b\nQ\n```\n\n`````{solution} ex-b\n````{note}\nsecret\n"
          "````\n`````\nZ\n")
    out = strip.strip_markdown(md)
    assert "secret" not in out and "x = 1" not in out
    assert out.startswith("A\n") and "{exercise}" in out and out.endswith("Z\n")
    nb = {"cells": [{"cell_type": "code", "metadata": {"tags": ["solution"]}, "source": "s"},
                    {"cell_type": "markdown", "metadata": {},
                     "source": ["Q\n", "```{solution} q\n", "secret\n", "```\n"]}]}
    cells = strip.strip_notebook(nb)["cells"]
    assert len(cells) == 1 and "secret" not in "".join(cells[0]["source"])


def test_built_student_edition_has_no_solutions():
    """If ``make student-book`` has run, its downloadable sources hold no solution."""
    built = ROOT / "_build" / "student" / "_build" / "html" / "_sources"
    if not built.is_dir():
        pytest.skip("no student edition built (make student-book)")
    for path in built.rglob("*"):
        if path.is_file() and path.suffix in (".md", ".ipynb", ".txt"):
            text = path.read_text()
            assert "{solution" not in text and not any(w in text for w in SOLUTION_WORDS), path
