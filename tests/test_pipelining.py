"""The streamed executor (copies and forwards on their own streams, pipelined or not), its
measurement and the pipelined timeline, on the CPU. (On a GPU: tests/test_gpu.py.)

Without CUDA there are no streams: the streamed executor runs the same code in program order. Its
stream logic (which event each copy and forward waits for) is checked here by a recording stand-in
for the streams; its outputs against the sequential executor, bit for bit."""

import contextlib
import json
import os
import subprocess
import sys
import time
from collections import namedtuple
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from plcore.gpu import runtime
from plcore.gpu.loader import PartialLoader
from plcore.gpu.profile import report, validate_profile
from plcore.gpu.runtime import (Execution, block_durations, execute, execute_streamed,
                                predict_pipelined)
from plcore.model.timeline import pipelined_finish
from plcore.paths import PROFILES

from .executions import zoo_and_instance

ROOT = Path(__file__).resolve().parents[1]
CPU_PROFILE = PROFILES / "cpu-epyc-2core.json"


@pytest.mark.parametrize("pipelined", [True, False])
def test_streamed_outputs_equal_the_sequential_executor_bit_for_bit(pipelined):
    zoo, inst = zoo_and_instance()
    seq = list(range(inst.n_users))
    want = execute(PartialLoader(zoo, "cpu"), inst, seq, keep_outputs=True)
    loader = PartialLoader(zoo, "cpu")
    for _ in range(2):                         # a second run reuses the bound views
        loader.evict_all()
        run = execute_streamed(loader, inst, seq, pipelined=pipelined, keep_outputs=True)
        assert len(run.outputs) == len(want.outputs)
        for got, ref in zip(run.outputs, want.outputs):
            assert torch.equal(got, ref)
        np.testing.assert_array_equal(run.loaded_bytes, want.loaded_bytes)
    assert np.all(run.load_start_s <= run.infer_start_s) and np.all(run.infer_start_s < run.finish_s)
    assert np.all(run.load_start_s[1:] >= run.finish_s[:-1])   # one user after the other
    for i, b in enumerate(run.blocks):
        # A block is loaded iff the previous model lacks it; its copy ends before its forward.
        prev = set(zoo.models[run.models[i - 1]]) if i else set()
        assert b["loaded"] == [blk not in prev for blk in b["blocks"]]
        ready = b["ready_s"]
        assert np.isnan(ready[~np.array(b["loaded"])]).all()
        assert np.all(ready[np.array(b["loaded"])] <= b["done_s"][np.array(b["loaded"])])
        assert b["done_s"][-1] == run.finish_s[i] and np.all(np.diff(b["done_s"]) >= 0)


Mark = namedtuple("Mark", "t id stream")


class RecordingStreams(runtime._Streams):
    """The CPU's streams, with every call recorded: which stream each mark is on, and what each
    stream (or the CPU) waits for."""

    trace: list = []

    def __init__(self, device):
        super().__init__(device)
        self.copy, self.compute = "copy", "compute"
        RecordingStreams.trace = self.trace = []

    def on(self, stream):
        self.trace.append(("on", stream))
        return contextlib.nullcontext()

    def mark(self, stream):
        m = Mark(time.perf_counter(), len(self.trace), stream)
        self.trace.append(("mark", m))
        return m

    def wait(self, stream, mark):
        self.trace.append(("wait", stream, mark))

    def host_wait(self, mark):
        self.trace.append(("host_wait", mark))

    def seconds(self, t0, mark):
        return mark.t - t0.t


