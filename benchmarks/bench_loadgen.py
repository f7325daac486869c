"""Load generator benchmark: does ``plcore loadgen`` keep the arrival times at 2,000 requests/s?

    .venv/bin/python benchmarks/bench_loadgen.py [--rate 2000] [--requests 20000] [--runs 5]

A stub Open Inference Protocol server (aiohttp.web, in a subprocess on 127.0.0.1, answering every
inference at once with a small JSON answer) takes a Poisson workload from
:func:`plcore.online.workload.generate`; :func:`plcore.serving.loadgen.run_loadgen` replays it,
open loop, in this process (one event loop, one core). Printed per run and as the median of the
runs: the achieved send rate, the send-time error ``sent - scheduled`` at P50 and P99 and its
maximum, the load generator's CPU seconds per request (``time.process_time``) and the answers.

Target: at least 2,000 requests/s sent with a P99 send-time error of at most 1 ms (median of 5
runs). The stub's inputs are small (FP32 [1, 16]); bigger tensors cost the copy to the socket on
top. Not part of `make test`: the numbers depend on the machine and its load. Send times are
wall-clock facts, so other processes competing for the cores spoil them; each run also prints the
time the load generator spent runnable but waiting for a core (Linux ``/proc/self/schedstat``),
the load average, and the garbage collector's longest pause, which tell a busy machine from a
slow tool. Writes results/bench/loadgen.csv.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time

SHAPE = [1, 16]


def serve(port_file: str) -> None:
    """The stub server: bind 127.0.0.1:0, write the port to ``port_file``, serve until killed."""
    from aiohttp import web

    answer = json.dumps({"model_name": "m", "outputs": [
        {"name": "y", "shape": [1, 2], "datatype": "FP32", "data": [0.0, 1.0]}],
        "parameters": {"status": "served"}}).encode()

    async def infer(request):
        await request.read()
        return web.Response(body=answer, content_type="application/json")

    async def metadata(request):
        return web.json_response({"name": request.match_info["name"], "platform": "stub",
                                  "inputs": [{"name": "x", "datatype": "FP32", "shape": SHAPE}],
                                  "outputs": [{"name": "y", "datatype": "FP32", "shape": [1, 2]}]})

    async def ready(request):
        return web.Response()

    app = web.Application()
    app.add_routes([web.get("/v2/health/ready", ready), web.get("/v2/models/{name}", metadata),
                    web.post("/v2/models/{name}/infer", infer)])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    with open(port_file + ".tmp", "w") as f:
        f.write(str(sock.getsockname()[1]))
    os.replace(port_file + ".tmp", port_file)
    web.run_app(app, sock=sock, print=None, access_log=None, handle_signals=True)


def start_stub(tmp: str) -> tuple[subprocess.Popen, int]:
    port_file = os.path.join(tmp, "port")
    proc = subprocess.Popen([sys.executable, __file__, "--serve", port_file])
    for _ in range(300):
        if os.path.exists(port_file):
            return proc, int(open(port_file).read())
        if proc.poll() is not None:
            raise RuntimeError("the stub server did not start")
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("the stub server did not start within 15 s")


def runqueue_wait_s() -> float:
    """Time this thread has spent runnable, waiting for a core (s); NaN off Linux."""
    try:
        with open("/proc/thread-self/schedstat") as f:
            return int(f.read().split()[1]) * 1e-9
    except (OSError, IndexError, ValueError):
        return float("nan")


class GcPauses:
    """The garbage collector's pauses (wall-clock s) while it is installed."""

    def __init__(self):
        self.pauses, self._t = [], 0.0

    def __call__(self, phase, info):
        if phase == "start":
            self._t = time.perf_counter()
        else:
            self.pauses.append(time.perf_counter() - self._t)

    def __enter__(self):
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc):
        gc.callbacks.remove(self)


def one_run(url: str, n: int, rate: float, seed: int, binary: bool) -> dict:
    from plcore.online.catalogue import cluster_catalogue
    from plcore.online.workload import generate
    from plcore.serving.loadgen import run_loadgen

    w = generate(cluster_catalogue(), n, rate, seed=seed, data_bits=SHAPE[1] * 32)
    waited = runqueue_wait_s()
    with GcPauses() as gcp:
        run = run_loadgen(url, w, binary=binary, timeout_s=30.0)
    waited = runqueue_wait_s() - waited
    s = run.summary(n_boot=200)
    return {"requests": n, "rate_hz": rate, "binary": binary, "seed": seed,
            "runqueue_wait_s": waited, "load_average": os.getloadavg()[0],
            "gc_max_pause_ms": 1e3 * max(gcp.pauses, default=0.0),
            "sent_rate_hz": s["sent_rate_hz"], "send_error_p50_ms": 1e3 * s["send_error_p50_s"],
            "send_error_p99_ms": 1e3 * s["send_error_p99_s"],
            "send_error_max_ms": 1e3 * s["send_error_max_s"],
            "cpu_us_per_request": 1e6 * s["cpu_s"] / n, "wall_s": s["wall_s"],
            "served": s["served"], "error": s["error"],
            "latency_p50_ms": 1e3 * s["latency_p50_s"], "latency_p99_ms": 1e3 * s["latency_p99_s"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=2000.0)
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json", action="store_true", help="JSON tensors (default: binary)")
    ap.add_argument("--serve", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        return serve(args.serve)

    import tempfile

    import pandas as pd

    from plcore.paths import result_dir

    with tempfile.TemporaryDirectory() as tmp:
        proc, port = start_stub(tmp)
        try:
            url = f"http://127.0.0.1:{port}"
            one_run(url, 500, args.rate, 99, not args.json)          # warm-up (imports, pages)
            rows = []
            for r in range(args.runs):
                row = one_run(url, args.requests, args.rate, r, not args.json)
                rows.append(row)
                print(f"run {r}: sent {row['sent_rate_hz']:.0f} req/s, send error P50 "
                      f"{row['send_error_p50_ms']:.3f} ms, P99 {row['send_error_p99_ms']:.3f} ms,"
                      f" max {row['send_error_max_ms']:.2f} ms; {row['cpu_us_per_request']:.0f} "
                      f"us CPU/request; served {row['served']}, errors {row['error']}; waited "
                      f"{row['runqueue_wait_s']:.2f} s for a core, load {row['load_average']:.2f},"
                      f" longest GC pause {row['gc_max_pause_ms']:.1f} ms")
        finally:
            proc.terminate()
            proc.wait(10)
    med = {k: statistics.median(r[k] for r in rows) for k in
           ("sent_rate_hz", "send_error_p50_ms", "send_error_p99_ms", "send_error_max_ms",
            "cpu_us_per_request")}
    ok = med["sent_rate_hz"] >= 0.95 * args.rate and med["send_error_p99_ms"] <= 1.0
    print(f"median of {args.runs}: sent {med['sent_rate_hz']:.0f} req/s (target {args.rate:g}), "
          f"send error P50 {med['send_error_p50_ms']:.3f} ms, P99 {med['send_error_p99_ms']:.3f} ms"
          f" (target <= 1 ms), {med['cpu_us_per_request']:.0f} us CPU/request: "
          f"{'met' if ok else 'MISSED'}")
    df = pd.DataFrame(rows)
    df["machine"] = f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs"
    path = result_dir("bench") / "loadgen.csv"
    df.to_csv(path, index=False)
    print(f"-> {path}")


if __name__ == "__main__":
    main()
