"""The open-loop load generator (plcore.serving.loadgen) against stub servers on 127.0.0.1.

The stub is a small Open Inference Protocol server written here (aiohttp.web in a thread, port
0). It parses every request strictly and independently of the client's encoder: the binary
extension's header length, each ``binary_data_size`` against the bytes that follow and against
shape x datatype size, JSON tensors' element counts, the exact set of per-request parameters.
It records what it received and when (``time.monotonic``, the client loop's clock), so the
tests check the send times on the server's side too, not only the client's own stamps.
"""

import asyncio
import csv
import gc
import json
import math
import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from plcore.model.instance import save_instance
from plcore.online.catalogue import cluster_catalogue
from plcore.online.workload import generate, write_trace
from plcore.serving import loadgen
from plcore.serving.loadgen import OUTCOMES, add_parser, main, run_loadgen

web = pytest.importorskip("aiohttp.web")

CAT = cluster_catalogue(1, 3)                         # models c0m0, c0m1, c0m2
# Inputs per model as the stub's metadata gives them (a dynamic batch dimension, two inputs).
MODELS = {"c0m0": [("x", [-1, 3, 4], "FP32")],
          "c0m1": [("ids", [2], "INT64"), ("mask", [1, 5], "BOOL")],
          "c0m2": [("img", [1, 2, 2], "FP16")]}
ITEM = {"BOOL": 1, "INT64": 8, "FP16": 2, "FP32": 4}
NUMPY = {"BOOL": "?", "INT64": "<i8", "FP16": "<f2", "FP32": "<f4"}
HLEN = "Inference-Header-Content-Length"
ROOT = Path(__file__).resolve().parents[1]


def served(params):
    return 200, {"status": "served"}


class Stub:
    """A strict stub server in its own thread; ``records`` what it got, ``problems`` what was wrong.

    ``answer(params) -> (http_status, parameters dict | error text)``; ``delay_s`` (a number or
    a dict by model) holds every answer back.
    """

    def __init__(self, models=MODELS, answer=served, delay_s=0.0):
        self.models, self.answer, self.delay_s = models, answer, delay_s
        self.records, self.problems = [], []

    def __enter__(self):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self.loop = asyncio.new_event_loop()
        started = threading.Event()

        async def setup():
            app = web.Application(client_max_size=1 << 24)
            app.add_routes([web.get("/v2/health/ready", self._ready),
                            web.get("/v2/models/{name}", self._metadata),
                            web.post("/v2/models/{name}/infer", self._infer)])
            self.runner = web.AppRunner(app, access_log=None)
            await self.runner.setup()
            await web.SockSite(self.runner, sock).start()
            started.set()

        def serve():
            self.loop.run_until_complete(setup())
            self.loop.run_forever()

        self.thread = threading.Thread(target=serve, daemon=True)
        self.thread.start()
        assert started.wait(10)
        return self

    def __exit__(self, *exc):
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    async def _ready(self, request):
        return web.Response()

    async def _metadata(self, request):
        name = request.match_info["name"]
        if name not in self.models:
            return web.json_response({"error": f"unknown model {name}"}, status=404)
        return web.json_response({
            "name": name, "platform": "stub",
            "inputs": [{"name": n, "shape": s, "datatype": d} for n, s, d in self.models[name]],
            "outputs": [{"name": "y", "shape": [1], "datatype": "FP32"}]})

    def _parse(self, name, headers, body):
        """The request's parameters and tensors (bytes or lists); AssertionError if malformed."""
        specs = self.models[name]
        binary = HLEN in headers
        if binary:
            assert headers["Content-Type"] == "application/octet-stream"
            text = headers[HLEN]
            assert text.isdigit() and 0 < int(text) <= len(body), text
            n = int(text)
            doc = json.loads(body[:n].decode("utf-8"))
            rest = body[n:]
        else:
            assert headers["Content-Type"] == "application/json"
            doc = json.loads(body.decode("utf-8"))
        assert set(doc) == {"inputs", "parameters"}, sorted(doc)
        assert len(doc["inputs"]) == len(specs)
        tensors, offset = [], 0
        for got, (iname, shape, dtype) in zip(doc["inputs"], specs):
            shape = [1 if d == -1 else d for d in shape]
            assert (got["name"], got["shape"], got["datatype"]) == (iname, shape, dtype), got
            size = math.prod(shape) * ITEM[dtype]
            if binary:
                assert set(got) == {"name", "shape", "datatype", "parameters"}, got
                assert got["parameters"] == {"binary_data_size": size}, got
                tensors.append(rest[offset:offset + size])
                offset += size
            else:
                assert set(got) == {"name", "shape", "datatype", "data"}, got
                data = got["data"]
                assert len(data) == math.prod(shape)
                kind = bool if dtype == "BOOL" else int if dtype == "INT64" else float
                assert all(type(v) is kind for v in data), data[:5]
                tensors.append(data)
        if binary:
            assert offset == len(rest), (offset, len(rest))
        params = doc["parameters"]
        keys = {"deadline_s", "user", "channel_gain", "data_bits", "trace_index"}
        assert set(params) == keys | ({"binary_data_output"} if binary else set()), params
        assert type(params["user"]) is int and type(params["trace_index"]) is int
        assert all(type(params[k]) is float for k in ("deadline_s", "channel_gain", "data_bits"))
        if binary:
            assert params["binary_data_output"] is True
        return binary, params, tensors

    async def _infer(self, request):
        t = time.monotonic()
        name = request.match_info["name"]
        body = await request.read()
        try:
            assert name in self.models, name
            binary, params, tensors = self._parse(name, request.headers, body)
        except (AssertionError, ValueError, KeyError, TypeError) as exc:
            self.problems.append(f"{name}: {exc!r}")
            return web.json_response({"error": "malformed request"}, status=400)
        self.records.append({"t": t, "model": name, "binary": binary, "params": params,
                             "tensors": tensors})
        delay = self.delay_s.get(name, 0.0) if isinstance(self.delay_s, dict) else self.delay_s
        if delay:
            await asyncio.sleep(delay)
        status, reply = self.answer(params)
        if 300 <= status < 400:
            return web.Response(status=status, headers={"Location": reply})
        if status != 200:
            return web.json_response({"error": reply}, status=status)
        if binary:                                 # the client asked for binary outputs
            head = json.dumps({"model_name": name, "outputs": [
                {"name": "y", "shape": [1], "datatype": "FP32",
                 "parameters": {"binary_data_size": 4}}], "parameters": reply}).encode()
            return web.Response(body=head + np.float32(0.5).tobytes(),
                                headers={HLEN: str(len(head))},
                                content_type="application/octet-stream")
        return web.json_response({"model_name": name, "outputs": [
            {"name": "y", "shape": [1], "datatype": "FP32", "data": [0.5]}],
            "parameters": reply})


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def cli_args(argv):
    import argparse

    p = argparse.ArgumentParser(prog="plcore")
    add_parser(p.add_subparsers(dest="command"))
    return p.parse_args(["loadgen", *argv])