@pytest.mark.parametrize("pipelined", [True, False])
def test_streams_wait_for_the_right_events(monkeypatch, pipelined):
    """Each user's copies wait for the previous inference's end; pipelined, each forward of a
    loaded block waits for that block's copy and nothing else does; sequential, the CPU and the
    compute stream wait for the model's last copy before its first forward."""
    zoo, inst = zoo_and_instance()
    loader = PartialLoader(zoo, "cpu")
    load_block, block_module = loader.load_block, loader.block_module
    monkeypatch.setattr(runtime, "_Streams", RecordingStreams)
    monkeypatch.setattr(loader, "load_block", lambda b: (RecordingStreams.trace.append(
        ("copy", b)), load_block(b)))
    monkeypatch.setattr(loader, "block_module", lambda b: (RecordingStreams.trace.append(
        ("forward", b)), block_module(b))[1])
    run = execute_streamed(loader, inst, range(inst.n_users), pipelined=pipelined)
    trace = RecordingStreams.trace

    ready, last_copy, current, done = {}, None, "compute", trace[0][1]
    assert trace[0][0] == "mark" and trace[0][1].stream == "compute"        # t0
    waits_since_forward = []
    for i, event in enumerate(trace[1:], 1):
        kind = event[0]
        if kind == "on":
            current = event[1]
        elif kind == "copy":
            assert current == "copy"
            mark = trace[i + 1][1]                    # the block's ready mark, right after it
            assert trace[i + 1][0] == "mark" and mark.stream == "copy"
            ready[event[1]] = last_copy = mark
        elif kind == "mark":
            assert event[1].stream == current
            if current == "compute":
                done = event[1]
        elif kind in ("wait", "host_wait"):
            if kind == "wait" and event[1] == "copy":
                assert event[2] is done               # the previous inference's end (or t0)
                ready, first = {}, True
            else:
                waits_since_forward.append(event)
        elif kind == "forward":
            b = event[1]
            if pipelined:
                want = [("wait", "compute", ready[b])] if b in ready else []
            else:
                loaded = trace[max(j for j, e in enumerate(trace[:i]) if e[0] == "mark"
                                   and e[1].stream == "copy")][1]
                assert last_copy is None or loaded.id > last_copy.id
                want = [("host_wait", loaded), ("wait", "compute", loaded)] if first else []
            assert waits_since_forward == want, (b, waits_since_forward)
            waits_since_forward, first = [], False
    assert sum(e[0] == "forward" for e in trace) == sum(len(zoo.models[m]) for m in run.models)


def test_block_durations_and_the_pipelined_prediction():
    blocks = [{"blocks": ["a", "b", "c"], "loaded": [True, False, True],
               "ready_s": np.array([1.0, np.nan, 3.0]), "done_s": np.array([2.0, 4.0, 5.0])}]
    run = Execution([0], ["m"], np.array([0.0]), np.array([1.0]), np.array([5.0]),
                    np.array([1.0]), [], blocks)
    (d,) = block_durations(run)
    np.testing.assert_allclose(d["load_s"], [1.0, 0.0, 2.0])
    np.testing.assert_allclose(d["compute_s"], [1.0, 2.0, 1.0])
    # Pipelined: a computes at 1-2, b (resident) 2-4, c's copy ends at 3: all done at 5.
    assert predict_pipelined([d]) == 5.0
    assert predict_pipelined([d, d]) == 10.0


def finish_by_formula(start, load, compute):
    """The pipelined finish written in closed form: the last forward ends at the latest of each
    block's copy end plus the forwards from it on (and of the start plus all forwards)."""
    ready = start + np.cumsum(load)
    tail = np.cumsum(compute[::-1])[::-1]
    return max(start + compute.sum(), float(np.max(ready + tail)))


@settings(max_examples=300, deadline=None)
@given(st.floats(0, 10), st.lists(st.tuples(st.floats(0, 5), st.floats(0, 5)), min_size=1,
                                  max_size=12))
def test_pipelined_finish_equals_its_closed_form_and_lies_between_the_bounds(start, blocks):
    load = np.array([x for x, _ in blocks])
    compute = np.array([c for _, c in blocks])
    got = pipelined_finish(start, load, compute)
    assert got == pytest.approx(finish_by_formula(start, load, compute), rel=1e-12, abs=1e-12)
    # Never later than loading everything first, never earlier than either resource alone.
    assert got <= start + load.sum() + compute.sum() + 1e-9
    assert got >= start + max(compute.sum(), load.sum() + compute[-1]) - 1e-9


