"""``plcore simulate``: every bad option or trace gives one line naming it, and exit code 2.

The contract of tests/test_cli_bad_input.py (its helpers are used here): exit code 2, nothing on
stdout, exactly one short line ``plcore: error: ...`` on stderr naming the option
(``--cv``) or the trace's file, line and column, no traceback, no warning (warnings are errors,
numpy's RuntimeWarnings included), and no ``--out`` file left behind. Options and trace columns
have the ranges of instance files (plcore.model.instance.RANGES) or stated bounds
(plcore.online.workload.LIMITS); the bounds on counts keep memory and time finite, so nothing
here runs long or large.
"""

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from .test_cli_bad_input import check_one_line, instance, json_text, run_main, write

ROOT = Path(__file__).resolve().parents[1]

HEADER = "arrival_s,model,data_bits,deadline_s,channel_gain"
ROW = "0.1,m1,1.2e6,0.2,1e-10"      # the catalogue's gain range: 1.99e-20 to 1.99e10


def trace(*rows, header=HEADER) -> str:
    return "\n".join((header, ROW) + rows) + "\n"


def with_user(value) -> str:
    return trace(f"0.2,m2,1.2e6,0.2,1e-10,{value}", header=HEADER + ",user").replace(
        ROW, ROW + ",0")


def simulate(argv, capsys):
    """``run_main`` for ``simulate``, also for argparse's errors (they exit by SystemExit)."""
    try:
        return run_main(["simulate", *argv], capsys)
    except SystemExit as exc:
        out, err = capsys.readouterr()
        return exc.code, out, err


