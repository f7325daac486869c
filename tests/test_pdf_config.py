"""The PDF edition (`make pdf`): every non-ASCII character the book prints has a LaTeX mapping.

xelatex reads unicode, but a character outside the fonts is silently dropped ("Missing character"
in the log), and one that unicode-math takes for math breaks running text. So every non-ASCII
character of the book's sources (chapters, notebooks with their outputs and glued values, the
bibliography, the config) must be declared in book/_latex/plcorebook.sty. The first tests need no
TeX; the last compiles every declared character when xelatex is installed.
"""

import codecs
import importlib.util
import json
import re
import shutil
import subprocess
import unicodedata
from pathlib import Path
from types import SimpleNamespace

import latexcodec.codec
import pytest
import yaml
from docutils import nodes

ROOT = Path(__file__).resolve().parent.parent
latexcodec.codec.register()  # the "ulatex" codec, which reads the bibliography as pybtex does
STY = ROOT / "book" / "_latex" / "plcorebook.sty"
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
# Outputs LaTeX never shows: images and HTML (the PDF takes text/plain or text/latex instead).
SKIPPED_MIMES = ("image/", "text/html", "application/vnd.", "application/javascript")


def declared() -> dict[str, str]:
    """Each character declared with \\newunicodechar in the style file, and its LaTeX."""
    text = re.sub(r"(?<!\\)%.*", "", STY.read_text(encoding="utf-8"))  # comments out
    return {m.group(1): m.group(2)
            for m in re.finditer(r"\\newunicodechar\{(.)\}\{(.*)\}\s*$", text, re.M)}


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)


def book_texts():
    """(where, text) for every source of text that reaches the PDF."""
    for md in sorted((ROOT / "book").glob("*.md")):
        yield md.relative_to(ROOT), md.read_text(encoding="utf-8")
    # the bibliography reaches LaTeX as unicode: pybtex decodes its escapes ({\\"o} is ö)
    bib = (ROOT / "book" / "references.bib").read_text(encoding="utf-8")
    yield "book/references.bib", codecs.decode(bib, "ulatex")
    for name in ("_config.yml", "_toc.yml"):
        yield name, (ROOT / name).read_text(encoding="utf-8")
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        where = nb.relative_to(ROOT)
        for cell in json.loads(nb.read_text(encoding="utf-8"))["cells"]:
            yield where, "".join(cell["source"])
            for out in cell.get("outputs", []):
                yield where, "".join(out.get("text", ""))
                for mime, data in out.get("data", {}).items():
                    if not mime.startswith(SKIPPED_MIMES):
                        yield where, "\n".join(_strings(data))


def used() -> dict[str, set]:
    chars: dict[str, set] = {}
    for where, text in book_texts():
        for ch in set(text):
            if ord(ch) > 127:
                chars.setdefault(ch, set()).add(str(where))
    return chars


def test_every_character_the_book_uses_is_declared():
    missing = {ch: where for ch, where in used().items() if ch not in declared()}
    assert not missing, (
        "characters without a LaTeX mapping in book/_latex/plcorebook.sty (add a \\newunicodechar "
        "line, or `make pdf` may drop or break them):\n" + "\n".join(
            f"  {ch!r} U+{ord(ch):04X} {unicodedata.name(ch, '?')}: {', '.join(sorted(w))}"
            for ch, w in sorted(missing.items())))


def test_the_scan_sees_the_book():
    """The check above cannot pass by reading nothing: the book's own symbols are found."""
    chars = used()
    assert len(list(book_texts())) > 100
    assert "→" in chars and "µ" in chars and "ö" in chars, sorted(chars)


def test_style_file_declares_each_character_once():
    text = STY.read_text(encoding="utf-8")
    chars = re.findall(r"\\newunicodechar\{(.)\}", text)
    assert len(chars) == len(set(chars)) == len(declared()) > 20


def test_config_builds_the_pdf_with_xelatex_and_the_style_file():
    assert CONFIG["latex"]["latex_engine"] == "xelatex"
    assert CONFIG["latex"]["latex_documents"]["targetname"] == "partialloading.tex"
    sphinx = CONFIG["sphinx"]["config"]
    assert r"\usepackage{plcorebook}" in sphinx["latex_elements"]["preamble"]
    for path in sphinx["latex_additional_files"]:
        assert (ROOT / path).is_file(), path
    assert "pdf:" in (ROOT / "Makefile").read_text()