def test_measure_pipelining_gives_a_schema_valid_section_on_the_cpu(monkeypatch):
    import plcore.gpu.loadtime as lt

    seen = []
    section = lt.measure_pipelining("cpu", ("resnet18",), n_users=4, repeats=2, warmup=1,
                                    scale=0.125, progress=lambda *_: None,
                                    checkpoint=lambda s: seen.append(json.dumps(s)))
    a = section["architectures"]["resnet18"]
    assert section["path"] == "packed_pageable" and section["timer"] == "perf_counter"
    assert a["outputs_equal"] is True and a["outputs_max_rel_diff"] == 0.0
    assert a["users"] == 4 and len(a["schedule"]) == 4
    mk = a["makespan_s"]
    assert set(mk) == {"executor", "sequential", "pipelined"} and mk["pipelined"]["n"] == 2
    assert a["overlap_s"] == pytest.approx(mk["sequential"]["median"] - mk["pipelined"]["median"])
    assert a["hidden_load_share"] == pytest.approx(a["overlap_s"] / a["load_s"])
    assert 0 < a["load_s"] < mk["sequential"]["median"]
    assert [b["name"] for b in a["blocks"]][:2] == ["stem", "layer1.0"]
    assert all(0 <= b["compute_share"] <= 1 and b["compute_s"] >= 0 for b in a["blocks"])
    assert len(seen) == 1 and json.loads(seen[0]) == json.loads(json.dumps(section))
    prof = json.loads(CPU_PROFILE.read_text())
    prof["pipelining"] = json.loads(json.dumps(section))
    validate_profile(prof)
    assert "pipelining resnet18 (packed_pageable, 4 users): sequential" in report(prof)

    # A failing architecture is named; the others are still measured.
    def broken(arch, *args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(lt, "pipelining_run", broken)
    section = lt.measure_pipelining("cpu", ("resnet18",), progress=lambda *_: None)
    assert section["failed"] == {"resnet18": "RuntimeError: out of memory"}
    assert section["architectures"] == {}


SMALL = ["--device", "cpu", "--archs", "resnet18", "--users", "3", "--repeats", "2",
         "--warmup", "1", "--scale", "0.125"]


def run_script(*args, cwd=ROOT):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "measure_pipelining.py"),
                           *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)


def this_cpu_profile(tmp_path) -> Path:
    """The committed CPU profile, as if measured on this machine."""
    from plcore.gpu.loadtime import device_info

    prof = json.loads(CPU_PROFILE.read_text())
    prof["device"] = device_info(torch.device("cpu"))["device"]
    path = tmp_path / "here.json"
    path.write_text(json.dumps(prof))
    return path


def test_script_adds_the_section_to_a_copy_and_keeps_partial_results(tmp_path):
    src = this_cpu_profile(tmp_path)
    before = src.read_text()
    out, section = tmp_path / "out" / "p.json", tmp_path / "out" / "pipelining.json"
    out.parent.mkdir()
    run = run_script(src, "--out", out, "--section", section, *SMALL,
                     "--archs", "resnet18", "no_such_arch")
    assert run.returncode == 1, run.stderr            # one architecture failed
    assert "pipelining resnet18 (packed_pageable, 3 users)" in run.stdout
    assert "pipelining no_such_arch: failed" in run.stdout and f"-> {out}" in run.stdout
    assert src.read_text() == before                  # a copy is written, not the source
    prof = json.loads(out.read_text())
    validate_profile(prof)
    assert set(prof["pipelining"]["architectures"]) == {"resnet18"}
    assert "no_such_arch" in prof["pipelining"]["failed"]
    assert json.loads(section.read_text()) == prof["pipelining"]
    assert {p.name for p in out.parent.iterdir()} == {"p.json", "pipelining.json"}   # no .tmp


def test_script_leaves_another_device_s_profile_alone(tmp_path):
    section = tmp_path / "pipelining.json"
    before = CPU_PROFILE.read_text()
    run = run_script(CPU_PROFILE, "--out", tmp_path / "p.json", "--section", section, *SMALL)
    assert run.returncode == 0, run.stderr
    assert "is left alone" in run.stdout and not (tmp_path / "p.json").exists()
    assert CPU_PROFILE.read_text() == before
    assert json.loads(section.read_text())["architectures"]["resnet18"]["users"] == 3


@pytest.mark.parametrize("text,message", [
    ("{", "line 1"),
    ('{"schema": "plcore.profile/1"}', "missing 'device'"),
])
def test_script_refuses_a_bad_profile_in_one_line(tmp_path, text, message):
    bad = tmp_path / "bad.json"
    bad.write_text(text)
    run = run_script(bad, "--out", tmp_path / "p.json", *SMALL)
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.startswith("plcore: error: ") and run.stderr.count("\n") == 1
    assert message in run.stderr and "bad.json" in run.stderr
    assert not (tmp_path / "p.json").exists()