@pytest.fixture(scope="module")
def catalogue_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("cat") / "catalogue.json"
    save_instance(CAT, path)
    return str(path)


# -- open loop -------------------------------------------------------------------------------

def test_sends_keep_their_times_while_slow_answers_pile_up():
    w = generate(CAT, 150, rate_hz=150.0, seed=3, deadline_s=1.0)
    with Stub(delay_s=0.2) as stub:
        run = run_loadgen(stub.url, w, timeout_s=5.0)
    assert stub.problems == []
    assert run.count("served") == w.n and len(stub.records) == w.n
    # every request names its place in the trace, once
    assert sorted(r["params"]["trace_index"] for r in stub.records) == list(range(w.n))
    err = run.send_error_s
    # Every answer takes 200 ms: a generator that waited for answers would fall behind by
    # seconds. Generous bounds for a shared machine, far below the 200 ms.
    assert err.min() >= -1e-6
    assert np.quantile(err, 0.99) < 0.05 and err.max() < 0.15, np.sort(err)[-5:]
    # The server's side: each request arrived right after its due time on the shared clock.
    due = run.t0_monotonic + run.scheduled_s
    arrived = np.sort([r["t"] for r in stub.records])
    assert np.all(arrived >= np.sort(due) - 1e-6)
    assert np.max(arrived - np.sort(due)) < 0.15
    # The answers did pile up: about 150 req/s x 0.2 s outstanding at once.
    lat = run.latency_s
    assert np.all(lat >= 0.2)
    outstanding = [np.sum((run.sent_s <= t) & (run.answered_s > t)) for t in run.sent_s]
    assert max(outstanding) >= 20


def test_sent_time_is_when_the_request_left_not_when_it_was_due():
    # Two connections, answers in 200 ms: requests wait for a connection, and the record says so
    # (an open-loop tool must show when it could not keep the arrivals).
    w = generate(CAT, 12, rate_hz=100.0, seed=4, deadline_s=5.0)
    with Stub(delay_s=0.2) as stub:
        run = run_loadgen(stub.url, w, timeout_s=5.0, connections=2)
    assert run.count("served") == w.n
    assert run.send_error_s.max() > 0.5
    # sent_s is the moment the server could first see it (the server's clock agrees).
    got = np.sort([r["t"] for r in stub.records]) - run.t0_monotonic
    assert np.all(np.abs(got - np.sort(run.sent_s)) < 0.1)


