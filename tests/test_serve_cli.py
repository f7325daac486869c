"""``plcore serve`` as a user runs it: a real process, real block files, real torch inference.

The outputs are checked against the same networks run directly on the CPU (the zoo's modules,
not the server's arena views), with tritonclient.http as the client; SIGTERM must end the process
with exit 0 and no traceback; bad options are one line and exit 2.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import urllib.request

import numpy as np
import pytest

th = pytest.importorskip("tritonclient.http")
torch = pytest.importorskip("torch")

from plcore import load_instance  # noqa: E402
from plcore.gpu.zoo.catalogue import zoo_for_catalogue  # noqa: E402
from plcore.paths import DATA  # noqa: E402

EXAMPLE = DATA / "instances" / "example.json"
SCALE = 0.125
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def start(*options):
    proc = subprocess.Popen([sys.executable, "-m", "plcore", "serve", str(EXAMPLE), "--port", "0",
                             "--scale", str(SCALE), "--threads", "1", *options],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            start_new_session=True)
    line = proc.stderr.readline()
    m = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
    if not m:
        proc.kill()
        raise AssertionError(f"no URL announced: {line!r} {proc.stderr.read()!r}")
    return proc, m.group(1)


@pytest.fixture(scope="module")
def served():
    proc, url = start("--policy", "fifo-cache")
    yield proc, url
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def test_real_inference_matches_the_networks_run_directly(served):
    proc, url = served
    c = th.InferenceServerClient(url.removeprefix("http://"), network_timeout=60)
    zoo = zoo_for_catalogue(load_instance(EXAMPLE), scale=SCALE)
    rng = np.random.default_rng(0)
    for i, model in enumerate(["r50-cars", "r50-birds", "r50-flowers", "r50-cars"]):
        shape = c.get_model_metadata(model)["inputs"][0]["shape"]
        x = rng.standard_normal(shape).astype(np.float32)
        inp = th.InferInput("input", shape, "FP32")
        inp.set_data_from_numpy(x, binary_data=bool(i % 2))
        r = c.infer(model, [inp], parameters={"deadline_s": 30.0})
        with torch.inference_mode():
            want = zoo.module(model)(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(r.as_numpy("output"), want, rtol=1e-4, atol=1e-5)
        assert r.get_response()["parameters"]["status"] == "served"
    metrics = urllib.request.urlopen(url + "/metrics", timeout=30).read().decode()
    arena = float(re.search(r"^plcore_device_arena_bytes (\S+)$", metrics, re.M).group(1))
    capacity = float(re.search(r"^plcore_cache_capacity_bytes (\S+)$", metrics, re.M).group(1))
    assert arena == capacity                # the cache accounts exactly what the arena holds
    # r50-cars again after r50-flowers: its shared stem..layer3 stayed, layer4 and fc came back
    assert float(re.search(r"^plcore_cache_block_hits_total (\S+)$", metrics, re.M).group(1)) > 0


def test_sigterm_exits_0_without_a_traceback(served):
    proc, url = served
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and out == ""


@pytest.mark.parametrize("options,fragment", [
    (["--capacity-gb", "1e-6"], "cannot hold model"),
    (["--scale", "-1"], "--scale"),
    (["--port", "70000"], "--port"),
    (["--device", "cuda"], "no CUDA device"),
])
def test_bad_options_are_one_line(options, fragment):
    if "cuda" in options and torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    r = subprocess.run([sys.executable, "-m", "plcore", "serve", str(EXAMPLE), "--scale",
                        str(SCALE), *options], capture_output=True, text=True, cwd=ROOT,
                       timeout=120)
    assert r.returncode == 2 and r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("plcore: error: ") and fragment in lines[0]


def test_a_missing_catalogue_is_one_line(tmp_path):
    r = subprocess.run([sys.executable, "-m", "plcore", "serve", str(tmp_path / "nope.json")],
                       capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1 and "nope.json" in r.stderr
