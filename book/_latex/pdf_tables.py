"""Long tables break across pages in the PDF edition (LaTeX builders only; HTML is untouched).

Sphinx sets a table of up to 30 rows in ``tabulary``, which cannot break across pages: a table
with paragraphs in its cells (the claims table) then runs past the bottom of the page and its last
rows are lost. A table with more text than :data:`LONG_CHARS` becomes a ``longtable``, with column
widths that grow with each column's text (more text, wider, but less than in proportion).
"""

import math

from docutils import nodes

#: Characters of cell text above which a table may not fit on one page.
LONG_CHARS = 1500
# A longtable cannot sit inside a box: only tables placed directly in the text are changed.
_PLAIN_PARENTS = (nodes.document, nodes.section, nodes.container, nodes.compound)


def _columns(table: nodes.table) -> list[int]:
    """Characters of text per column, over every row (cells spanning columns count once)."""
    tgroup = next(iter(table.findall(nodes.tgroup)))
    chars = [0] * int(tgroup["cols"])
    for row in tgroup.findall(nodes.row):
        for col, entry in enumerate(row.children[: len(chars)]):
            chars[col] += len(entry.astext())
    return chars


def widen_long_tables(app, doctree: nodes.document, docname: str) -> None:
    """Make each long, unboxed table of ``doctree`` a longtable with weighted column widths."""
    if app.builder.format != "latex":
        return
    for table in list(doctree.findall(nodes.table)):
        parent = table.parent
        while isinstance(parent, nodes.container):
            parent = parent.parent
        if not isinstance(parent, _PLAIN_PARENTS):
            continue
        chars = _columns(table)
        if sum(chars) <= LONG_CHARS or "longtable" in table["classes"]:
            continue
        table["classes"].append("longtable")
        if "colwidths-given" in table["classes"]:
            continue
        weights = [math.sqrt(max(c, 1)) for c in chars]
        total = sum(weights)
        colspecs = list(next(iter(table.findall(nodes.tgroup))).findall(nodes.colspec))
        for spec, weight in zip(colspecs, weights):
            spec["colwidth"] = max(1, round(100 * weight / total))
        table["classes"].append("colwidths-given")


def setup(app):
    app.connect("doctree-resolved", widen_long_tables)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
