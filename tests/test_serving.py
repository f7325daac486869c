"""The edge server over HTTP, checked with an unmodified client (tritonclient.http).

The server here runs the real engine (the simulator's state machine on the wall clock, the
online policies, the block cache, the emulated uplink) in front of devices that do no torch work:
``NoopDevice`` (answers at once, the output is the input) and ``SlowDevice`` (inference takes a
set time), so that the protocol, the faults and draining are tested in seconds. Real loading and
inference are tested in tests/test_serve_cli.py.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

th = pytest.importorskip("tritonclient.http")
from tritonclient.utils import InferenceServerException  # noqa: E402

from plcore import load_instance  # noqa: E402
from plcore.online import make_policy  # noqa: E402
from plcore.paths import DATA  # noqa: E402
from plcore.serving.engine import LiveServer, NoopDevice  # noqa: E402
from plcore.serving.protocol import ModelSpec, TensorSpec  # noqa: E402
from plcore.serving.server import BackgroundServer  # noqa: E402

CATALOGUE = load_instance(DATA / "instances" / "example.json")
SHAPE = (1, 8)
SPECS = {m: ModelSpec(m, TensorSpec("input", "FP32", SHAPE), TensorSpec("output", "FP32", SHAPE))
         for m in CATALOGUE.models}
MODEL = "r50-cars"


class SlowDevice(NoopDevice):
    """Inference takes ``infer_s`` of wall time."""

    def __init__(self, infer_s: float):
        self.infer_s = infer_s

    def infer(self, model, x):
        time.sleep(self.infer_s)
        return x, self.infer_s


def server(device=None, policy="fifo-cache", **options):
    engine = LiveServer(CATALOGUE, device or NoopDevice(), make_policy(policy),
                        capacity_bytes=4e8)
    return BackgroundServer(engine, SPECS, **options)


def client(url):
    return th.InferenceServerClient(url.removeprefix("http://"), network_timeout=30)


def infer_input(x, binary=True):
    inp = th.InferInput("input", list(x.shape), "FP32")
    inp.set_data_from_numpy(x, binary_data=binary)
    return inp


def raw(url, path, body=None, headers=None, method=None):
    """status, parsed JSON body (urllib: a client that is not tritonclient)."""
    req = urllib.request.Request(url + path, data=body, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


@pytest.fixture(scope="module")
def running():
    with server(max_body_bytes=200_000) as s:
        yield s


def test_health_and_metadata(running):
    c = client(running.url)
    assert c.is_server_live() and c.is_server_ready()
    assert c.is_model_ready(MODEL)
    md = c.get_model_metadata(MODEL)
    assert md["name"] == MODEL
    assert md["inputs"] == [{"name": "input", "datatype": "FP32", "shape": list(SHAPE)}]
    assert c.get_server_metadata()["name"] == "plcore"
    assert c.get_model_metadata(MODEL, model_version="1")["name"] == MODEL


@pytest.mark.parametrize("binary_in,binary_out", [(True, True), (False, False), (True, False),
                                                  (False, True)])
def test_infer_json_and_binary(running, binary_in, binary_out):
    x = np.random.default_rng(1).standard_normal(SHAPE).astype(np.float32)
    r = client(running.url).infer(MODEL, [infer_input(x, binary_in)],
                                  outputs=[th.InferRequestedOutput("output",
                                                                   binary_data=binary_out)],
                                  parameters={"deadline_s": 1.0, "user": 7,
                                              "channel_gain": 1e-10})
    assert np.array_equal(r.as_numpy("output"), x)      # the no-op model returns its input
    p = r.get_response()["parameters"]
    assert p["status"] == "served"
    assert 0 <= p["upload_s"] <= p["latency_s"] < 1.0


def expect_error(fn, status):
    with pytest.raises(InferenceServerException) as info:
        fn()
    assert info.value.status() == str(status), info.value
    assert "Traceback" not in str(info.value)
    return str(info.value)


def test_faults_answer_with_the_right_status(running):
    c = client(running.url)
    x = np.zeros(SHAPE, np.float32)
    assert "unknown model" in expect_error(lambda: c.infer("nope", [infer_input(x)]), 404)
    expect_error(lambda: c.get_model_metadata("nope"), 404)
    expect_error(lambda: c.get_model_metadata(MODEL, model_version="9"), 404)
    wrong = np.zeros((1, 9), np.float32)
    assert "shape" in expect_error(lambda: c.infer(MODEL, [infer_input(wrong)]), 400)
    inp = th.InferInput("input", list(SHAPE), "FP64")
    inp.set_data_from_numpy(x.astype(np.float64))
    assert "datatype" in expect_error(lambda: c.infer(MODEL, [inp]), 400)
    msg = expect_error(lambda: c.infer(MODEL, [infer_input(x)],
                                       parameters={"deadline_s": 1e-9}), 503)
    assert "unreachable" in msg
    assert "parameters.deadline_s" in expect_error(
        lambda: c.infer(MODEL, [infer_input(x)], parameters={"deadline_s": -1.0}), 400)


@pytest.mark.parametrize("path,body,status", [
    ("/v2/models/r50-cars/infer", b"{not json", 400),
    ("/v2/models/r50-cars/infer", b"x" * 300_000, 413),
    ("/v2/nothing-here", None, 404),
    ("/v2/models/r50-cars/infer", None, 405),
])
def test_other_clients_get_json_errors(running, path, body, status):
    code, text = raw(running.url, path, body, method="POST" if body is not None else None)
    assert code == status
    err = json.loads(text)
    assert set(err) == {"error"} and "Traceback" not in err["error"]


def test_metrics_count_requests_by_status():
    from prometheus_client.parser import text_string_to_metric_families

    with server() as s:
        c = client(s.url)
        x = np.zeros(SHAPE, np.float32)
        for deadline in (1.0, 1.0, 1e-9):
            try:
                c.infer(MODEL, [infer_input(x)], parameters={"deadline_s": deadline})
            except InferenceServerException:
                pass
        code, text = raw(s.url, "/metrics")
    assert code == 200
    samples = {(smp.name, tuple(sorted(smp.labels.items()))): smp.value
               for m in text_string_to_metric_families(text.decode())
               for smp in m.samples}
    assert samples[("plcore_requests_total", (("status", "served"),))] == 2
    assert samples[("plcore_requests_total", (("status", "rejected"),))] == 1
    assert samples[("plcore_request_latency_seconds_count", ())] == 2
    assert samples[("plcore_cache_block_hits_total", ())] == 6          # the second request: 6 of 6
    model_bytes = sum(CATALOGUE.blocks[b].bytes for b in CATALOGUE.models[MODEL].blocks)
    assert samples[("plcore_loaded_bytes_total", ())] == model_bytes
    assert samples[("plcore_queue_length", ())] == 0


def test_sigterm_drains_the_requests_in_flight():
    """Stop while one request runs: it is answered 200, a later one 503, and the exit is 0."""
    s = server(SlowDevice(0.5)).__enter__()
    x = np.ones(SHAPE, np.float32)
    answers = {}

    def send(name):
        c = client(s.url)         # a client per thread: tritonclient's is gevent-based
        try:
            answers[name] = c.infer(MODEL, [infer_input(x)], parameters={"deadline_s": 5.0}) \
                .get_response()["parameters"]["status"]
        except InferenceServerException as exc:
            answers[name] = exc.status()

    first = threading.Thread(target=send, args=("first",))
    first.start()
    time.sleep(0.2)                           # the first is on the "GPU" now
    stopper = threading.Thread(target=s.stop)
    stopper.start()
    time.sleep(0.1)
    send("second")                            # the server is draining: refused
    first.join(10)
    stopper.join(10)
    assert answers == {"first": "served", "second": "503"}
    assert s.returncode == 0


@pytest.mark.parametrize("policy", ["fifo-cache", "fifo-whole", "pl-greedy"])
def test_queued_requests_run_after_their_loads(policy):
    """Requests that wait in the queue have their data in at dispatch: the device must still get
    each job's loads before its inference (a regression: the inference was queued first)."""
    engine = LiveServer(CATALOGUE, SlowDevice(0.02), make_policy(policy), capacity_bytes=4e8)
    answers = []

    def send(model):
        c = client(s.url)
        r = c.infer(model, [infer_input(np.ones(SHAPE, np.float32))],
                    parameters={"deadline_s": 10.0})
        answers.append(r.get_response()["parameters"]["status"])

    with BackgroundServer(engine, SPECS) as s:
        threads = [threading.Thread(target=send, args=(m,))
                   for m in ["r50-cars", "r50-flowers", "r50-birds", "r50-cars", "r50-pets"] * 2]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert engine.errors == [] and answers == ["served"] * 10
    # every dispatch found its data in except (perhaps) the first: the case above
    assert np.sum(np.asarray(engine.upload_s) <= np.asarray(engine.dispatch_s)) >= 5