# (id, options after the catalogue, fragments the message must hold)
OPTION_CASES = [
    ("requests-1e8", ["--requests", "1e8"], ["--requests", "1e+07"]),
    ("requests-1e9", ["--requests", "1000000000"], ["--requests", "1e+07"]),
    ("requests-negative", ["--requests", "-1"], ["--requests", ">= 0"]),
    ("requests-fraction", ["--requests", "1.5"], ["--requests", "integer"]),
    ("requests-a-word", ["--requests", "many"], ["--requests", "'many'"]),
    ("cv-inf", ["--cv", "inf"], ["--cv", "finite"]),
    ("cv-1e-200", ["--cv", "1e-200"], ["--cv", "0.01 to 100"]),
    ("cv-1e200", ["--cv", "1e200"], ["--cv", "0.01 to 100"]),
    ("cv-zero", ["--cv", "0"], ["--cv", "> 0"]),
    ("cv-nan", ["--cv", "nan"], ["--cv"]),
    ("coherence-1e-300", ["--coherence-s", "1e-300"], ["--coherence-s", "1e-12"]),
    ("coherence-too-many-intervals", ["--coherence-s", "1e-9"], ["--coherence-s", "intervals"]),
    ("coherence-negative", ["--coherence-s", "-1"], ["--coherence-s"]),
    ("coherence-nan", ["--coherence-s", "nan"], ["--coherence-s"]),
    ("data-bits-negative", ["--data-bits", "-1"], ["--data-bits", ">= 0"]),
    ("data-bits-inf", ["--data-bits", "inf"], ["--data-bits", "finite"]),
    ("data-bits-nan", ["--data-bits", "nan"], ["--data-bits"]),
    ("data-bits-half", ["--data-bits", "0.5"], ["--data-bits", "out of range"]),
    ("data-bits-1e16", ["--data-bits", "1e16"], ["--data-bits", "1e+15"]),
    ("capacity-below-smallest-model", ["--capacity-gb", "0.001"],
     ["--capacity-gb", "no model", "'m1'"]),
    ("capacity-zero", ["--capacity-gb", "0"], ["--capacity-gb", "> 0"]),
    ("capacity-negative", ["--capacity-gb", "-1"], ["--capacity-gb"]),
    ("capacity-nan", ["--capacity-gb", "nan"], ["--capacity-gb"]),
    ("capacity-inf", ["--capacity-gb", "inf"], ["--capacity-gb", "finite"]),
    ("capacity-1e7", ["--capacity-gb", "1e7"], ["--capacity-gb", "out of range"]),
    ("seed-negative", ["--seed", "-1"], ["--seed", ">= 0"]),
    ("seed-1e30", ["--seed", "1e30"], ["--seed", "out of range"]),
    ("seed-fraction", ["--seed", "0.5"], ["--seed", "integer"]),
    ("zipf-1e6", ["--popularity", "zipf", "--zipf", "1e6"], ["--zipf", "0 to 1000"]),
    ("zipf-negative", ["--zipf", "-1"], ["--zipf", ">= 0"]),
    ("zipf-inf", ["--zipf", "inf"], ["--zipf", "finite"]),
    ("deadline-inf", ["--deadline-s", "inf"], ["--deadline-s", "finite"]),
    ("deadline-zero", ["--deadline-s", "0"], ["--deadline-s", "> 0"]),
    ("deadline-1e-300", ["--deadline-s", "1e-300"], ["--deadline-s", "1e-12"]),
    ("deadline-1e7", ["--deadline-s", "1e7"], ["--deadline-s", "1e+06"]),
    ("rate-inf", ["--rate", "inf"], ["--rate", "finite"]),
    ("rate-zero", ["--rate", "0"], ["--rate", "> 0"]),
    ("rate-negative", ["--rate", "-5"], ["--rate"]),
    ("rate-1e-9", ["--rate", "1e-9"], ["--rate", "1e-06"]),
    ("arrivals-beyond-1e6-s", ["--rate", "1e-5"], ["--rate", "1e+06 s"]),
    ("rate-underscores", ["--rate", "1_0"], ["--rate", "'1_0'"]),
    ("rate-1e400", ["--rate", "1e400"], ["--rate", "double"]),
    ("period-too-many-periods", ["--period-s", "1e-12"], ["--period-s", "intervals"]),
    ("period-zero", ["--period-s", "0"], ["--period-s", "> 0"]),
    ("period-inf", ["--period-s", "inf"], ["--period-s", "finite"]),
    ("V-negative", ["--policy", "lyapunov", "--V", "-1"], ["--V", ">= 0"]),
    ("V-inf", ["--policy", "lyapunov", "--V", "inf"], ["--V", "finite"]),
    ("V-nan", ["--policy", "lyapunov", "--V", "nan"], ["--V"]),
    ("unknown-policy", ["--policy", "fastest"], ["--policy", "'fastest'"]),
    ("catalogue-without-trace", ["--catalogue", "x.json"], ["--catalogue"]),
]


@pytest.fixture
def catalogue(tmp_path):
    return str(write(tmp_path, "cat.json", json_text(instance())))


@pytest.mark.timeout(60)         # --coherence-s 1e-300 once ran for ever
@pytest.mark.parametrize("case", OPTION_CASES, ids=[c[0] for c in OPTION_CASES])
def test_bad_options(tmp_path, capsys, catalogue, case):
    _, options, fragments = case
    out = tmp_path / "run.csv"          # a later --requests replaces the first
    check_one_line(*simulate([catalogue, "--requests", "50", *options, "--out", str(out)],
                             capsys), fragments)
    assert sorted(os.listdir(tmp_path)) == ["cat.json"]      # no --out table, no temporary


