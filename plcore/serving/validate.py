"""The simulator against the real server: the same trace through both, request by request.

``plcore validate-serving`` builds the real server for a catalogue (networks, block files, arena,
calibration: :func:`plcore.serving.cli.build`) in a **process of its own**, so that the load
generator's event loop and the server's never share an interpreter lock. For each policy, offered
load and seed it draws one workload (the simulator's generator), then

* runs it through the real server, open loop over HTTP (:func:`plcore.serving.loadgen.run_loadgen`),
  a fresh engine and an emptied device for each run, and collects the server's own record of
  every request (arrival, dispatch, start, finish, outcome, measured load and inference times);
* simulates it with :func:`plcore.online.simulate` on the **calibrated catalogue** the server
  plans with (this machine's measured times, the arena's block sizes and capacity), at the
  requests' scheduled arrival times;

and compares: the share of requests with the same outcome (served, late, rejected), goodput, and
the P50 and P99 latency of the requests that finished (the server's clock: arrival at the server
to the end of inference). The real run's times are shifted so that its first request arrives when
the trace's does.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import tempfile
import time
from dataclasses import dataclass, field, replace

import numpy as np

from ..model.instance import Instance
from ..online import generate, make_policy, simulate
from ..online.catalogue import whole_server_rate
from ..online.metrics import summary
from ..online.simulator import LATE, REJECTED, SERVED, Run

__all__ = ["validate_serving", "compare", "in_trace_order", "in_service_catalogue",
           "ServerProcess", "TARGETS", "QUICK"]

#: The targets of a comparison at offered loads up to 0.9 (same outcome) and at every load.
TARGETS = {"same_outcome": 0.95, "goodput_rel_err": 0.05, "p50_rel_err": 0.10,
           "p99_rel_err": 0.10}
#: A small version: one seed, fewer requests.
QUICK = {"seeds": (0,), "n_requests": 150}


@dataclass
class RealRun:
    """What the server process sends back after a run."""

    run: Run
    trace_index: np.ndarray          # per server request: its index in the workload (-1: none)
    measured: dict = field(default_factory=dict)   # k -> (load_start, load_end, start, finish)


def _server_main(conn, catalogue_dict: dict, options: dict) -> None:
    """The server process: build once, then serve one fresh engine per run on request."""
    from ..online.policies import make_policy as policy_of
    from .cli import build
    from .engine import LiveServer
    from .server import BackgroundServer

    try:
        with tempfile.TemporaryDirectory(prefix="plcore-validate-") as store:
            engine, specs, to_device = build(Instance.from_dict(catalogue_dict), store=store,
                                             **options)
            conn.send(("ready", engine.catalogue.to_dict(), engine.cache.capacity))
            device = engine.device
            while True:
                msg = conn.recv()
                if msg[0] == "quit":
                    return
                _, policy, eviction, bandwidth = msg
                device.evict(list(device.resident))
                live = LiveServer(engine.catalogue, device, policy_of(policy),
                                  capacity_bytes=engine.cache.capacity, eviction=eviction,
                                  bandwidth=bandwidth)
                with BackgroundServer(live, specs, to_device=to_device) as bg:
                    conn.send(("url", bg.url))
                    conn.recv()                            # "stop": the trace has been replayed
                tags = np.array([-1 if t is None else t for t in live.tags], dtype=np.int64)
                measured = {k: (t.load_start_s, t.load_end_s, t.infer_start_s, t.finish_s)
                            for k, t in live.measured.items()}
                conn.send(("run", RealRun(live.result(), tags, measured)))
    except Exception as exc:   # noqa: BLE001 - reported to the parent as one line
        conn.send(("error", f"{type(exc).__name__}: {exc}"))


class ServerProcess:
    """The real server in a child process (spawned: no state shared with this one).

    Parameters
    ----------
    catalogue : Instance
    **options
        For :func:`plcore.serving.cli.build` (device, scale, capacity_gb, path, threads, ...).

    Attributes
    ----------
    catalogue : Instance
        The calibrated catalogue the server plans with (this device's times).
    capacity_bytes : float
        The arena's capacity.
    """

    def __init__(self, catalogue: Instance, start_timeout_s: float = 600.0, **options):
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_server_main, args=(child, catalogue.to_dict(), options),
                                daemon=True)
        self.proc.start()
        msg = self._recv(start_timeout_s)
        self.catalogue = Instance.from_dict(msg[1])
        self.capacity_bytes = float(msg[2])

    def _recv(self, timeout_s: float):
        if not self._conn.poll(timeout_s):
            self.close()
            raise RuntimeError(f"the server process did not answer within {timeout_s:g} s")
        msg = self._conn.recv()
        if msg[0] == "error":
            self.close()
            raise RuntimeError(f"the server process failed: {msg[1]}")
        return msg

    def run(self, workload, policy: str, *, eviction: str = "lru", bandwidth: str = "equal",
            timeout_s: float = 60.0) -> tuple[RealRun, object]:
        """Replay ``workload`` against a fresh engine under ``policy``; (server record, loadgen)."""
        from .loadgen import run_loadgen

        self._conn.send(("run", policy, eviction, bandwidth))
        url = self._recv(60.0)[1]
        try:
            client = run_loadgen(url, workload, timeout_s=timeout_s)
        finally:
            self._conn.send(("stop",))
        return self._recv(120.0)[1], client

    def close(self) -> None:
        if self.proc.is_alive():
            try:
                self._conn.send(("quit",))
            except OSError:
                pass
            self.proc.join(10)
            if self.proc.is_alive():
                self.proc.kill()
                self.proc.join(5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def in_trace_order(real: RealRun, n: int) -> Run:
    """The server's record as a :class:`Run` indexed like the workload, its clock shifted so that
    the trace's first request arrives at the workload's first arrival time.

    Requests the server never saw (the client could not send them) are rejected with reason
    ``"not-received"``.
    """
    run, idx = real.run, real.trace_index
    if np.any(idx < 0) or np.any(idx >= n) or len(set(idx.tolist())) != len(idx):
        raise ValueError("the server's requests do not map one to one onto the trace")
    order = np.full(n, -1, dtype=np.int64)
    order[idx] = np.arange(len(idx))
    seen = order >= 0
    pick = np.where(seen, order, 0)

    def per(a, fill):
        out = np.asarray(a)[pick].astype(np.asarray(a).dtype, copy=True)
        out[~seen] = fill
        return out

    return replace(run, status=per(run.status, REJECTED),
                   reason=[run.reason[int(j)] if s else "not-received" for j, s in zip(pick, seen)],
                   arrival_s=per(run.arrival_s, math.nan), deadline_s=per(run.deadline_s, math.nan),
                   model=per(run.model, -1), user=per(run.user, -1),
                   upload_s=per(run.upload_s, math.nan), dispatch_s=per(run.dispatch_s, math.nan),
                   start_s=per(run.start_s, math.nan), finish_s=per(run.finish_s, math.nan),
                   end_s=per(run.end_s, math.nan), load_s=per(run.load_s, 0.0),
                   bytes_loaded=per(run.bytes_loaded, 0.0), hits=per(run.hits, 0),
                   accesses=per(run.accesses, 0))


def in_service_catalogue(catalogue: Instance, real: RealRun) -> Instance:
    """``catalogue`` with the times the real run measured while serving, not at calibration.

    Each model's inference time becomes the median of its measured inferences; every block's load
    time is scaled by the ratio of the run's measured to predicted loading (per job, the blocks of
    a job are not timed one by one). Simulating with it separates what the profile got wrong (the
    device slower under serving than when calibrated: contention, cache state) from what the
    model of the server gets wrong (everything else).
    """
    run, measured = real.run, real.measured
    names = list(catalogue.models)
    infer: dict[str, list] = {m: [] for m in names}
    load_real = load_pred = 0.0
    for k, (l0, l1, s0, f) in measured.items():
        infer[names[run.model[k]]].append(f - s0)
        if run.load_s[k] > 0:
            load_real += l1 - l0
            load_pred += run.load_s[k]
    ratio = load_real / load_pred if load_pred > 0 else 1.0
    d = catalogue.to_dict()
    for m, times in infer.items():
        if times:
            d["models"][m]["infer_s"] = max(float(np.median(times)), 1e-12)
    for b in d["blocks"].values():
        b["load_s"] = max(b["load_s"] * ratio, 1e-12)
    return Instance.from_dict(d)


def _shifted(run: Run, dt: float) -> Run:
    """``run`` with every time stamp moved by ``-dt`` (s)."""
    return replace(run, arrival_s=run.arrival_s - dt, deadline_s=run.deadline_s - dt,
                   upload_s=run.upload_s - dt, dispatch_s=run.dispatch_s - dt,
                   start_s=run.start_s - dt, finish_s=run.finish_s - dt, end_s=run.end_s - dt,
                   horizon_s=run.horizon_s - dt)


def compare(sim: Run, real: Run) -> dict:
    """Request-by-request and summary errors between two runs of the same trace.

    Parameters
    ----------
    sim, real : Run
        Indexed alike (request ``i`` of one is request ``i`` of the other); ``real`` on a clock
        whose first arrival is the trace's (:func:`in_trace_order`).

    Returns
    -------
    dict
        ``same_outcome`` (share of requests that ended alike: served, late or rejected),
        ``served_sim``/``served_real``, goodput (served per second of the trace) and the P50 and
        P99 latency of finished requests for both, with relative errors ``*_rel_err``
        (``|real - sim| / sim``).
    """
    n = sim.n
    if real.n != n:
        raise ValueError(f"runs of {sim.n} and {real.n} requests")

    def outcome(st):
        return np.where(st == SERVED, 0, np.where(st == LATE, 1, 2))

    same = float(np.mean(outcome(sim.status) == outcome(real.status))) if n else math.nan
    s, r = summary(sim, n_boot=200), summary(real, n_boot=200)
    out = {"requests": n, "same_outcome": same, "served_sim": s["served"],
           "served_real": r["served"], "late_sim": s["late"], "late_real": r["late"]}
    for key, name in (("goodput_hz", "goodput"), ("latency_p50_s", "p50"),
                      ("latency_p99_s", "p99")):
        out[f"{name}_sim"], out[f"{name}_real"] = s[key], r[key]
        out[f"{name}_rel_err"] = (abs(r[key] - s[key]) / s[key] if s[key] and
                                  math.isfinite(s[key]) else math.nan)
    return out


def validate_serving(catalogue: Instance, *, policies=("fifo-whole", "pl-greedy"),
                     loads=(0.5, 0.9, 1.5), seeds=(0, 1, 2), n_requests: int = 400,
                     deadline_s: float = 0.2, data_bits: float | None = None,
                     eviction: str = "lru", bandwidth: str = "equal", progress: bool = False,
                     **server_options) -> list[dict]:
    """Every (policy, load, seed): the trace through the real server and the simulator, compared.

    Parameters
    ----------
    catalogue : Instance
        What the server serves (an instance file's catalogue; its users are ignored).
    policies, loads, seeds
        Loads in units of the calibrated catalogue's whole-model server rate
        (:func:`plcore.online.catalogue.whole_server_rate`).
    n_requests : int
        Requests per trace.
    deadline_s, data_bits
        The workload's relative deadline (s) and input size (bit; default the generator's).
    **server_options
        For :func:`plcore.serving.cli.build`: ``device``, ``scale``, ``capacity_gb``, ``path``,
        ``cold``, ``threads``, ``seed``.

    Returns
    -------
    list of dict
        One row per run: the run's keys, :func:`compare`'s (the simulator with the calibrated
        times) and the same prefixed ``service_`` (the simulator with the times measured during
        the run, :func:`in_service_catalogue`), the loadgen's send-time error (P99, s) and the
        measured loading share of the real server's device time.
    """
    rows = []
    with ServerProcess(catalogue, **server_options) as server:
        cal = server.catalogue
        rate = whole_server_rate(cal)
        runs = [(p, load, seed) for p in policies for load in loads for seed in seeds]
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(runs), unit="run", leave=False)
        for policy, load, seed in runs:
            options = {} if data_bits is None else {"data_bits": data_bits}
            w = generate(cal, n_requests, load * rate, seed=seed, deadline_s=deadline_s,
                         **options)
            t0 = time.perf_counter()
            real, client = server.run(w, policy, eviction=eviction, bandwidth=bandwidth)
            wall = time.perf_counter() - t0
            sim = simulate(cal, w, make_policy(policy), capacity_bytes=server.capacity_bytes,
                           eviction=eviction, bandwidth=bandwidth)
            ordered = in_trace_order(real, w.n)
            first = int(np.nanargmin(ordered.arrival_s)) if w.n else 0
            ordered = _shifted(ordered, ordered.arrival_s[first] - w.arrival_s[first])
            row = {"policy": policy, "load": load, "seed": seed, "rate_hz": load * rate,
                   **compare(sim, ordered), "wall_s": wall}
            # The same, simulated with the times the real run measured (see in_service_catalogue)
            served_cat = in_service_catalogue(cal, real)
            again = simulate(served_cat, w, make_policy(policy),
                             capacity_bytes=server.capacity_bytes, eviction=eviction,
                             bandwidth=bandwidth)
            row.update({f"service_{k}": v for k, v in compare(again, ordered).items()
                        if k != "requests"})
            send = np.asarray(client.send_error_s)
            row["send_err_p99_s"] = float(np.nanpercentile(send, 99)) if send.size else math.nan
            loads_s = sum(t[1] - t[0] for t in real.measured.values())
            infer_s = sum(t[3] - t[2] for t in real.measured.values())
            row["measured_load_share"] = (loads_s / (loads_s + infer_s)
                                          if loads_s + infer_s > 0 else math.nan)
            rows.append(row)
            if bar is not None:
                bar.update()
        if bar is not None:
            bar.close()
    return rows
