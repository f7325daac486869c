"""Check the built book in headless Chromium: every chapter renders its math and its figures.

    .venv/bin/python scripts/check_book.py [_build/html [PAGE ...]]

(PAGE: entries of ``_toc.yml``, e.g. ``book/claims``, to check only those.)

For each page of the table of contents it loads the page offline, lets MathJax run, and checks the
rendered DOM: formulas typeset (MathJax containers present, no raw TeX delimiters left in the
text), every image present on disk, a link to the source repository and a download button.
It also saves a screenshot per page in ``_build/screenshots/``.

A second pass loads every page in a window as narrow as a phone's (:data:`NARROW_PX` CSS pixels)
and measures, in the rendered page, every table, figure and image: none may be wider than the
page, where a reader would have to scroll sideways. Chromium will not open a window that narrow,
so the page is loaded in a frame of that width: a copy of the page with a small script appended
measures itself and posts the result to the frame's parent, which writes it into the DOM that
``--dump-dom`` prints.

Exit code 1 on any failure, with the page and the reason.
"""

from __future__ import annotations

import html
import json
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


NARROW_PX = 390
MARK = "narrow-check-result"
# Appended to a copy of each page: after load and a pause for MathJax, every visible table,
# figure and image wider than the viewport, or reaching past its right edge, is listed. An element
# inside a box that scrolls sideways (overflow-x auto or scroll, as the notebooks' HTML tables
# are wrapped) is measured by that box: the page shows the box, and the reader swipes the table.
MEASURE = """
<script>
window.addEventListener("load", () => setTimeout(() => {
  const vw = document.documentElement.clientWidth, out = [];
  for (const el of document.querySelectorAll("article table, article figure, article img")) {
    if (el.getBoundingClientRect().width === 0) continue;     // hidden (collapsed, removed)
    let box = el;
    for (let a = el.parentElement; a && a.tagName !== "ARTICLE"; a = a.parentElement) {
      const ox = getComputedStyle(a).overflowX;
      if (ox === "auto" || ox === "scroll") { box = a; break; }
    }
    const r = box.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    if (r.width > vw + 1 || r.right > vw + 1) {
      const what = el.tagName.toLowerCase() + (el.id ? "#" + el.id : "");
      const text = (el.getAttribute("alt") || el.textContent || "").trim().slice(0, 60);
      out.push({what: what, width: Math.round(r.width), right: Math.round(r.right), text: text});
    }
  }
  parent.postMessage(JSON.stringify({viewport: vw, wide: out}), "*");
}, 1500));
</script>
"""
FRAME = """<!DOCTYPE html><html><body style="margin:0">
<iframe src="%s" width="%d" height="844" scrolling="no" style="border:0"></iframe>
<script>
window.addEventListener("message", (e) => {
  const pre = document.createElement("pre");
  pre.id = "%s";
  pre.textContent = e.data;
  document.body.appendChild(pre);
});
</script></body></html>
"""


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


def run(browser: str, args: list[str], flags: list[str] = FLAGS) -> str:
    with tempfile.TemporaryDirectory() as profile:
        res = subprocess.run([browser, *flags, f"--user-data-dir={profile}", *args],
                             capture_output=True, text=True, timeout=120)
    return res.stdout


def check_narrow(page: str, built: Path, browser: str) -> list[str]:
    """No table, figure or image of ``page`` is wider than a phone's screen."""
    path = built / f"{page}.html"
    if not path.exists():
        return []                                   # reported by check()
    probe = path.with_name(f".narrow-check-{path.name}")
    frame = path.with_name(f".narrow-frame-{path.name}")
    probe.write_text(path.read_text().replace("</body>", MEASURE + "</body>", 1))
    frame.write_text(FRAME % (probe.name, NARROW_PX, MARK))
    try:
        dom = run(browser, ["--dump-dom", frame.resolve().as_uri()])
    finally:
        probe.unlink()
        frame.unlink()
    m = re.search(rf'<pre id="{MARK}">(.*?)</pre>', dom, flags=re.S)
    if not m:
        return [f"{page}: the {NARROW_PX}-pixel check wrote no result"]
    result = json.loads(html.unescape(m.group(1)))
    return [f"{page}: at {NARROW_PX} px, a {w['what']} is {w['width']} px wide and ends at "
            f"{w['right']} px (viewport {result['viewport']} px): {w['text']!r}"
            for w in result["wide"]]


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
    if 'source-repository-button' not in source:
        problems.append(f"{page}: no link to the source repository")
    if 'download-source-button' not in source and page != "genindex":   # genindex: no source
        problems.append(f"{page}: no download button for the page's source")
    for src in re.findall(r'class="[^"]*download-source-button[^"]*"[^>]*href="([^"]+)"|'
                          r'href="([^"]+)"[^>]*class="[^"]*download-source-button', source):
        target = next(t for t in src if t)
        if not (path.parent / target).resolve().exists():
            problems.append(f"{page}: the download button's file is missing ({target})")
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
    only = sys.argv[2:]
    for page in pages(root):
        if only and page not in only:
            continue
        found = check(page, built, browser, shots)
        if page != "genindex":                      # an index of terms, no table or figure
            found += check_narrow(page, built, browser)
        print(f"{'ok  ' if not found else 'FAIL'} {page}")
        problems += found
    for p in problems:
        print("  " + p)
    print(f"screenshots: {shots}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