# (id, trace content (str or bytes), fragments the message must hold)
TRACE_CASES = [
    ("user-1e20", with_user("1e20"), ["t.csv line 3, column 'user'", "1e+15"]),
    ("user-negative", with_user("-1"), ["line 3, column 'user'", ">= 0"]),
    ("user-fraction", with_user("1.5"), ["line 3, column 'user'", "integer"]),
    ("field-over-131072-characters", trace("0.2,m1,1.2e6,0.2," + "1" * 140_000),
     ["t.csv line 3", "field"]),
    ("line-over-a-mebibyte", trace("0.2,m1,1.2e6,0.2,1e-10" + "," * (2 << 20)),
     ["t.csv line 3", "longer than"]),
    ("latin-1", trace("0.2,m1,1.2e6,0.2,1e-10", "0.3,m\xe9,1.2e6,0.2,1e-10").encode("latin-1"),
     ["t.csv line 4, column 'model'", "UTF-8"]),
    ("binary", bytes(range(255, -1, -1)) * 4, ["t.csv line 1", "UTF-8"]),
    ("gain-1e300", trace("0.2,m1,1.2e6,0.2,1e300"),
     ["line 3, column 'channel_gain'", "1e+30 Hz"]),
    ("gain-1e-300", trace("0.2,m1,1.2e6,0.2,1e-300"), ["line 3, column 'channel_gain'"]),
    ("gain-zero", trace("0.2,m1,1.2e6,0.2,0"), ["line 3, column 'channel_gain'"]),
    ("gain-negative", trace("0.2,m1,1.2e6,0.2,-1e-10"), ["line 3, column 'channel_gain'"]),
    ("gain-nan", trace("0.2,m1,1.2e6,0.2,nan"), ["line 3, column 'channel_gain'"]),
    ("data-bits-negative", trace("0.2,m1,-1,0.2,1e-10"), ["line 3, column 'data_bits'", ">= 0"]),
    ("data-bits-inf", trace("0.2,m1,inf,0.2,1e-10"), ["line 3, column 'data_bits'", "finite"]),
    ("data-bits-1e16", trace("0.2,m1,1e16,0.2,1e-10"), ["line 3, column 'data_bits'", "1e+15"]),
    ("deadline-inf", trace("0.2,m1,1.2e6,inf,1e-10"), ["line 3, column 'deadline_s'", "finite"]),
    ("deadline-1e-300", trace("0.2,m1,1.2e6,1e-300,1e-10"), ["line 3, column 'deadline_s'"]),
    ("arrival-negative", trace("-1,m1,1.2e6,0.2,1e-10"), ["line 3, column 'arrival_s'"]),
    ("arrival-1e7", trace("1e7,m1,1.2e6,0.2,1e-10"), ["line 3, column 'arrival_s'", "1e+06"]),
    ("arrival-decreasing", trace("0.05,m1,1.2e6,0.2,1e-10"), ["line 3, column 'arrival_s'"]),
    ("number-1e400", trace("0.2,m1,1e400,0.2,1e-10"), ["line 3, column 'data_bits'", "double"]),
    ("number-underscores", trace("0.2,m1,1_000,0.2,1e-10"), ["line 3, column 'data_bits'"]),
    ("number-hexadecimal", trace("0.2,m1,0x10,0.2,1e-10"), ["line 3, column 'data_bits'"]),
    ("unknown-model", trace("0.2,m9,1.2e6,0.2,1e-10"), ["line 3, column 'model'", "'m9'"]),
    ("too-few-fields", trace("0.2,m1,1.2e6,0.2"), ["t.csv line 3", "4 fields"]),
    ("too-many-fields", trace("0.2,m1,1.2e6,0.2,1e-10,7"), ["t.csv line 3", "6 fields"]),
    ("missing-column", "arrival_s,model,data_bits,deadline_s\n0,m1,1,1\n",
     ["t.csv line 1", "channel_gain"]),
    ("unknown-column", trace(header=HEADER + ",usr").replace(ROW, ROW + ",3"),
     ["t.csv line 1", "'usr'"]),
    ("repeated-column", trace(header=HEADER + ",model").replace(ROW, ROW + ",m2"),
     ["t.csv line 1", "'model' appears twice"]),
    ("empty-file", "", ["t.csv line 1", "missing column"]),
    ("nul-byte", trace("0.2,m1,1.2e6\x00,0.2,1e-10"), ["line 3, column 'data_bits'"]),
]


@pytest.mark.parametrize("case", TRACE_CASES, ids=[c[0] for c in TRACE_CASES])
def test_bad_traces(tmp_path, capsys, catalogue, case):
    _, content, fragments = case
    path = write(tmp_path, "t.csv", content)
    out = tmp_path / "run.csv"
    check_one_line(*simulate([str(path), "--catalogue", catalogue, "--out", str(out)], capsys),
                   fragments)
    assert not out.exists()