# -- the record: CSV and summary -------------------------------------------------------------

def rule(params):
    """503 for users = 0 mod 5, 500 for 2 mod 5, late for 1 mod 5, else served."""
    u = params["user"]
    if u % 5 == 0:
        return 503, f"user {u}: deadline unreachable"
    if u % 5 == 2:
        return 500, "boom"
    return 200, {"status": "late" if u % 5 == 1 else "served", "user": u,
                 "queue_s": 0.001 * (u % 3)}


def expected(user):
    return {0: ("rejected", 503), 1: ("late", 200), 2: ("error", 500)}.get(user % 5,
                                                                          ("served", 200))


def test_csv_rows_and_summary(tmp_path):
    w = generate(CAT, 240, rate_hz=400.0, seed=5, deadline_s=0.3)
    out = tmp_path / "run.csv"
    with Stub(answer=rule) as stub:
        run = run_loadgen(stub.url, w, timeout_s=5.0, out=out)
    assert stub.problems == []
    assert os.listdir(tmp_path) == ["run.csv"]           # written to a temporary name, renamed
    with out.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == w.n
    assert list(rows[0])[:10] == ["index", "model", "scheduled_s", "deadline_s", "sent_s",
                                  "answered_s", "status", "outcome", "latency_s", "error"]
    assert {"server_status", "server_user", "server_queue_s"} <= set(rows[0])
    for k, row in enumerate(rows):
        u = int(w.user[k])
        outcome, status = expected(u)
        assert int(row["index"]) == k and row["model"] == w.model_names[w.model[k]]
        assert float(row["scheduled_s"]) == w.arrival_s[k]
        assert float(row["deadline_s"]) == w.deadline_s[k]
        assert (row["outcome"], int(row["status"])) == (outcome, status), (k, u, row)
        sent, answered = float(row["sent_s"]), float(row["answered_s"])
        assert w.arrival_s[k] - 1e-6 <= sent <= answered
        assert float(row["latency_s"]) == pytest.approx(answered - w.arrival_s[k], abs=1e-9)
        if status == 200:
            assert row["server_status"] == outcome and int(row["server_user"]) == u
            assert float(row["server_queue_s"]) == 0.001 * (u % 3) and row["error"] == ""
        else:
            assert row["server_status"] == "" and row["server_user"] == ""
            assert row["error"] == (f"user {u}: deadline unreachable" if status == 503 else "boom")

    # The summary, recomputed from the rows with numpy.
    s = run.summary()
    outcomes = np.array([r["outcome"] for r in rows])
    for name in OUTCOMES:
        assert s[name] == np.sum(outcomes == name)
    assert min(s["served"], s["late"], s["rejected"], s["error"]) > 10
    scheduled = np.array([float(r["scheduled_s"]) for r in rows])
    assert s["goodput_hz"] == pytest.approx(np.sum(outcomes == "served") / scheduled.max())
    assert s["arrival_rate_hz"] == pytest.approx(w.n / scheduled.max())
    lat = np.array([float(r["latency_s"]) for r in rows])[np.isin(outcomes, ["served", "late"])]
    for q in (50, 95, 99):
        # the ceil(q n)-th smallest latency
        assert s[f"latency_p{q}_s"] == pytest.approx(
            np.percentile(lat, q, method="inverted_cdf"), abs=1e-9)
        assert s[f"latency_p{q}_lo_s"] <= s[f"latency_p{q}_s"] <= s[f"latency_p{q}_hi_s"]
    err = np.array([float(r["sent_s"]) - float(r["scheduled_s"]) for r in rows])
    assert s["send_error_p99_s"] == pytest.approx(np.percentile(err, 99, method="inverted_cdf"),
                                                  abs=1e-9)
    assert s["send_error_max_s"] == pytest.approx(err.max(), abs=1e-9)


def test_no_answer_within_the_timeout_is_an_error():
    w = generate(CAT, 30, rate_hz=200.0, seed=6)
    with Stub(delay_s={"c0m1": 1.0}) as stub:
        run = run_loadgen(stub.url, w, timeout_s=0.3)
    slow = w.model == 1
    assert slow.any() and (~slow).any()
    assert np.all(run.outcome[slow] == OUTCOMES.index("error"))
    assert np.all(run.status[slow] == 0) and np.all(np.isnan(run.answered_s[slow]))
    assert {run.error[k] for k in np.flatnonzero(slow)} == {"no answer within 0.3 s"}
    assert run.count("served") == np.sum(~slow)


