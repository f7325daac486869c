"""Chapters the PDF edition leaves out (LaTeX builders only; the HTML book keeps them).

The References and Index pages are chapters of the HTML book. In the PDF both come out empty:
LaTeX prints the bibliography and the index at the end of the document by itself, after them. So
the PDF's config (written by ``scripts/book_config.py pdf``) loads this extension and lists those
documents in ``pdf_dropped_chapters``: their chapter titles are taken out of the assembled LaTeX
document, and whatever else they hold stays where it was.
"""

from docutils import nodes
from sphinx import addnodes


def drop_chapters(app, doctree: nodes.document, docname: str) -> None:
    """Unwrap the top sections (chapters) of the listed documents in the assembled LaTeX tree."""
    if app.builder.format != "latex":
        return
    dropped = set(app.config.pdf_dropped_chapters)
    for start in list(doctree.findall(addnodes.start_of_file)):
        if start.get("docname") not in dropped:
            continue
        for section in [c for c in start.children if isinstance(c, nodes.section)]:
            kept = [c for c in section.children if not isinstance(c, nodes.title)]
            if kept:
                section.replace_self(kept)
            else:
                section.parent.remove(section)


def setup(app):
    app.add_config_value("pdf_dropped_chapters", [], "env")
    app.connect("doctree-resolved", drop_chapters)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
