"""Grade a folder of assignment submissions with otter-grader, locally and without Docker.

Usage::

    python scripts/grade_submissions.py AUTOGRADER.zip FOLDER [--out SCORES.csv] [--jobs N]

Every ``*.ipynb`` and ``*.zip`` (an ``grader.export()`` archive) in FOLDER is graded by
``otter run`` in its own process, in the current environment (which must have ``plcore`` and
``otter-grader``: the project's ``.venv``). One row per submission goes to the CSV (default
``FOLDER/scores.csv``): the points of each question, the total and the maximum.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def grade(autograder: str | Path, submission: str | Path, timeout_s: float = 600) -> dict:
    """Grade one submission with ``otter run``.

    Parameters
    ----------
    autograder : str or Path
        The autograder zip written by ``otter assign``.
    submission : str or Path
        A notebook or a zip exported by ``grader.export()``.
    timeout_s : float
        Wall-clock limit of the run (s).

    Returns
    -------
    dict
        ``{question: (score, max_score)}``; a question whose notebook failed to run scores 0.

    Raises
    ------
    RuntimeError
        If otter writes no results (its output is in the message).
    """
    with tempfile.TemporaryDirectory() as out:
        proc = subprocess.run(
            [sys.executable, "-m", "otter", "run", "--no-logo", "-a", str(autograder),
             "-o", out, str(submission)],
            capture_output=True, text=True, timeout=timeout_s)
        path = Path(out) / "results.json"
        if not path.exists():
            raise RuntimeError(f"otter run wrote no results for {submission}:\n"
                               f"{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
        tests = json.loads(path.read_text())["tests"]
    return {t["name"]: (float(t["score"]), float(t["max_score"]))
            for t in tests if t.get("max_score") is not None}


def grade_folder(autograder: str | Path, folder: str | Path, jobs: int = 2) -> list[dict]:
    """Grade every notebook and zip in ``folder``; one row per submission, sorted by name."""
    subs = sorted(p for p in Path(folder).iterdir() if p.suffix in (".ipynb", ".zip"))
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        results = list(pool.map(lambda p: grade(autograder, p), subs))
    rows = []
    for sub, res in zip(subs, results):
        row = {"submission": sub.name}
        row.update({q: score for q, (score, _) in res.items()})
        row["total"] = sum(score for score, _ in res.values())
        row["max"] = sum(top for _, top in res.values())
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("autograder", help="autograder zip from `make assignments`")
    parser.add_argument("folder", help="folder of submissions (.ipynb or exported .zip)")
    parser.add_argument("--out", help="CSV to write (default FOLDER/scores.csv)")
    parser.add_argument("--jobs", type=int, default=2, help="submissions graded in parallel")
    args = parser.parse_args(argv)
    rows = grade_folder(args.autograder, args.folder, args.jobs)
    if not rows:
        print(f"no .ipynb or .zip submissions in {args.folder}", file=sys.stderr)
        return 1
    out = Path(args.out or Path(args.folder) / "scores.csv")
    fields = list(dict.fromkeys(k for row in rows for k in row))
    with out.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    for row in rows:
        print(f"{row['submission']}: {row['total']:g} / {row['max']:g}")
    print(f"scores: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
