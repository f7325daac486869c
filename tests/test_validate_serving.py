"""The real server and the simulator decide alike on a small trace (plcore validate-serving).

A tiny network (width 1/8), a light load and deadlines far from binding, so that the machine's
speed cannot change an outcome: every request must end the same way in both, and the block
cache must make the same decisions request by request (arrival order, LRU: the same hits and the
same bytes loaded). The latency targets are measured by ``plcore validate-serving`` itself, not
here: they depend on the machine.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("aiohttp")

from plcore import load_instance  # noqa: E402
from plcore.online import generate, make_policy, simulate  # noqa: E402
from plcore.online.catalogue import whole_server_rate  # noqa: E402
from plcore.paths import DATA  # noqa: E402
from plcore.serving.validate import ServerProcess, compare, in_trace_order  # noqa: E402


@pytest.fixture(scope="module")
def server():
    with ServerProcess(load_instance(DATA / "instances" / "example.json"), scale=0.125,
                       threads=1) as s:
        yield s


@pytest.mark.parametrize("policy", ["fifo-cache", "fifo-whole"])
def test_real_and_simulated_decisions_agree(server, policy):
    cal = server.catalogue
    w = generate(cal, 100, 0.3 * whole_server_rate(cal), seed=5, deadline_s=5.0)
    real, client = server.run(w, policy)
    sim = simulate(cal, w, make_policy(policy), capacity_bytes=server.capacity_bytes)
    ordered = in_trace_order(real, w.n)
    assert client.count("error") == 0
    c = compare(sim, ordered)
    assert c["same_outcome"] == 1.0 and c["served_real"] == w.n
    same_order = np.argsort(ordered.dispatch_s, kind="stable")
    assert np.array_equal(same_order, np.argsort(sim.dispatch_s, kind="stable"))
    assert np.array_equal(ordered.hits, sim.hits)
    assert np.array_equal(ordered.bytes_loaded, sim.bytes_loaded)
