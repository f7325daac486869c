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
    """The claims table takes every verdict from a notebook (glue), or says there is no experiment."""
    text = (ROOT / "book" / "claims.md").read_text()
    rows = [r for r in text.splitlines() if r.startswith("| ") and not r.startswith("| claim")
            and not r.startswith("|---")]
    assert rows
    for row in rows:
        verdict = row.split("|")[4]
        assert "{glue:" in verdict or "no experiment yet" in verdict or "proved" in verdict, row
