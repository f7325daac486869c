"""The command line: JSON out, one-line errors with exit code 2, no traceback."""

import json
import subprocess
import sys

import pytest

import plcore
import plcore.cli
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


# --------------------------------------------------------------------------------------------------
# The time limit counts the whole command; Ctrl-C stops like it


def test_the_time_limit_counts_reading_the_instance(instance_file, monkeypatch, capsys):
    """The solver gets what reading the instance left of the limit: none of it here."""
    import time

    def slow_load(path):
        time.sleep(0.3)
        return plcore.load_instance(path)

    given = []

    def solve_with_status(inst, method, time_limit_s):
        given.append(time_limit_s)
        return plcore.solve_with_status(inst, method, time_limit_s=time_limit_s)

    monkeypatch.setattr(plcore.cli, "load_instance", slow_load)
    monkeypatch.setattr(plcore.cli, "solve_with_status", solve_with_status)
    assert plcore.cli.main(["solve", str(instance_file), "--method", "greedy",
                            "--time-limit", "10"]) == 0
    assert 5.0 < given[0] <= 9.7
    capsys.readouterr()
    assert plcore.cli.main(["solve", str(instance_file), "--method", "greedy",
                            "--time-limit", "0.2"]) == 0
    assert given[1] == 0.0
    out, err = capsys.readouterr()
    assert json.loads(out)["stopped"] == "time limit"
    assert err.startswith("plcore: time limit of 0.2 s reached; the schedule is the best found")
    assert "reading the instance included" in " ".join(run("solve", "--help").stdout.split())


def main_not_interrupted(argv):
    """``plcore.cli.main(argv)``; a KeyboardInterrupt escaping it fails the test, not the run."""
    try:
        return plcore.cli.main(argv)
    except KeyboardInterrupt:
        pytest.fail("KeyboardInterrupt escaped plcore.cli.main")


def test_ctrl_c_during_a_solve_prints_the_best_schedule_so_far(instance_file, monkeypatch,
                                                               capsys):
    """In process, a solver interrupted after offering a schedule (deterministic)."""
    from plcore.schedulers import SOLVERS
    from plcore.schedulers.limits import current_clock

    def interrupted(inst):
        current_clock().offer([0])
        raise KeyboardInterrupt

    monkeypatch.setitem(SOLVERS, "greedy", interrupted)
    rc = main_not_interrupted(["solve", str(instance_file), "--method", "greedy"])
    out, err = capsys.readouterr()
    assert rc == 130
    out = json.loads(out)
    assert out["stopped"] == "interrupted" and out["schedule"] == [0]
    assert out["evaluation"]["feasible"] is True
    assert err == ("plcore: interrupted; the schedule is the best found so far (greedy stopped "
                   "before finishing)\n")


@pytest.mark.parametrize("command", [["validate"], ["evaluate", "0,1"],
                                     ["solve", "--method", "greedy"]],
                         ids=["validate", "evaluate", "solve"])
def test_ctrl_c_before_anything_is_found_is_one_line(instance_file, monkeypatch, capsys, command):
    def interrupted(path):
        raise KeyboardInterrupt

    monkeypatch.setattr(plcore.cli, "load_instance", interrupted)
    rc = main_not_interrupted([command[0], str(instance_file), *command[1:]])
    assert rc == 130 and capsys.readouterr() == ("", "plcore: interrupted\n")


def default_sigint() -> None:
    """Ctrl-C's default action in the child, as in a terminal: a shell without job control starts
    background commands with SIGINT ignored, and the child would inherit it."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture(scope="module")
def many_users(tmp_path_factory):
    """A 100,000-user scenario instance (17 MB): reading it takes a while, density search longer."""
    from plcore.study.scenarios import make_instance

    path = tmp_path_factory.mktemp("many") / "many.json"
    plcore.save_instance(make_instance(seed=1, n_users=100_000), path)
    return path


def spawn(args, stderr):
    return subprocess.Popen([sys.executable, "-m", "plcore", *args], stdout=subprocess.PIPE,
                            stderr=stderr, start_new_session=True, preexec_fn=default_sigint)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("command", [["validate"], ["evaluate", "0,1"],
                                     ["solve", "--method", "greedy"]],
                         ids=["validate", "evaluate", "solve"])
def test_ctrl_c_while_reading_the_instance_is_one_line(many_users, command):
    """SIGINT to a real process once it has read the file (its read count passes the file's
    size; imports read about 5 MB), while it parses and validates it: before any solve."""
    import signal
    import time

    import psutil

    proc = spawn([command[0], str(many_users), *command[1:]], subprocess.PIPE)
    size, deadline = many_users.stat().st_size, time.monotonic() + 120
    while psutil.Process(proc.pid).io_counters().read_chars < size:
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.002)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert (proc.returncode, out, err) == (130, b"", b"plcore: interrupted\n")


@pytest.mark.timeout(300)
def test_ctrl_c_mid_solve_prints_the_best_schedule_so_far(tmp_path):
    """SIGINT to a real ``plcore solve --method exact`` once its progress line (stderr on a
    terminal) shows a schedule found: the schedule on stdout is feasible, exit code 130.

    Exact on 16 users runs about 2.7 s here (it offers the greedy's schedule first, and the
    progress line appears after 1 s); density search, which this test used before, now solves
    100,000 users before any progress line is drawn."""
    import fcntl
    import os
    import pty
    import re
    import signal
    import struct
    import termios
    import threading
    import time

    master, slave = pty.openpty()
    # A new pseudo-terminal has 0 columns; the progress bar would draw nothing in them.
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    from plcore.study.scenarios import make_instance

    many_users = tmp_path / "sixteen.json"
    plcore.save_instance(make_instance(seed=1, n_users=16), many_users)
    proc = spawn(["solve", str(many_users), "--method", "exact"], slave)
    os.close(slave)
    chunks = []

    def read_terminal():            # all the child writes on stderr, till it closes it
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:         # EIO: no process holds the terminal any more
                return
            if not chunk:
                return
            chunks.append(chunk)

    reader = threading.Thread(target=read_terminal, daemon=True)
    reader.start()
    deadline = time.monotonic() + 120
    try:
        while not any(int(n.replace(b",", b"")) > 0
                      for n in re.findall(rb"best so far ([0-9,]+) users", b"".join(chunks))):
            assert proc.poll() is None and time.monotonic() < deadline, b"".join(chunks)[-500:]
            time.sleep(0.01)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
        reader.join(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    err = b"".join(chunks)
    assert proc.returncode == 130, err[-500:]
    out = json.loads(out)
    assert out["stopped"] == "interrupted" and out["schedule"]
    inst = plcore.load_instance(many_users)
    assert plcore.evaluate(inst, out["schedule"]).feasible
    assert out["evaluation"]["feasible"] and out["evaluation"]["throughput"] == len(out["schedule"])
    last = err.decode().replace("\r", "\n").split("\n")
    assert [line for line in last if line.startswith("plcore: interrupted")] == [
        "plcore: interrupted; the schedule is the best found so far (not proven optimal)"]
    assert "Traceback" not in err.decode()