def test_redirects_are_not_followed():
    # Only the server given is contacted: a 307 elsewhere is an error, and elsewhere gets nothing.
    w = generate(CAT, 8, rate_hz=200.0, seed=10)
    with Stub() as elsewhere:
        with Stub(answer=lambda p: (307, elsewhere.url + "/v2/models/c0m0/infer")) as stub:
            run = run_loadgen(stub.url, w, timeout_s=5.0)
    assert len(stub.records) == w.n and elsewhere.records == elsewhere.problems == []
    assert run.count("error") == w.n and set(run.status.tolist()) == {307}


def test_an_empty_workload_runs(capsys, catalogue_file):
    with Stub() as stub:
        rc = main(cli_args([stub.url, catalogue_file, "--requests", "0"]))
    out, err = capsys.readouterr()
    assert rc == 0 and err == "" and "requests 0:" in out
    assert stub.records == []


class Hangup(Stub):
    """Closes the connection on every inference request (the client sees a disconnect)."""

    async def _infer(self, request):
        request.transport.close()
        return web.Response()


@pytest.fixture
def collections():
    """Monotonic times and collected counts of the garbage collector's passes, as they happen."""
    seen = []

    def spy(phase, info):
        if phase == "stop":
            seen.append((time.monotonic(), info["collected"]))

    gc.callbacks.append(spy)
    yield seen
    gc.callbacks.remove(spy)


def test_no_garbage_collection_pauses_the_run(collections):
    w = generate(CAT, 400, rate_hz=800.0, seed=12)
    with Stub() as stub:
        run = run_loadgen(stub.url, w)
    assert run.count("served") == w.n and gc.isenabled()
    start, end = run.t0_monotonic, run.t0_monotonic + run.scheduled_s.max()
    assert [t for t, _ in collections if start < t < end] == []


def test_cycles_left_by_failing_requests_are_collected(monkeypatch, collections):
    monkeypatch.setattr(loadgen, "_GC_OBJECTS", 2000)
    w = generate(CAT, 400, rate_hz=400.0, seed=13)
    with Hangup() as stub:
        run = run_loadgen(stub.url, w, timeout_s=5.0)
    assert run.count("error") == w.n and gc.isenabled()
    start, end = run.t0_monotonic, run.t0_monotonic + run.scheduled_s.max()
    assert sum(n for t, n in collections if start < t < end) > 1000


# -- bodies ----------------------------------------------------------------------------------

def test_binary_and_json_bodies_follow_the_protocol():
    # Fading (a gain per request) and a range of input sizes: every parameter differs.
    w = generate(CAT, 60, rate_hz=300.0, seed=7, coherence_s=0.05, data_bits=(1e5, 2e6))
    want = Counter(zip(np.asarray(w.model_names)[w.model].tolist(), w.deadline_s.tolist(),
                       w.user.tolist(), w.channel_gain.tolist(), w.data_bits.tolist()))
    sent = {}
    for binary in (True, False):
        with Stub() as stub:
            run = run_loadgen(stub.url, w, binary=binary, timeout_s=5.0, seed=11)
        assert stub.problems == []
        assert run.count("served") == w.n
        assert {r["binary"] for r in stub.records} == {binary}
        got = Counter((r["model"], r["params"]["deadline_s"], r["params"]["user"],
                       r["params"]["channel_gain"], r["params"]["data_bits"])
                      for r in stub.records)
        assert got == want                      # each request's own values, exactly
        # One tensor per model, the same in every request for it.
        per_model = {}
        for r in stub.records:
            per_model.setdefault(r["model"], []).append(r["tensors"])
        for model, ts in per_model.items():
            assert all(t == ts[0] for t in ts[1:]), model
        sent[binary] = {m: ts[0] for m, ts in per_model.items()}
    # JSON tensors hold the same values as the binary ones (same seed).
    for model, tensors in sent[True].items():
        for raw, data, (_, _, dtype) in zip(tensors, sent[False][model], MODELS[model]):
            np.testing.assert_array_equal(np.frombuffer(raw, NUMPY[dtype]),
                                          np.array(data, dtype=NUMPY[dtype]))
    assert len({bytes(t[0]) for t in sent[True].values()}) == len(sent[True])


def test_tensors_follow_the_seed():
    w = generate(CAT, 10, rate_hz=500.0, seed=8, popularity="hot", hot_models=1, hot_share=1.0)

    def tensor(seed):
        with Stub() as stub:
            run_loadgen(stub.url, w, seed=seed)
        return stub.records[0]["tensors"][0]

    first = tensor(1)
    assert tensor(1) == first and tensor(2) != first


