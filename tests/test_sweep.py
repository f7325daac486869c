"""Sweeps resume from a verified cache, recompute what changed or was damaged, and survive races
and kills with the result of a clean run."""

import errno
import os
import platform
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pytest
import scipy

import plcore
from plcore import paths
from plcore.errors import SweepError
from plcore.study import sweep
from tests import sweep_points
from tests.sweep_points import block, fails, profile_scale, sized, square, trial, trial_points

ROOT = Path(__file__).resolve().parents[1]
# A child process running tests.sweep_points.run(NAME, FN, N_POINTS, N_JOBS, OUT).
CHILD = [sys.executable, "-c", "import sys; from tests.sweep_points import run; run(*sys.argv[1:])"]


@pytest.fixture
def results(tmp_path, monkeypatch):
    """The results folder of the sweeps this process runs (a fresh one per test)."""
    root = tmp_path / "results"
    monkeypatch.setattr(sweep, "result_dir", lambda name: root / name)
    sweep_points.CALLS.clear()
    return root


def cache_dir(results: Path, name: str) -> Path:
    (folder,) = (results / name / "cache").iterdir()
    return folder


def cached_file(results: Path, name: str, fn, point: dict) -> Path:
    (path,) = cache_dir(results, name).glob(f"{sweep.point_key(fn, point)}*.csv")
    return path