def _fifo(tmp):
    os.mkfifo(tmp / "pipe.csv")
    return tmp / "pipe.csv"


def _directory(tmp):
    (tmp / "dir.csv").mkdir()
    return tmp / "dir.csv"


def _device(tmp):
    (tmp / "null.csv").symlink_to(os.devnull)
    return tmp / "null.csv"


NOT_FILES = [("directory", _directory, "is a directory"),
             ("character-device", _device, "character device"),
             ("missing", lambda tmp: tmp / "absent.csv", "no such")]
if hasattr(os, "mkfifo"):
    NOT_FILES.append(("named-pipe", _fifo, "named pipe"))


@pytest.mark.timeout(60)         # a named pipe opened for reading waits for a writer for ever
@pytest.mark.parametrize("role", ["trace", "catalogue"])
@pytest.mark.parametrize("case", NOT_FILES, ids=[c[0] for c in NOT_FILES])
def test_not_a_regular_file(tmp_path, capsys, catalogue, case, role):
    _, make, fragment = case
    target = str(make(tmp_path))
    if role == "trace":
        argv = [target, "--catalogue", catalogue]
    else:
        argv = [str(write(tmp_path, "t.csv", trace())), "--catalogue",
                target.replace(".csv", ".json")
                if case[0] == "missing" else target]
    check_one_line(*simulate(argv, capsys), [fragment])


def test_a_trace_needs_a_catalogue(tmp_path, capsys):
    path = write(tmp_path, "t.csv", trace())
    check_one_line(*simulate([str(path)], capsys), ["--catalogue"])


@pytest.mark.parametrize("out", ["folder", "absent/run.csv", "device"])
def test_bad_out(tmp_path, capsys, catalogue, out):
    (tmp_path / "folder").mkdir()
    target = os.devnull if out == "device" else str(tmp_path / out)
    check_one_line(*simulate([catalogue, "--requests", "20", "--out", target], capsys),
                   ["--out"])
    assert sorted(os.listdir(tmp_path)) == ["cat.json", "folder"]
    assert os.listdir(tmp_path / "folder") == []


# Valid inputs at the edges of the ranges: exit code 0, no warning, a summary without nan/inf.
VALID_TRACES = [
    ("byte-order-mark", "\ufeff" + trace()),
    ("all-at-t-0", trace("0,m2,1.2e6,0.2,1e-10").replace("0.1,", "0,", 1)),
    ("edges-of-the-ranges", trace("1e6,m2,1e15,1e6,1.9e10", "1e6,m1,0,1e-12,1.991e-20")),
    ("users", with_user("1e15")),
    ("blank-lines-and-spaces", trace(" 0.2 ,m2, 1.2e6 ,0.2,1e-10", "")),
    ("header-only", HEADER + "\n"),
]


def assert_summary(out):
    """A summary of 8 lines whose undefined values read n/a (no rate of inf req/s)."""
    assert len(out.splitlines()) == 8 and out.startswith("policy ")
    assert not re.search(r"\b(inf|nan)\b", out, re.IGNORECASE), out


@pytest.mark.parametrize("case", VALID_TRACES, ids=[c[0] for c in VALID_TRACES])
def test_valid_traces_pass(tmp_path, capsys, catalogue, case):
    _, content = case
    path = write(tmp_path, "t.csv", content)
    rc, out, err = simulate([str(path), "--catalogue", catalogue], capsys)
    assert rc == 0 and err == "", err
    assert_summary(out)


EXAMPLE = str(ROOT / "data" / "instances" / "example.json")