def _executable(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o755)


def run_shell_script(tmp_path, *args, out: bool = True):
    """scripts/gpu_pipelining.sh with a stand-in nvidia-smi (an H200) and an interpreter whose
    ``-m pytest`` records its arguments and passes, and which measures on this CPU, small."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _executable(bin_dir / "nvidia-smi", "#!/bin/sh\necho 'NVIDIA H200'\n")
    _executable(bin_dir / "py", f"""#!/bin/bash
if [ "$1 $2" = "-m pytest" ]; then echo "$@" > {tmp_path / "pytest.args"}; exit 0; fi
if [ "$1" = "scripts/measure_pipelining.py" ]; then exec {sys.executable} "$@" {' '.join(SMALL)}; fi
exec {sys.executable} "$@"
""")
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", PY=str(bin_dir / "py"),
               PYTHONPATH=str(ROOT))
    env.pop("OUT", None)
    if out:
        (tmp_path / "out").mkdir()
        env["OUT"] = str(tmp_path / "out")
    return subprocess.run(["bash", "scripts/gpu_pipelining.sh", *map(str, args)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=600)


def test_shell_script_brings_back_a_copy_of_the_profile_with_the_section(tmp_path):
    src = this_cpu_profile(tmp_path)
    before = src.read_text()
    run = run_shell_script(tmp_path, src)
    assert run.returncode == 0, run.stdout + run.stderr
    args = (tmp_path / "pytest.args").read_text().split()
    assert args[:3] == ["-m", "pytest", "tests/test_gpu.py"] and "streamed or pipelin" in " ".join(
        args)
    out = tmp_path / "out"
    assert src.read_text() == before
    prof = json.loads((out / "here.json").read_text())
    validate_profile(prof)
    assert json.loads((out / "pipelining.json").read_text()) == prof["pipelining"]
    log = (out / "gpu_pipelining.log").read_text()
    assert "NVIDIA H200" in log and "pipelining resnet18" in log
    assert "gpu tests exit 0, pipelining exit 0" in log


def test_shell_script_without_out_updates_the_profile_in_place(tmp_path):
    src = this_cpu_profile(tmp_path)
    run = run_shell_script(tmp_path, src, out=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "resnet18" in json.loads(src.read_text())["pipelining"]["architectures"]


def test_shell_script_picks_the_gpu_s_profile_and_leaves_it_alone_on_another_device(tmp_path):
    before = (PROFILES / "nvidia-h200.json").read_text()
    run = run_shell_script(tmp_path)
    assert "data/profiles/nvidia-h200.json was measured on 'NVIDIA H200'" in run.stdout
    assert run.returncode == 0, run.stdout + run.stderr
    assert (PROFILES / "nvidia-h200.json").read_text() == before
    assert not (tmp_path / "out" / "nvidia-h200.json").exists()
    assert "resnet18" in json.loads((tmp_path / "out" / "pipelining.json").read_text())[
        "architectures"]


def test_script_keeps_a_measurement_that_breaks_the_schema_aside(tmp_path, monkeypatch, capsys):
    """A section the schema refuses (a NaN where a number belongs) is kept in OUT.partial, never
    in the profile, and the exit status says so."""
    import importlib.util

    import plcore.gpu.loadtime as lt

    spec = importlib.util.spec_from_file_location("measure_pipelining",
                                                  ROOT / "scripts" / "measure_pipelining.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    section = lt.measure_pipelining("cpu", ("resnet18",), n_users=2, repeats=1, warmup=0,
                                    scale=0.125, progress=lambda *_: None)

    def fake(*args, checkpoint=None, **kwargs):
        bad = json.loads(json.dumps(section))
        bad["architectures"]["resnet18"]["hidden_load_share"] = float("nan")
        checkpoint(bad)
        return bad

    monkeypatch.setattr(lt, "measure_pipelining", fake)
    src, out = this_cpu_profile(tmp_path), tmp_path / "p.json"
    assert script.main([str(src), "--out", str(out), "--device", "cpu"]) == 1
    assert "breaks the profile schema" in capsys.readouterr().out
    assert not out.exists()
    kept = json.loads((tmp_path / "p.json.partial").read_text())
    assert kept["pipelining"]["architectures"]["resnet18"]["users"] == 2