def _pdf_tables():
    spec = importlib.util.spec_from_file_location("pdf_tables", ROOT / "book/_latex/pdf_tables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _table(cells):
    """A docutils table with the given rows of cell texts."""
    tgroup = nodes.tgroup(cols=len(cells[0]))
    tgroup += [nodes.colspec(colwidth=1) for _ in cells[0]]
    body = nodes.tbody()
    for texts in cells:
        body += nodes.row("", *[nodes.entry("", nodes.paragraph(text=t)) for t in texts])
    tgroup += body
    return nodes.table("", tgroup)


def test_long_tables_break_across_pages_in_the_pdf_only():
    pdf_tables = _pdf_tables()
    long_rows = [["claim", "x" * 900], ["another", "y" * 900]]
    doc, boxed, short = nodes.document(None, None), nodes.admonition(), _table([["a", "b"]])
    long_table, boxed_table = _table(long_rows), _table(long_rows)
    boxed += boxed_table
    section = nodes.section()
    section += [long_table, short, boxed]
    doc += section

    pdf_tables.widen_long_tables(SimpleNamespace(builder=SimpleNamespace(format="html")), doc, "x")
    assert "longtable" not in long_table["classes"]

    pdf_tables.widen_long_tables(SimpleNamespace(builder=SimpleNamespace(format="latex")), doc, "x")
    assert {"longtable", "colwidths-given"} <= set(long_table["classes"])
    widths = [c["colwidth"] for c in long_table.findall(nodes.colspec)]
    assert widths[1] > 2 * widths[0] and 95 <= sum(widths) <= 105, widths
    assert "longtable" not in short["classes"]           # fits on a page: tabulary as before
    assert "longtable" not in boxed_table["classes"]     # a longtable cannot sit in a box


# The preamble order of the real build: fontspec and Sphinx's fonts, the style file, then
# unicode-math (sphinx-jupyterbook-latex adds it after the configured preamble).
DOC = r"""\documentclass{article}
\usepackage{fontspec}
\setmainfont{FreeSerif}[Extension=.otf, UprightFont=*, ItalicFont=*Italic, BoldFont=*Bold]
\setmonofont{FreeMono}[Extension=.otf, UprightFont=*, ItalicFont=*Oblique, BoldFont=*Bold]
\usepackage{tabulary}
\usepackage{fancyvrb}
\usepackage{plcorebook}
\usepackage{unicode-math}
\begin{document}
%s
\end{document}
"""


@pytest.mark.skipif(shutil.which("xelatex") is None, reason="xelatex not installed (make pdf)")
def test_every_declared_character_typesets(tmp_path):
    """In text, in a table cell, in code and (math symbols) in math: no error, no missing glyph."""
    body = []
    for ch, tex in declared().items():
        body.append(f"x{ch}x\n\n\\begin{{tabulary}}{{\\linewidth}}{{LL}}a{ch}b & {ch}\\\\\n"
                    "\\end{tabulary}\n\n")
        body.append(f"\\begin{{Verbatim}}[commandchars=\\\\\\{{\\}}]\ncode {ch} code\n"
                    "\\end{Verbatim}\n")
        if r"\ensuremath" in tex:
            body.append(f"$a{ch}b$ and $\\frac{{{ch}}}{{2}}$\n\n")
    body.append(r"$A \setminus B$")
    (tmp_path / "plcorebook.sty").write_text(STY.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "t.tex").write_text(DOC % "".join(body), encoding="utf-8")
    run = subprocess.run(["xelatex", "-interaction=nonstopmode", "-halt-on-error", "t.tex"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)
    log = (tmp_path / "t.log").read_text(encoding="utf-8", errors="replace")
    errors = [line for line in log.splitlines() if line.startswith("!")]
    assert run.returncode == 0 and not errors, errors or run.stdout[-2000:]
    assert "Missing character" not in log, re.findall(r"Missing character.*", log)


def _book_config():
    spec = importlib.util.spec_from_file_location("book_config", ROOT / "scripts/book_config.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_only_the_pdf_drops_the_references_and_index_chapters():
    book_config = _book_config()
    toc = (ROOT / "_toc.yml").read_text()
    for doc in book_config.PDF_DROPPED_CHAPTERS:
        assert f"file: {doc}\n" in toc, doc            # still chapters of the HTML book
    pdf = book_config.variant(yaml.safe_load((ROOT / "_config.yml").read_text()), "pdf")
    assert pdf["sphinx"]["config"]["pdf_dropped_chapters"] == ["book/references", "genindex"]
    assert (Path(pdf["sphinx"]["local_extensions"]["pdf_chapters"]) / "pdf_chapters.py").is_file()
    for kind in ("student", None):
        config = yaml.safe_load((ROOT / "_config.yml").read_text())
        if kind:
            config = book_config.variant(config, kind)
        assert "pdf_chapters" not in config["sphinx"]["local_extensions"]
        assert "pdf_dropped_chapters" not in config["sphinx"]["config"]


def _chapter(docname, title, *body):
    from sphinx import addnodes

    start = addnodes.start_of_file(docname=docname)
    section = nodes.section(ids=[docname])
    section += [nodes.title(text=title), *body]
    start += section
    return start


def test_dropped_chapters_lose_their_title_and_keep_their_content():
    spec = importlib.util.spec_from_file_location("pdf_chapters", ROOT / "book/_latex/pdf_chapters.py")
    pdf_chapters = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pdf_chapters)
    doc = nodes.document(None, None)
    kept_text = nodes.paragraph(text="a bibliography entry")
    doc += [_chapter("book/claims", "Claims checked", nodes.paragraph(text="verdicts")),
            _chapter("book/references", "References", kept_text),
            _chapter("genindex", "Index")]
    config = SimpleNamespace(pdf_dropped_chapters=["book/references", "genindex"])

    html = SimpleNamespace(builder=SimpleNamespace(format="html"), config=config)
    pdf_chapters.drop_chapters(html, doc, "intro")
    assert [t.astext() for t in doc.findall(nodes.title)] == ["Claims checked", "References",
                                                               "Index"]

    latex = SimpleNamespace(builder=SimpleNamespace(format="latex"), config=config)
    pdf_chapters.drop_chapters(latex, doc, "intro")
    assert [t.astext() for t in doc.findall(nodes.title)] == ["Claims checked"]
    assert kept_text.parent["docname"] == "book/references"       # the content stays in place
    assert "verdicts" in doc.astext() and len(list(doc.findall(nodes.section))) == 1
