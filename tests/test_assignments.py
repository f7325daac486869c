"""The graded assignments (assignments/*.ipynb) build with otter-grader and grade as intended.

``otter assign`` writes the student and autograder versions into a temporary folder; ``otter run``
(no Docker) then grades there: the solutions must score full marks, the blank student notebooks
almost nothing, and planted wrong answers must lose exactly the points of the test that targets them.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest

pytest.importorskip("otter", reason="otter-grader is not installed (the `teach` extra)")

ROOT = Path(__file__).resolve().parents[1]
MASTERS = sorted((ROOT / "assignments").glob("*.ipynb"))
NAMES = [p.stem for p in MASTERS]

_spec = importlib.util.spec_from_file_location("grade_submissions",
                                               ROOT / "scripts" / "grade_submissions.py")
grading = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(grading)

# Planted mistakes: (assignment, text in the solution, its replacement).
PLANTED = {
    # the principal branch W_0 gives the trivial root y = 1: no finite bandwidth anywhere
    "wrong_branch": ("a1_least_bandwidth", "lambertw(-c * np.exp(-c), k=-1)",
                     "lambertw(-c * np.exp(-c), k=0)"),
    # a scheduler that only repeats the greedy serves no more users than the greedy
    "only_greedy": ("a3_scheduler", "    best = []\n",
                    "    return plcore.solve(inst, method=\"greedy\")\n"),
}


def _plant(solution: Path, old: str, new: str, dest: Path) -> Path:
    nb = nbformat.read(solution, as_version=4)
    hits = [c for c in nb.cells if c.cell_type == "code" and old in c.source]
    assert len(hits) == 1, f"planted text not found once in {solution.name}: {old!r}"
    hits[0].source = hits[0].source.replace(old, new)
    dest.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dest / solution.name)
    return dest / solution.name


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """``{assignment: folder}``: each master built by ``otter assign`` in a temporary folder."""
    assert len(MASTERS) == 3, MASTERS
    tmp = tmp_path_factory.mktemp("assignments")

    def assign(master: Path) -> Path:
        out = tmp / master.stem
        # The solutions are graded below, so otter's own run of the tests is skipped here.
        subprocess.run([sys.executable, "-m", "otter", "assign", "--no-run-tests", str(master),
                        str(out)], check=True, capture_output=True, text=True, cwd=tmp)
        return out

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(NAMES, pool.map(assign, MASTERS)))


@pytest.fixture(scope="module")
def graded(built, tmp_path_factory):
    """Scores ``{(assignment, variant): {question: (score, max)}}`` for every variant graded."""
    tmp = tmp_path_factory.mktemp("planted")
    jobs = {}
    for name, dist in built.items():
        zips = list((dist / "autograder").glob(f"{name}-autograder_*.zip"))
        assert len(zips) == 1, zips
        jobs[name, "solution"] = (zips[0], dist / "autograder" / f"{name}.ipynb")
        jobs[name, "blank"] = (zips[0], dist / "student" / f"{name}.ipynb")
    for variant, (name, old, new) in PLANTED.items():
        notebook = _plant(jobs[name, "solution"][1], old, new, tmp / variant)
        jobs[name, variant] = (jobs[name, "solution"][0], notebook)
    with ThreadPoolExecutor(max_workers=2) as pool:
        scores = pool.map(lambda job: grading.grade(*job), jobs.values())
    return dict(zip(jobs, scores))


def _total(scores: dict) -> tuple[float, float]:
    return sum(s for s, _ in scores.values()), sum(m for _, m in scores.values())


@pytest.mark.parametrize("name", NAMES)
def test_solution_scores_full_marks(graded, name):
    scores = graded[name, "solution"]
    assert len(scores) >= 2
    assert all(score == top for score, top in scores.values()), scores


@pytest.mark.parametrize("name", NAMES)
def test_blank_student_notebook_scores_low(graded, name):
    score, top = _total(graded[name, "blank"])
    assert top > 0 and score <= 0.1 * top, graded[name, "blank"]


def test_student_notebooks_carry_no_solutions(built):
    for master in MASTERS:
        text = (built[master.stem] / "student" / f"{master.stem}.ipynb").read_text()
        assert "SOLUTION" not in text and "hidden: true" not in text, master.name
        assert "# BEGIN SOLUTION" in master.read_text()


def test_wrong_lambert_branch_fails_the_closed_form(graded):
    scores = graded["a1_least_bandwidth", "wrong_branch"]
    assert scores["q2"][0] == 0, scores
    assert scores["q1"][0] == scores["q1"][1] and scores["q3"][0] == scores["q3"][1], scores


def test_repeating_the_greedy_does_not_beat_it(graded):
    scores = graded["a3_scheduler", "only_greedy"]
    assert scores["q1"][0] == scores["q1"][1], scores
    score, top = scores["q2"]
    # feasible and as good as the greedy: some credit; the 2 points for beating it are lost
    assert 1 <= score <= top - 2, scores