# -- errors ----------------------------------------------------------------------------------

def one_error_line(capsys, argv) -> str:
    rc = main(cli_args(argv))
    out, err = capsys.readouterr()
    assert rc == 2 and out == ""
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("plcore: error: "), err
    assert "Traceback" not in err
    return lines[0]


def test_an_unreachable_server_is_one_error_line(capsys, catalogue_file, tmp_path):
    url = closed_port_url()
    out = tmp_path / "run.csv"
    line = one_error_line(capsys, [url, catalogue_file, "--requests", "5", "--out", str(out)])
    assert url in line and "cannot reach" in line
    assert not out.exists() and os.listdir(tmp_path) == []


def test_a_model_the_server_lacks_is_one_error_line(capsys, catalogue_file):
    with Stub(models={k: v for k, v in MODELS.items() if k != "c0m2"}) as stub:
        line = one_error_line(capsys, [stub.url, catalogue_file, "--requests", "50"])
    assert "c0m2" in line and "404" in line and stub.url in line
    assert stub.records == []                 # nothing sent before every model was found


@pytest.mark.parametrize("inputs, words", [
    ([("x", [1, 3], "BYTES")], "inputs[0].datatype: 'BYTES' is not supported"),
    ([("x", [1, "3"], "FP32")], "inputs[0].shape: expected a list of integers"),
    ([("x", [1, -2], "FP32")], "inputs[0].shape: expected a list of integers"),
    ([("x", [1 << 20, 1 << 20], "FP32")], "inputs[0].shape: [1048576, 1048576] has more than"),
    ([], "no 'inputs' list"),
])
def test_metadata_the_client_cannot_use_is_one_error_line(capsys, catalogue_file, inputs, words):
    with Stub(models={**MODELS, "c0m1": inputs}) as stub:
        line = one_error_line(capsys, [stub.url, catalogue_file, "--requests", "30"])
    assert words in line and f"{stub.url}/v2/models/c0m1" in line
    assert stub.records == []


@pytest.mark.parametrize("argv, words", [
    (["--rate", "abc"], "--rate: expected a number, got 'abc'"),
    (["--rate", "nan"], "--rate: must be finite"),
    (["--rate", "-5"], "rate_hz"),
    (["--requests", "1e3"], "--requests: expected an integer"),
    (["--requests", "-1"], "--requests: must be >= 0"),
    (["--requests", "100000000"], "--requests: at most"),
    (["--timeout-s", "0"], "--timeout-s: must be > 0"),
    (["--timeout-s", "inf"], "--timeout-s: must be finite"),
    (["--connections", "0"], "--connections: must be >= 1"),
    (["--seed", "x"], "--seed: expected an integer"),
    (["--deadline-s", "0"], "deadline_s"),
    (["--out", "/nonexistent-folder/run.csv"], "/nonexistent-folder/run.csv"),
])
def test_bad_options_are_one_error_line(capsys, catalogue_file, argv, words):
    line = one_error_line(capsys, [closed_port_url(), catalogue_file, *argv])
    assert words in line


@pytest.mark.parametrize("url", ["ftp://127.0.0.1:1", "127.0.0.1:8000", "http://", "http://h/?q=1"])
def test_bad_urls_are_one_error_line(capsys, catalogue_file, url):
    assert "server address" in one_error_line(capsys, [url, catalogue_file])


def test_a_trace_needs_a_catalogue(capsys, tmp_path):
    trace = tmp_path / "t.csv"
    write_trace(generate(CAT, 3, rate_hz=10.0), trace)
    assert "--catalogue" in one_error_line(capsys, [closed_port_url(), str(trace)])


def test_python_m_replays_a_trace(tmp_path, catalogue_file):
    trace, out = tmp_path / "trace.csv", tmp_path / "run.csv"
    w = generate(CAT, 40, rate_hz=200.0, seed=9)
    write_trace(w, trace)
    with Stub(answer=rule) as stub:
        env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
        proc = subprocess.run([sys.executable, "-m", "plcore.serving.loadgen", stub.url,
                               str(trace), "--catalogue", catalogue_file, "--json",
                               "--out", str(out)], capture_output=True, text=True, timeout=60,
                              env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert "JSON tensors" in proc.stdout and "goodput" in proc.stdout
    assert {r["binary"] for r in stub.records} == {False} and len(stub.records) == w.n
    with out.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["outcome"] for r in rows] == [expected(int(u))[0] for u in w.user]