def clean_run(tmp_path: Path, name: str, fn, points: list) -> pd.DataFrame:
    """The sweep run once, uninterrupted, into a cache of its own."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sweep, "result_dir", lambda n: tmp_path / "clean" / n)
        return sweep.run_sweep(name, fn, points, n_jobs=1, progress=False)


def child_env(results: Path, **extra) -> dict:
    env = dict(os.environ, PLCORE_RESULTS=str(results), **extra)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def test_sweep_caches_and_resumes(results):
    points = [{"x": i} for i in range(5)]
    first = sweep.run_sweep("sq", square, points, n_jobs=1, progress=False)
    assert first.y.tolist() == [0, 1, 4, 9, 16] and sweep_points.CALLS == [0, 1, 2, 3, 4]
    assert len(list(cache_dir(results, "sq").glob("*.csv"))) == 5
    # An "interrupted" run: one point lost; the rest is reused, not recomputed.
    cached_file(results, "sq", square, {"x": 3}).unlink()
    sweep_points.CALLS.clear()
    again = sweep.run_sweep("sq", square, points, n_jobs=1, progress=False)
    assert again.equals(first) and sweep_points.CALLS == [3]
    # The points ran in this process: it must not get a worker's watchdog, which would end it
    # with its own parent (a notebook's kernel with the notebook server).
    assert "plcore-sweep-watchdog" not in [t.name for t in threading.enumerate()]


def test_the_progress_bar_counts_every_point(results, capfd):
    points = [{"x": i} for i in range(5)]
    sweep.run_sweep("bar", square, points[:2], n_jobs=1, progress=False)
    capfd.readouterr()
    sweep.run_sweep("bar", square, points, n_jobs=1, progress=True)
    err = capfd.readouterr().err
    assert "2/5" in err and "5/5" in err, err


def test_fingerprint_tracks_the_source():
    fp = sweep.library_fingerprint()
    assert len(fp) == 12 and fp == sweep.library_fingerprint()
    assert sweep.point_key(square, {"x": 1}) != sweep.point_key(square, {"x": 2})


@pytest.mark.parametrize("module", ["paths.py", "model/instance.py", "schedulers/dp.py",
                                    "gpu/profile.py", "study/experiments.py"])
def test_the_library_fingerprint_covers_every_module(monkeypatch, module):
    """An edit anywhere in plcore changes the fingerprint (here: the file reads one byte longer)."""
    before = sweep.library_fingerprint()
    edited = Path(plcore.__file__).resolve().parent / module
    read_bytes = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes",
                        lambda self: read_bytes(self) + (b"#" if self == edited else b""))
    assert sweep.library_fingerprint() != before


def test_a_data_change_computes_the_points_again(results, tmp_path, monkeypatch):
    data = tmp_path / "data"
    (data / "profiles").mkdir(parents=True)
    monkeypatch.setattr(paths, "DATA", data)
    profile = data / "profiles" / "p.json"

    def scale():
        return sweep.run_sweep("prof", profile_scale, [{"profile": "p"}], n_jobs=1,
                               progress=False).scale.tolist()

    profile.write_text('{"scale": 1.0}')
    assert scale() == [1.0]
    profile.write_text('{"scale": 2.0}')
    assert scale() == [2.0]
    # Any file counts, also one the point does not read: the key cannot know what a point reads.
    sweep_points.CALLS.clear()
    (data / "other.json").write_text("{}")
    assert scale() == [2.0] and sweep_points.CALLS == ["p"]
    # Back to the first data: its points are found again.
    (data / "other.json").unlink()
    profile.write_text('{"scale": 1.0}')
    sweep_points.CALLS.clear()
    assert scale() == [1.0] and sweep_points.CALLS == []


VERSIONS = {"python": (platform, "python_version"), "numpy": (np, "__version__"),
            "scipy": (scipy, "__version__"), "pandas": (pd, "__version__")}


@pytest.mark.parametrize("where", VERSIONS.values(), ids=VERSIONS.keys())
def test_a_version_change_computes_the_points_again(results, monkeypatch, where):
    points = [{"x": 2}]
    sweep.run_sweep("ver", square, points, n_jobs=1, progress=False)
    module, attribute = where
    value = getattr(module, attribute)
    monkeypatch.setattr(module, attribute,
                        (lambda: "0.0.0") if callable(value) else value + "+other")
    sweep.run_sweep("ver", square, points, n_jobs=1, progress=False)
    assert sweep_points.CALLS == [2, 2]


CORRUPTIONS = {
    "last byte cut": lambda b: b[:-1],
    "header only": lambda b: b.split(b"\n")[0] + b"\n",
    "rows doubled": lambda b: b + b.split(b"\n", 1)[1],
    "column dropped": lambda b: b"\n".join(line.rsplit(b",", 1)[0] for line in b.split(b"\n")),
    "number edited": lambda b: b.replace(b"\n4,", b"\n5,", 1),
    "empty": lambda b: b"",
    "text garbage": lambda b: b"not,a\ncsv\n",
    "binary garbage": lambda b: bytes(range(256)) * 4,
    "open quote": lambda b: b'seed,method\n"4,dp\n',
}


@pytest.mark.parametrize("corrupt", CORRUPTIONS.values(), ids=CORRUPTIONS.keys())
def test_a_damaged_cache_file_is_reported_and_computed_again(results, tmp_path, capfd, corrupt):
    points = trial_points(6)
    clean = clean_run(tmp_path, "dmg", trial, points)
    sweep.run_sweep("dmg", trial, points, n_jobs=1, progress=False)
    path = cached_file(results, "dmg", trial, {"seed": 4})    # two rows
    path.write_bytes(corrupt(path.read_bytes()))
    capfd.readouterr()
    sweep_points.CALLS.clear()
    again = sweep.run_sweep("dmg", trial, points, n_jobs=1, progress=False)
    err = capfd.readouterr().err.splitlines()
    assert again.to_csv() == clean.to_csv()
    assert sweep_points.CALLS == [4]
    assert len(err) == 1 and str(path) in err[0] and "checksum" in err[0], err
    # The damaged file is gone and the point is whole again: a third run is silent and computes
    # nothing.
    sweep_points.CALLS.clear()
    third = sweep.run_sweep("dmg", trial, points, n_jobs=1, progress=False)
    assert third.to_csv() == clean.to_csv() and sweep_points.CALLS == []
    assert capfd.readouterr().err == ""


def test_a_file_reaches_the_disk_before_its_name(results, monkeypatch):
    """fsync of the data, then the atomic rename, then fsync of the folder (the rename itself)."""
    events = []
    fsync, replace = os.fsync, os.replace

    def record_fsync(fd):
        events.append(("fsync", "dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file"))
        fsync(fd)

    def record_replace(src, dst):
        events.append(("replace", Path(dst).suffix))
        replace(src, dst)

    monkeypatch.setattr(os, "fsync", record_fsync)
    monkeypatch.setattr(os, "replace", record_replace)
    sweep.run_sweep("sync", square, [{"x": 1}], n_jobs=1, progress=False)
    assert events == [("fsync", "file"), ("replace", ".csv"), ("fsync", "dir")]


def test_concurrent_sweeps_on_one_cache_give_the_clean_result(tmp_path):
    n_points, jobs = 8, (1, 1, 1)
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    env = child_env(tmp_path / "results", SWEEP_TEST_BARRIER=str(barrier),
                    SWEEP_TEST_PARTIES=str(len(jobs)))
    procs = [subprocess.Popen(CHILD + ["race", "block", str(n_points), str(n),
                                       str(tmp_path / f"out{i}")],
                              env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
             for i, n in enumerate(jobs)]
    outputs = [p.communicate(timeout=120) for p in procs]
    for p, (_, err) in zip(procs, outputs):
        assert p.returncode == 0 and err == "", err
    clean = clean_run(tmp_path, "race", block, trial_points(n_points)).to_csv()
    for i in range(len(jobs)):
        assert (tmp_path / f"out{i}").read_text() == clean


def running(procs: list) -> list:
    """Those of ``procs`` still running (a zombie waiting for its new parent counts as ended)."""
    alive = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                alive.append(p)
        except psutil.NoSuchProcess:
            pass
    return alive


def default_sigint() -> None:
    """Ctrl-C's default action in the child, as in a terminal.

    A shell without job control starts background commands with SIGINT ignored, and an ignored
    signal stays ignored across exec (Python then installs no KeyboardInterrupt handler): run in
    the background, the sweep would not be interrupted at all.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def committed(results: Path, name: str) -> list:
    folder = results / name / "cache"
    return list(folder.glob("*/*.csv")) if folder.exists() else []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL],
                         ids=["SIGINT", "SIGTERM", "SIGKILL"])
