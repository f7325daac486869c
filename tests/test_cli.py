"""The command line: JSON out, one-line errors with exit code 2, no traceback."""

import json
import subprocess
import sys

import pytest

import plcore
from plcore.study.synthetic import random_instance


def run(*args):
    return subprocess.run([sys.executable, "-m", "plcore", *args], capture_output=True, text=True)


@pytest.fixture
def instance_file(tmp_path):
    path = tmp_path / "inst.json"
    plcore.save_instance(random_instance(4, 6, 3, structure="bottom"), path)
    return path


def test_solve_prints_schedule_and_evaluation(instance_file):
    res = run("solve", str(instance_file), "--method", "exact")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    inst = plcore.load_instance(instance_file)
    assert out["schedule"] == plcore.solve(inst, method="exact")
    assert out["evaluation"]["feasible"] is True
    assert out["evaluation"]["throughput"] == len(out["schedule"])


def test_evaluate_and_validate(instance_file):
    res = run("evaluate", str(instance_file), "0,1")
    assert res.returncode == 0 and json.loads(res.stdout)["schedule"] == [0, 1]
    res = run("validate", str(instance_file))
    assert res.returncode == 0 and json.loads(res.stdout)["users"] == 6


@pytest.mark.parametrize("content,message", [
    (None, "no such file"),
    ("{not json", "invalid JSON at line 1"),
    ('{"blocks": {}}', "blocks: empty"),
])
def test_bad_files_give_one_line_and_exit_2(tmp_path, content, message):
    path = tmp_path / "bad.json"
    if content is not None:
        path.write_text(content)
    res = run("solve", str(path), "--method", "exact")
    assert res.returncode == 2
    assert res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("plcore: error:") and message in lines[0]
    assert "Traceback" not in res.stderr


def test_bad_sequence_is_an_error(instance_file):
    for seq in ("0,0", "0,x", "99", "0,,1", "0,"):
        res = run("evaluate", str(instance_file), seq)
        assert res.returncode == 2 and "Traceback" not in res.stderr


def test_console_script_is_installed():
    import shutil

    exe = shutil.which("plcore") or str(__import__("pathlib").Path(sys.executable).with_name("plcore"))
    res = subprocess.run([exe, "--version"], capture_output=True, text=True)
    assert res.returncode == 0 and "plcore" in res.stdout


@pytest.mark.parametrize("method, loader", [("no-sharing", "whole-model"), ("fcfs-full", "whole-model"),
                                            ("greedy", "partial")])
def test_baselines_are_evaluated_under_the_loader_they_assume(method, loader):
    example = "data/instances/example.json"     # consecutive models share a backbone there
    res = run("solve", example, "--method", method)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["loader"] == loader
    inst = plcore.load_instance(example)
    other = plcore.evaluate(inst, out["schedule"], partial=loader != "partial")
    expected = plcore.evaluate(inst, out["schedule"], partial=loader == "partial")
    assert out["evaluation"]["load_s"] == pytest.approx(list(expected.load_s))
    if method != "greedy":          # the two loaders differ on this schedule: the check can fail
        assert out["evaluation"]["load_s"] != pytest.approx(list(other.load_s))


@pytest.mark.parametrize("name", ["cpu-epyc-2core.json", "synthetic.json"])
def test_profile_report_of_the_committed_profiles(name):
    from plcore.paths import PROFILES

    out = run("profile", str(PROFILES / name), "--check")
    assert out.returncode == 0, out.stderr
    prof = json.loads((PROFILES / name).read_text())
    assert out.stdout.startswith(prof["device"])
    for arch in prof["architectures"]:
        assert f"\n{arch}: " in out.stdout
    assert ("makespan error" in out.stdout) == (not prof["synthetic"])


def test_profile_check_fails_on_a_missed_target(tmp_path):
    from plcore.paths import PROFILES
    from plcore.gpu.profile import targets

    prof = json.loads((PROFILES / "cpu-epyc-2core.json").read_text())
    prof["h2d_pinned_peak_Bps"] = prof["loader_Bps"] / 0.85      # loader at 85 % of the peak
    prof["h2d_pinned_per_size_Bps"] = {"1": 2e10, "1024": prof["h2d_pinned_peak_Bps"]}
    prof["architectures"]["resnet50"]["loader_issue_s"] = {"median": 4e-4, "p10": 3e-4,
                                                           "p90": 5e-4, "n": 20}
    (tmp_path / "p.json").write_text(json.dumps(prof))
    assert targets(prof)["loader_peak_ratio"][2] is False
    assert targets(prof)["makespan_rel_err"][2] is (prof["validation"]["makespan_rel_err"] <= 0.05)
    out = run("profile", str(tmp_path / "p.json"), "--check")
    assert out.returncode == 1 and "loader_peak_ratio: 0.850 (>= 0.9) NOT MET" in out.stdout
    assert "resnet50: CPU time to issue the packed_pinned load 0.40 ms" in out.stdout
    assert "pinned copy rate by size: 1 MB 20.0 GB/s, 1024 MB" in out.stdout
    assert run("profile", str(tmp_path / "p.json")).returncode == 0     # without --check: a report
    prof.pop("validation")
    (tmp_path / "p.json").write_text(json.dumps(prof))
    out = run("profile", str(tmp_path / "p.json"))
    assert out.returncode == 2 and "missing 'validation'" in out.stderr
