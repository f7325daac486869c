"""Write a variant of the book's _config.yml for another build of the same sources.

    python scripts/book_config.py student _build/student_config.yml
    python scripts/book_config.py pdf _build/pdf_config.yml

Both variants name the local Sphinx extensions by absolute path (a config outside the repository
root would not find them otherwise). ``student`` hides the exercise solutions and marks the title;
``pdf`` drops ``html_extra_path`` (the vendored MathJax, which a PDF does not use) and the
References and Index chapters, which come out empty in a PDF (LaTeX prints the bibliography and
the index at its end by itself; ``book/_latex/pdf_chapters.py``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
#: Documents of the table of contents that are no chapter of the PDF (see the module docstring).
PDF_DROPPED_CHAPTERS = ("book/references", "genindex")


def variant(config: dict, kind: str) -> dict:
    """``config`` (the parsed _config.yml) changed for ``kind`` ("student" or "pdf")."""
    sphinx = config["sphinx"]
    ext = sphinx["local_extensions"]
    ext.update({k: f"{ROOT}/{v}" for k, v in ext.items()})
    if kind == "student":
        sphinx["config"]["hide_solutions"] = True
        config["title"] += " (student edition)"
    elif kind == "pdf":
        sphinx["config"].pop("html_extra_path", None)
        ext["pdf_chapters"] = f"{ROOT}/book/_latex"
        sphinx["config"]["pdf_dropped_chapters"] = list(PDF_DROPPED_CHAPTERS)
    else:
        raise ValueError(f"unknown variant {kind!r}: 'student' or 'pdf'")
    return config


def main(kind: str, out: str) -> None:
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(yaml.safe_dump(variant(config, kind), sort_keys=False))


if __name__ == "__main__":
    main(*sys.argv[1:])