# (id, options, catalogue: None for the table's, of 2 models)
VALID_OPTIONS = [
    # 4 models: 3**1000 and 4**1000 are beyond a double (a share of 0, and no warning)
    ("zipf-1000", ["--popularity", "zipf", "--zipf", "1000"], EXAMPLE),
    ("deadline-1e6", ["--deadline-s", "1e6"], None),
    ("deadline-1e-12", ["--deadline-s", "1e-12"], None),
    ("data-bits-edges", ["--data-bits", "1e15", "--cv", "100", "--seed", "1e18"], None),
    ("no-data", ["--data-bits", "0", "--cv", "0.01"], None),
    ("rate-1e12", ["--rate", "1e12"], None),
    ("requests-written-1e2", ["--requests", "1e2"], None),
    ("no-requests", ["--requests", "0"], None),
    ("capacity-edges", ["--capacity-gb", "1e6", "--policy", "lyapunov", "--V", "1e9"], None),
    ("capacity-one-model", ["--capacity-gb", "0.092"], None),
    ("fading", ["--coherence-s", "1e-4", "--period-s", "0.01"], None),
]


@pytest.mark.parametrize("case", VALID_OPTIONS, ids=[c[0] for c in VALID_OPTIONS])
def test_valid_options_pass(tmp_path, capsys, catalogue, case):
    _, options, other = case
    out = tmp_path / "run.csv"
    rc, stdout, err = simulate([other or catalogue, "--requests", "40", *options, "--out",
                                str(out)], capsys)
    assert rc == 0 and err == "", err
    assert_summary(stdout)
    assert sorted(os.listdir(tmp_path)) == ["cat.json", "run.csv"]     # no temporary left


def test_the_table_is_large():
    assert len(OPTION_CASES) + len(TRACE_CASES) + 2 * len(NOT_FILES) >= 80


def run(argv, **kwargs):
    return subprocess.run([sys.executable, "-W", "error", "-m", "plcore", "simulate", *argv],
                          cwd=ROOT, timeout=120, **kwargs)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_disk_for_the_summary_leaves_no_table(tmp_path, catalogue):
    out = tmp_path / "run.csv"
    with open("/dev/full", "w") as full:
        res = run([catalogue, "--requests", "30", "--out", str(out)], stdout=full,
                  stderr=subprocess.PIPE, text=True)
    check_one_line(res.returncode, "", res.stderr, ["cannot write the output"])
    assert sorted(os.listdir(tmp_path)) == ["cat.json"]


def _file_size_limit():
    """In the child: files may not grow beyond 20 kB, and a write past that fails with EFBIG
    instead of killing the process (SIGXFSZ)."""
    import resource

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))


@pytest.mark.skipif(not hasattr(signal, "SIGXFSZ"), reason="needs RLIMIT_FSIZE")
def test_a_full_disk_for_the_table_leaves_no_partial_file(tmp_path, catalogue):
    """The per-request table of 300 requests (about 60 kB) hits the limit part-way."""
    out = tmp_path / "run.csv"
    res = run([catalogue, "--requests", "300", "--out", str(out)], capture_output=True,
              text=True, preexec_fn=_file_size_limit)
    check_one_line(res.returncode, res.stdout, res.stderr, ["--out", "run.csv", "cannot write"])
    assert sorted(os.listdir(tmp_path)) == ["cat.json"]


def test_the_table_is_written_whole(tmp_path, catalogue):
    out = tmp_path / "run.csv"
    out.write_text("an older table\n")
    res = run([catalogue, "--requests", "30", "--out", str(out)], capture_output=True, text=True)
    assert res.returncode == 0 and res.stderr == "", res.stderr
    assert out.read_text().count("\n") == 31
    assert sorted(os.listdir(tmp_path)) == ["cat.json", "run.csv"]
    mask = os.umask(0)
    os.umask(mask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~mask       # not the temporary's 0o600


def test_help_states_the_ranges(capsys):
    rc, out, _ = simulate(["--help"], capsys)
    text = " ".join(out.split())
    assert rc == 0
    for fragment in ("0 to 1e+07 requests", "0.01 to 100", "0, or 1 to 1e+15 bits",
                     "1e-12 to 1e+06 s", "1e-06 to 1e+12 req/s", "0 to 1e+18", "0 to 1000",
                     "1e-09 to 1e+06 GB", "at most 1e+07 intervals", "1 to 1e+30 Hz"):
        assert fragment in text, fragment