def test_an_interrupted_sweep_leaves_no_workers_and_resumes_to_the_clean_result(
        results, tmp_path, sig):
    n_points, out, log = 16, tmp_path / "out", tmp_path / "stderr"
    with open(log, "w") as stderr:
        proc = subprocess.Popen(CHILD + ["intr", "trial", str(n_points), "2", str(out)], cwd=ROOT,
                                env=child_env(results, SWEEP_TEST_DELAY="0.4"), stderr=stderr,
                                preexec_fn=default_sigint)
    deadline = time.monotonic() + 60
    while len(committed(results, "intr")) < 2:
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)
    workers = psutil.Process(proc.pid).children(recursive=True)
    assert len(workers) >= 2
    proc.send_signal(sig)
    proc.wait(timeout=30)
    assert proc.returncode != 0 and not out.exists()     # it was interrupted, not finished
    deadline = time.monotonic() + 5
    while running(workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not running(workers), [p.cmdline() for p in running(workers)]

    done = len(committed(results, "intr"))
    assert 2 <= done < n_points
    rerun = sweep.run_sweep("intr", trial, trial_points(n_points), n_jobs=1, progress=False)
    assert len(sweep_points.CALLS) == n_points - done    # the finished points were reused
    assert rerun.to_csv() == clean_run(tmp_path, "intr", trial, trial_points(n_points)).to_csv()


def test_a_dask_cluster_gives_the_local_results(results, tmp_path, monkeypatch):
    """``dask=ADDRESS`` (or ``$PLCORE_DASK``) runs the points on a Dask cluster through joblib's
    dask backend: the same rows as the local run, cached by the sweep's process, reused after."""
    from distributed import LocalCluster

    points = trial_points(7)
    local = clean_run(tmp_path, "dask", trial, points)
    sweep_points.CALLS.clear()
    monkeypatch.delenv(sweep.DASK_ENV, raising=False)
    assert sweep.dask_address() is None and sweep.dask_address("") is None
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster:
        monkeypatch.setenv(sweep.DASK_ENV, cluster.scheduler_address)
        assert sweep.dask_address() == cluster.scheduler_address
        on_dask = sweep.run_sweep("dask", trial, points, progress=False)
        pd.testing.assert_frame_equal(on_dask, local)
        # The points ran in the cluster's worker threads (processes=False), in this process:
        # local joblib workers (n_jobs=-1) would have left CALLS empty here.
        assert sorted(sweep_points.CALLS) == sorted(p["seed"] for p in points)
    assert len(list(cache_dir(results, "dask").glob("*.csv"))) == len(points)
    # The cluster is gone: a second run reads every point from the cache, computing none.
    sweep_points.CALLS.clear()
    again = sweep.run_sweep("dask", trial, points, progress=False, dask="tcp://127.0.0.1:9")
    pd.testing.assert_frame_equal(again, local)
    assert sweep_points.CALLS == []


# Faults of the cache's folder: entries that are not files, temporaries of killed sweeps, a disk
# that refuses to write.

def make_folder(path: Path, data: bytes) -> None:
    path.mkdir()
    (path / "inside.csv").write_bytes(data)


def make_fifo(path: Path, data: bytes) -> None:
    os.mkfifo(path)     # opening it to read would wait for a writer forever


def make_dangling_link(path: Path, data: bytes) -> None:
    path.symlink_to(path.with_name("gone.csv"))


def make_link_to_a_good_copy(path: Path, data: bytes) -> None:
    """A link to a file holding exactly the point's bytes: still not the cache's own file."""
    copy = path.parent.parent / "copy.csv"
    copy.write_bytes(data)
    path.symlink_to(copy)


NOT_FILES = {"folder": (make_folder, "a folder"), "fifo": (make_fifo, "a named pipe"),
             "dangling link": (make_dangling_link, "does not exist"),
             "link to a good copy": (make_link_to_a_good_copy, "a symbolic link")}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("make, kind", NOT_FILES.values(), ids=NOT_FILES.keys())
def test_an_entry_that_is_not_a_file_is_reported_removed_and_computed_again(
        results, tmp_path, capfd, make, kind):
    points = trial_points(6)
    clean = clean_run(tmp_path, "nf", trial, points)
    sweep.run_sweep("nf", trial, points, n_jobs=1, progress=False)
    path = cached_file(results, "nf", trial, {"seed": 4})
    data = path.read_bytes()
    path.unlink()
    make(path, data)
    capfd.readouterr()
    sweep_points.CALLS.clear()
    again = sweep.run_sweep("nf", trial, points, n_jobs=1, progress=False)
    err = capfd.readouterr().err.splitlines()
    assert again.to_csv() == clean.to_csv() and sweep_points.CALLS == [4]
    assert len(err) == 1 and str(path) in err[0] and kind in err[0], err
    assert path.is_file() and not path.is_symlink()
    sweep_points.CALLS.clear()
    third = sweep.run_sweep("nf", trial, points, n_jobs=1, progress=False)
    assert third.to_csv() == clean.to_csv() and sweep_points.CALLS == []
    assert capfd.readouterr().err == ""


# A child that writes the point "ab12" to the cache folder argv[1] and stops in fsync, after its
# bytes and before the rename: dead there (SIGKILL) or sleeping there (a writer at work).
WRITER = [sys.executable, "-c",
          "import os, sys, time; from pathlib import Path; from plcore.study import cache; "
          "os.fsync = (lambda fd: os._exit(9)) if sys.argv[2] == 'die' else "
          "(lambda fd: (print('writing', flush=True), time.sleep(60))); "
          "cache.save(Path(sys.argv[1]), 'ab12', b'x,y\\n1,2\\n')"]


def test_stale_temporaries_are_removed_and_live_ones_kept(results, tmp_path):
    """A temporary whose writer (named in it) is gone, or older than an hour, is removed by the
    next sweep; one that a live process is writing, or a recent one of another host, stays."""
    sweep.run_sweep("tmp", square, [{"x": 1}], n_jobs=1, progress=False)
    folder = cache_dir(results, "tmp")
    env = child_env(results)
    # What a killed sweep leaves. Its writer is not reaped yet: a zombie, as a killed worker
    # stays where its sweep is gone too and no init process reaps orphans.
    dying = subprocess.Popen(WRITER + [str(folder), "die"], env=env, cwd=ROOT)
    deadline = time.monotonic() + 60
    while psutil.Process(dying.pid).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    (dead,) = folder.glob(".*.tmp")
    writer = subprocess.Popen(WRITER + [str(folder), "live"], env=env, cwd=ROOT,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline() == "writing\n"
        (live,) = set(folder.glob(".*.tmp")) - {dead}
        hour = 3600     # the documented age of a stale temporary
        other_host_new = folder / ".ab12.elsewhere.1.k3_x9p2q.tmp"
        other_host_old = folder / ".ab12.elsewhere.2.k3_x9p2q.tmp"
        old_naming_new = folder / ".ab12.zz9_k3pq.tmp"
        old_naming_old = folder / ".ab12.zz8_k3pq.tmp"
        for path in (other_host_new, other_host_old, old_naming_new, old_naming_old):
            path.write_text("x")
        for path in (other_host_old, old_naming_old):
            os.utime(path, (time.time() - hour - 60,) * 2)
        os.utime(other_host_new, (time.time() - hour + 600,) * 2)
        (folder / ".ab12.dir.3.k3_x9p2q.tmp").mkdir()     # not ours to clear, and no failure
        sweep.run_sweep("tmp", square, [{"x": 1}], n_jobs=1, progress=False)
        left = {p.name for p in folder.glob(".*.tmp")}
        assert left == {live.name, other_host_new.name, old_naming_new.name,
                        ".ab12.dir.3.k3_x9p2q.tmp"}, left
    finally:
        writer.kill()
        writer.wait()
        dying.wait()
    # Its writer killed, the live one is stale too.
    sweep.run_sweep("tmp", square, [{"x": 1}], n_jobs=1, progress=False)
    assert live.name not in {p.name for p in folder.glob(".*.tmp")}


def test_a_full_disk_is_one_line_naming_the_cache_folder(results, monkeypatch):
    points = [{"x": i} for i in range(3)]
    sweep.run_sweep("full", square, points[:1], n_jobs=1, progress=False)
    folder = cache_dir(results, "full")

    def no_space(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with monkeypatch.context() as mp, pytest.raises(SweepError) as caught:
        mp.setattr(os, "fsync", no_space)
        sweep.run_sweep("full", square, points, n_jobs=1, progress=False)
    message = str(caught.value)
    assert "\n" not in message and str(folder) in message and "No space left" in message
    assert list(folder.glob(".*.tmp")) == []     # the temporary went with the failure
    sweep_points.CALLS.clear()
    sweep.run_sweep("full", square, points, n_jobs=1, progress=False)
    assert sweep_points.CALLS == [1, 2]         # the point finished before was kept


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_a_file_size_limit_is_one_line_naming_the_cache_folder(results, tmp_path, n_jobs):
    """Under RLIMIT_FSIZE, writing a point larger than the limit fails with EFBIG (Python ignores
    SIGXFSZ): the sweep ends with one line naming the folder, in its workers too (n_jobs=2)."""
    import resource

    limit = 64 * 1024
    points = [{"seed": 0, "rows": 10}, {"seed": 1, "rows": 10}, {"seed": 2, "rows": 20_000},
              {"seed": 3, "rows": 10}]
    code = ("import sys; from plcore.errors import SweepError; "
            "from plcore.study.sweep import run_sweep; from tests.sweep_points import sized\n"
            f"try: run_sweep('fsize', sized, {points!r}, n_jobs={n_jobs}, progress=False)\n"
            "except SweepError as e: print(e, file=sys.stderr); sys.exit(2)")
    proc = subprocess.run([sys.executable, "-c", code], env=child_env(results), cwd=ROOT,
                          capture_output=True, text=True, timeout=120,
                          preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE,
                                                                (limit, limit)))
    err = proc.stderr.splitlines()
    folder = cache_dir(results, "fsize")
    assert proc.returncode == 2 and len(err) == 1, proc.stderr
    assert str(folder) in err[0] and "File too large" in err[0], err
    # The failed write removed its temporary; with workers, the others were killed and may have
    # left theirs, which the next run removes.
    assert n_jobs > 1 or list(folder.glob(".*.tmp")) == []
    done = len(list(folder.glob("*.csv")))
    assert done == 2 if n_jobs == 1 else done <= 3    # in order: 0 and 1, then 2 fails
    rerun = sweep.run_sweep("fsize", sized, points, n_jobs=1, progress=False)
    assert len(sweep_points.CALLS) == len(points) - done      # the finished points were kept
    assert rerun.to_csv() == clean_run(tmp_path, "fsize", sized, points).to_csv()
    assert list(folder.glob(".*.tmp")) == []


# Faults of a Dask scheduler. Every cluster listens on 127.0.0.1 only.

def free_port() -> int:
    """A TCP port on 127.0.0.1 with nothing listening (bound once by the system, then freed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tcp_cluster(n_workers: int):
    """A cluster in this process (worker threads) whose scheduler is on 127.0.0.1 over TCP."""
    from distributed import LocalCluster

    return LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=False,
                        protocol="tcp", host="127.0.0.1", dashboard_address=None)


def test_an_unreachable_scheduler_ends_within_the_timeout_in_one_line(results, capfd):
    address = f"tcp://127.0.0.1:{free_port()}"
    start = time.monotonic()
    with pytest.raises(SweepError) as caught:
        sweep.run_sweep("unreach", trial, trial_points(3), progress=False, dask=address,
                        dask_timeout=2)
    elapsed = time.monotonic() - start
    message = str(caught.value)
    assert elapsed < 2 + 8, elapsed
    assert "\n" not in message and address in message and "did not answer within 2 s" in message
    assert "0 of 3 points are finished and kept in" in message
    assert capfd.readouterr().err == ""     # distributed's client logs nothing of it


def test_a_scheduler_without_workers_ends_within_the_timeout(results):
    with tcp_cluster(0) as cluster:
        start = time.monotonic()
        with pytest.raises(SweepError) as caught:
            sweep.run_sweep("idle", trial, trial_points(3), progress=False,
                            dask=cluster.scheduler_address, dask_timeout=2)
        elapsed = time.monotonic() - start
        message = str(caught.value)
        assert elapsed < 2 + 8, elapsed
        assert cluster.scheduler_address in message and "had no worker within 2 s" in message


def test_a_scheduler_that_dies_mid_sweep_ends_in_one_line_and_keeps_the_finished_points(
        results, tmp_path, monkeypatch):
    """The cluster is closed from a thread once two points are cached: the sweep ends (it does not
    go on in this process) with one line, and a re-run computes only the points not cached."""
    points = trial_points(12)
    monkeypatch.setenv("SWEEP_TEST_DELAY", "0.3")
    cluster = tcp_cluster(1)
    address = cluster.scheduler_address

    def close_after_two_points():
        deadline = time.monotonic() + 30
        while len(committed(results, "died")) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        cluster.close()

    closer = threading.Thread(target=close_after_two_points)
    closer.start()
    try:
        with pytest.raises(SweepError) as caught:
            sweep.run_sweep("died", trial, points, progress=False, dask=address, dask_timeout=2)
    finally:
        closer.join()
        cluster.close()
    done = len(committed(results, "died"))
    message = str(caught.value)
    assert "\n" not in message and address in message and "was lost during the sweep" in message
    assert f"{done} of {len(points)} points are finished and kept" in message
    assert 2 <= done < len(points)
    monkeypatch.setenv("SWEEP_TEST_DELAY", "0")
    sweep_points.CALLS.clear()
    rerun = sweep.run_sweep("died", trial, points, n_jobs=1, progress=False)
    assert len(sweep_points.CALLS) == len(points) - done
    assert rerun.to_csv() == clean_run(tmp_path, "died", trial, points).to_csv()


def test_an_error_of_the_point_function_on_dask_is_raised_as_it_is(results):
    with tcp_cluster(1) as cluster:
        with pytest.raises(ArithmeticError, match="point 1 fails"):
            sweep.run_sweep("fails", fails, trial_points(3), progress=False,
                            dask=cluster.scheduler_address, dask_timeout=5)


BAD_DASK_SETTINGS = {
    "no port": (["--dask", "127.0.0.1"], {}, "--dask: '127.0.0.1' is not a Dask scheduler address"),
    "unknown scheme": (["--dask", "nonsense://x:1"], {}, "unknown address scheme"),
    "timeout zero": (["--dask-timeout", "0"], {}, "--dask-timeout: expected seconds in (0, 1e+06]"),
    "timeout text": (["--dask-timeout", "soon"], {}, "got 'soon'"),
    "timeout NaN": (["--dask-timeout", "nan"], {}, "got 'nan'"),
    "timeout huge": (["--dask-timeout", "1e400"], {}, "got '1e400'"),
    "env address": ([], {"PLCORE_DASK": "tcp://h"}, "$PLCORE_DASK: 'tcp://h' is not"),
    "env timeout": ([], {"PLCORE_DASK_TIMEOUT": "-1"}, "$PLCORE_DASK_TIMEOUT: expected"),
}


@pytest.mark.parametrize("options, env, expected", BAD_DASK_SETTINGS.values(),
                         ids=BAD_DASK_SETTINGS.keys())
def test_bad_dask_settings_of_the_notebook_runner_are_one_line(tmp_path, monkeypatch, capsys,
                                                                options, env, expected):
    from plcore.study import notebook_runner

    for name in ("PLCORE_DASK", "PLCORE_DASK_TIMEOUT"):    # main() sets them: restored after
        monkeypatch.setenv(name, env.get(name, ""))
    dst = tmp_path / "out.ipynb"
    status = notebook_runner.main([str(tmp_path / "in.ipynb"), str(dst)] + options)
    out, err = capsys.readouterr()
    assert status == 2 and out == "" and not dst.exists()
    assert err.count("\n") == 1 and err.startswith("plcore: error: ") and expected in err, err


def test_the_notebook_runner_reports_an_unreachable_scheduler_in_one_line(tmp_path):
    """``--dask`` and ``--dask-timeout`` reach the kernel; the sweep's SweepError there is one
    line ``plcore: error: ...`` on the runner's stderr, exit code 2, no output notebook."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "from plcore.study.sweep import run_sweep\nfrom tests.sweep_points import trial\n"
        "run_sweep('nb', trial, [{'seed': 0}], progress=False)")]
    src, dst = tmp_path / "in.ipynb", tmp_path / "out.ipynb"
    nbformat.write(nb, src)
    address = f"tcp://127.0.0.1:{free_port()}"
    env = child_env(tmp_path / "results")
    env.pop(sweep.DASK_ENV, None)
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "plcore.study.notebook_runner", str(src),
                           str(dst), "--dask", address, "--dask-timeout", "1"],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stdout == "", proc.stderr
    err = proc.stderr.splitlines()
    assert len(err) == 1 and err[0].startswith("plcore: error: the Dask scheduler at "), err
    assert address in err[0] and "did not answer within 1 s" in err[0]
    assert not dst.exists()
    print(f"runner: {time.monotonic() - start:.1f} s")
