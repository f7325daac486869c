"""The student edition's downloadable sources carry no solutions.

With ``hide_solutions: true`` sphinx-exercise leaves the solutions out of the pages, but Sphinx
still copies every page's source into ``_sources/`` for the download button, solutions included.
When the option is on, this extension rewrites those copies at the end of the build:

- in Markdown sources, every ``solution`` directive (backtick or colon fence, any fence length)
  is removed, from its opening fence to its closing one;
- in notebooks, the same in every Markdown cell, and every cell tagged ``solution`` is dropped.

The exercises stay. :func:`strip_markdown` and :func:`strip_notebook` are the whole of it, and
``tests/test_book.py`` checks them on the book's own sources.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from sphinx.util import logging

LOGGER = logging.getLogger(__name__)
SOLUTION_TAG = "solution"
_OPEN = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|:{3,})\s*\{solution(?:-start)?\}")
_ANY_OPEN = re.compile(r"^\s*(`{3,}|:{3,})")


def strip_markdown(text: str) -> str:
    """``text`` without its ``{solution}`` directives (and ``{solution-start}`` ... ``-end``).

    Examples
    --------
    >>> strip_markdown("Q\\n\\n````{solution} ex\\n:class: dropdown\\n\\nA\\n````\\nafter\\n")
    'Q\\n\\nafter\\n'
    """
    out, lines, i = [], text.splitlines(keepends=True), 0
    while i < len(lines):
        m = _OPEN.match(lines[i])
        if not m:
            out.append(lines[i])
            i += 1
            continue
        fence = m["fence"]
        if "solution-start" in lines[i]:
            # sphinx-exercise's gated form: everything up to {solution-end} goes.
            i += 1
            while i < len(lines) and "{solution-end}" not in lines[i]:
                i += 1
            while i < len(lines) and not lines[i].strip().startswith(fence[0] * 3):
                i += 1
            i += 1
            continue
        # Skip to the closing fence: same character, at least as long, nothing after it. Nested
        # directives inside use shorter fences (MyST requires it), so the first match closes.
        i += 1
        closer = re.compile(rf"^\s*{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        while i < len(lines) and not closer.match(lines[i]):
            i += 1
        i += 1
        # Drop the blank line the directive leaves behind, if one is doubled.
        if out and not out[-1].strip() and i < len(lines) and not lines[i].strip():
            i += 1
    return "".join(out)


def strip_notebook(nb: dict) -> dict:
    """A copy of notebook ``nb`` with cells tagged ``solution`` dropped and ``{solution}``
    directives removed from its Markdown cells."""
    cells = []
    for cell in nb.get("cells", []):
        if SOLUTION_TAG in cell.get("metadata", {}).get("tags", []):
            continue
        cell = dict(cell)
        if cell.get("cell_type") == "markdown":
            src = cell.get("source", "")
            text = "".join(src) if isinstance(src, list) else src
            stripped = strip_markdown(text)
            if stripped != text:
                cell["source"] = stripped.splitlines(keepends=True)
        cells.append(cell)
    return {**nb, "cells": cells}


def strip_sources(sources: Path) -> list[Path]:
    """Strip every Markdown and notebook file under ``sources`` in place; the files changed."""
    changed = []
    for path in sorted(sources.rglob("*")):
        if path.suffix in (".md", ".txt") and path.is_file():
            text = path.read_text(encoding="utf-8")
            new = strip_markdown(text)
        elif path.suffix == ".ipynb" and path.is_file():
            text = path.read_text(encoding="utf-8")
            new = json.dumps(strip_notebook(json.loads(text)), indent=1, ensure_ascii=False) + "\n"
            if json.loads(new) == json.loads(text):
                continue
        else:
            continue
        if new != text:
            path.write_text(new, encoding="utf-8")
            changed.append(path)
    return changed


def _on_build_finished(app, exception):
    if exception is not None or not getattr(app.config, "hide_solutions", False):
        return
    sources = Path(app.outdir) / "_sources"
    if sources.is_dir():
        changed = strip_sources(sources)
        LOGGER.info(f"strip_solutions: solutions removed from {len(changed)} downloadable sources")


def setup(app):
    app.connect("build-finished", _on_build_finished)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
