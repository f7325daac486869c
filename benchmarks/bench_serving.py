"""The real server's own overhead per request: a cache hit on a no-op model.

    .venv/bin/python benchmarks/bench_serving.py [--requests 2000] [--runs 5] [--json]

The server (plcore.serving's engine and HTTP app, policy ``fifo-cache``) runs in a subprocess with
a device that loads nothing and returns its input (:class:`plcore.serving.engine.NoopDevice`), so
that every millisecond measured is the server's: HTTP parsing, the protocol, the engine's
bookkeeping, the policy, the event pump, the answer. Requests ask for ``data_bits = 0`` (no
emulated upload) and one model, so after the first every request is a cache hit. One client sends
them one after another (closed loop: no queueing) with aiohttp.

Printed per run and as the median of the runs: the round trip of an infer request (P50, P99),
the round trip of ``GET /v2/health/live`` on the same connection (HTTP alone), and the server's
CPU seconds per request (``process_cpu_seconds_total`` from its ``/metrics``, before and after).
Target: a round trip of at most 1 ms at the median. Not part of ``make test``: the numbers depend
on the machine and its load. Writes results/bench/serving.csv.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import subprocess
import sys
import time

import numpy as np


SHAPE = (1, 16)


def serve() -> None:
    """The subprocess: a no-op server on a free port; prints its URL, runs until stdin closes."""
    from plcore import load_instance
    from plcore.online import make_policy
    from plcore.paths import DATA
    from plcore.serving.engine import LiveServer, NoopDevice
    from plcore.serving.protocol import ModelSpec, TensorSpec
    from plcore.serving.server import BackgroundServer

    cat = load_instance(DATA / "instances" / "example.json")
    specs = {m: ModelSpec(m, TensorSpec("input", "FP32", SHAPE),
                          TensorSpec("output", "FP32", SHAPE)) for m in cat.models}
    engine = LiveServer(cat, NoopDevice(), make_policy("fifo-cache"), capacity_bytes=4e8)
    with BackgroundServer(engine, specs) as s:
        print(s.url, flush=True)
        sys.stdin.read()


async def client_run(url: str, n: int) -> dict:
    import aiohttp

    x = np.arange(np.prod(SHAPE), dtype=np.float32)
    head = json.dumps({"inputs": [{"name": "input", "shape": list(SHAPE), "datatype": "FP32",
                                   "parameters": {"binary_data_size": x.nbytes}}],
                       "parameters": {"deadline_s": 10.0, "data_bits": 0,
                                      "binary_data_output": True}}).encode()
    body, headers = head + x.tobytes(), {"Inference-Header-Content-Length": str(len(head))}
    infer, live = [], []
    async with aiohttp.ClientSession() as session:
        async def cpu():
            async with session.get(url + "/metrics") as r:
                text = await r.text()
            return float(re.search(r"^process_cpu_seconds_total (\S+)$", text, re.M).group(1))

        for _ in range(200):                   # warm-up: connection, first load, code paths
            async with session.post(url + "/v2/models/r50-cars/infer", data=body,
                                    headers=headers) as r:
                await r.read()
        c0 = await cpu()
        for _ in range(n):
            t = time.perf_counter()
            async with session.post(url + "/v2/models/r50-cars/infer", data=body,
                                    headers=headers) as r:
                await r.read()
                assert r.status == 200, r.status
            infer.append(time.perf_counter() - t)
        c1 = await cpu()
        for _ in range(n):
            t = time.perf_counter()
            async with session.get(url + "/v2/health/live") as r:
                await r.read()
            live.append(time.perf_counter() - t)
    infer, live = np.array(infer), np.array(live)
    return {"infer_p50_ms": 1e3 * np.median(infer), "infer_p99_ms": 1e3 * np.quantile(infer, .99),
            "live_p50_ms": 1e3 * np.median(live), "server_cpu_ms_per_request": 1e3 * (c1 - c0) / n}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve()
        return 0
    proc = subprocess.Popen([sys.executable, __file__, "--serve"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip()
        rows = []
        for i in range(args.runs):
            row = {"run": i, **asyncio.run(client_run(url, args.requests))}
            rows.append(row)
            print(f"run {i}: infer round trip P50 {row['infer_p50_ms']:.3f} ms, P99 "
                  f"{row['infer_p99_ms']:.3f} ms; health/live P50 {row['live_p50_ms']:.3f} ms; "
                  f"server CPU {row['server_cpu_ms_per_request']:.3f} ms/request")
    finally:
        proc.stdin.close()
        proc.wait(30)
    med = {k: statistics.median(r[k] for r in rows) for k in rows[0] if k != "run"}
    met = med["infer_p50_ms"] <= 1.0
    print(f"median of {len(rows)}: infer round trip P50 {med['infer_p50_ms']:.3f} ms (target "
          f"<= 1 ms: {'met' if met else 'missed'}), P99 {med['infer_p99_ms']:.3f} ms; HTTP alone "
          f"{med['live_p50_ms']:.3f} ms; server CPU {med['server_cpu_ms_per_request']:.3f} "
          "ms/request")
    import pandas as pd

    from plcore.paths import result_dir

    path = result_dir("bench") / "serving.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    print(f"-> {path}")
    if args.json:
        print(json.dumps(med))
    return 0


if __name__ == "__main__":
    sys.exit(main())
