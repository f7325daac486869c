"""Check the built book in headless Chromium: every chapter renders its math and its figures.

    .venv/bin/python scripts/check_book.py [_build/html]

For each page of the table of contents it loads the page offline, lets MathJax run, and checks the
rendered DOM: formulas typeset (MathJax containers present, no raw TeX delimiters left in the
text), every image present on disk. It also saves a screenshot per page in
``_build/screenshots/``. Exit code 1 on any failure, with the page and the reason.
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--virtual-time-budget=8000", "--window-size=1280,1800"]


def pages(root: Path) -> list[str]:
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    out = [toc["root"]]
    for part in toc.get("parts", []):
        out += [c["file"] for c in part["chapters"]]
    return out


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    sys.exit("check_book: no chromium found (apt-get install chromium)")


def run(browser: str, args: list[str]) -> str:
    with tempfile.TemporaryDirectory() as profile:
        res = subprocess.run([browser, *FLAGS, f"--user-data-dir={profile}", *args],
                             capture_output=True, text=True, timeout=120)
    return res.stdout


def check(page: str, built: Path, browser: str, shots: Path) -> list[str]:
    path = built / f"{page}.html"
    if not path.exists():
        return [f"{page}: not built ({path})"]
    url = path.resolve().as_uri()
    dom = run(browser, ["--dump-dom", url])
    problems = []
    source = path.read_text()
    has_math = "math notranslate" in source
    if has_math and "mjx-container" not in dom:
        problems.append(f"{page}: formulas not typeset (no MathJax output in the rendered page)")
    text = html.unescape(re.sub(r"<(script|style)[^>]*>.*?</\1>", "", dom, flags=re.S))
    text = re.sub(r"<mjx-container.*?</mjx-container>", "", text, flags=re.S)
    text = re.sub(r"<[^>]+>", " ", text)
    raw = re.findall(r"\\\(|\\\[|\$\$|\\begin\{", text)
    if raw:
        problems.append(f"{page}: raw TeX left in the text ({len(raw)} delimiters)")
    images = re.findall(r'<img[^>]+src="([^"]+)"', source)
    if page.startswith("book/executed/") and not images:
        problems.append(f"{page}: a result page without a figure")
    for src in images:
        if not src.startswith(("http", "data:")) and not (path.parent / src).resolve().exists():
            problems.append(f"{page}: missing image {src}")
    shot = shots / (page.replace("/", "_") + ".png")
    run(browser, [f"--screenshot={shot}", url])
    if not shot.exists():
        problems.append(f"{page}: no screenshot written")
    return problems


def main() -> int:
    root = Path(__file__).resolve().parent.parent
    built = Path(sys.argv[1]) if len(sys.argv) > 1 else root / "_build" / "html"
    shots = root / "_build" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    browser = chromium()
    problems = []
    for page in pages(root):
        found = check(page, built, browser, shots)
        print(f"{'ok  ' if not found else 'FAIL'} {page}")
        problems += found
    for p in problems:
        print("  " + p)
    print(f"screenshots: {shots}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
