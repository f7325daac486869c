"""Online simulator benchmark: CPU seconds of plcore.online.simulate on large workloads.

    .venv/bin/python benchmarks/bench_online.py [--quick]

Targets (CPU seconds by ``time.process_time``, medians of 5 where feasible):

* arrival order with the LRU block cache: one million requests in at most 60 s
  (one run at 10^6, medians of 5 at 10^5);
* rolling-window PartialLoading (greedy): at least 10,000 simulated requests per second with
  about 100 pending requests per window (median of 5 runs of 20,000 requests; the mean number of
  requests per solve is printed).

Event loop. If SimPy is importable, a bare event-loop micro-benchmark (a single-server queue:
arrivals, service completions) is run in SimPy and in a ``heapq`` loop like the simulator's; the
simulator uses the ``heapq`` loop because it is several times cheaper per event (numbers in the
closing notes of ``plcore/online/simulator.py``). SimPy is not a dependency.

Writes results/bench/online.csv. Not part of `make test`: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import heapq
import platform
import statistics
import time

import numpy as np
import pandas as pd

from plcore.online import ArrivalOrder, RollingPL, cluster_catalogue, generate, simulate
from plcore.paths import result_dir


def cpu(fn, reps: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(reps):
        t = time.process_time()
        out = fn()
        times.append(time.process_time() - t)
    return statistics.median(times), out


def fifo_lru(n: int, reps: int) -> dict:
    cat = cluster_catalogue()
    w = generate(cat, n, rate_hz=80.0, seed=0, deadline_s=0.2)
    sec, run = cpu(lambda: simulate(cat, w, ArrivalOrder(), capacity_bytes=4e8), reps)
    return {"case": "fifo-lru", "requests": n, "reps": reps, "cpu_s": sec,
            "requests_per_s": n / sec, "served": run.count("served"), "mean_pending": np.nan}


def rolling_pl(n: int, reps: int) -> dict:
    cat = cluster_catalogue()
    # Overloaded GPU (300 req/s against about 150 it can serve) with 0.5 s deadlines keeps about
    # 100 requests pending at each window; compressed inputs keep the uplink out of the way.
    w = generate(cat, n, rate_hz=300.0, seed=0, deadline_s=0.5, data_bits=1.2e5)
    policies = []

    def one():
        pol = RollingPL(method="greedy")
        policies.append(pol)
        return simulate(cat, w, pol, capacity_bytes=4e8, bandwidth="least")

    sec, run = cpu(one, reps)
    pol = policies[-1]
    return {"case": "rolling-pl-greedy", "requests": n, "reps": reps, "cpu_s": sec,
            "requests_per_s": n / sec, "served": run.count("served"),
            "mean_pending": pol.solved_users / max(pol.solves, 1)}


def event_loops(n: int) -> list[dict]:
    """A single-server queue of n customers in SimPy (if installed) and in a bare heapq loop."""
    rng = np.random.default_rng(0)
    gaps = rng.exponential(1.0, n).tolist()
    service = rng.exponential(0.9, n).tolist()
    rows = []

    def heap_loop():
        heap, seq, busy, queue, t_arr, i, done = [], 0, False, [], 0.0, 0, 0
        t_arr = gaps[0]
        while done < n:
            if i < n and (not heap or t_arr <= heap[0][0]):
                now, i = t_arr, i + 1
                t_arr = now + gaps[i] if i < n else float("inf")
                queue.append(i - 1)
            else:
                now, _, k = heapq.heappop(heap)
                busy, done = False, done + 1
            if not busy and queue:
                k = queue.pop(0)
                seq += 1
                heapq.heappush(heap, (now + service[k], seq, k))
                busy = True

    sec, _ = cpu(heap_loop, 3)
    rows.append({"case": "event-loop-heapq", "requests": n, "reps": 3, "cpu_s": sec,
                 "requests_per_s": n / sec})
    try:
        import simpy
    except ImportError:
        return rows

    def simpy_loop():
        env = simpy.Environment()
        server = simpy.Resource(env, capacity=1)

        def customer(k):
            with server.request() as req:
                yield req
                yield env.timeout(service[k])

        def source():
            for k in range(n):
                yield env.timeout(gaps[k])
                env.process(customer(k))

        env.process(source())
        env.run()

    sec, _ = cpu(simpy_loop, 3)
    rows.append({"case": f"event-loop-simpy-{simpy.__version__}", "requests": n, "reps": 3,
                 "cpu_s": sec, "requests_per_s": n / sec})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="10^5 requests, no 10^6 run")
    args = ap.parse_args()
    rows = [fifo_lru(100_000, 1 if args.quick else 5)]
    if not args.quick:
        rows.append(fifo_lru(1_000_000, 1))
    rows.append(rolling_pl(20_000, 1 if args.quick else 5))
    rows += event_loops(200_000)
    df = pd.DataFrame(rows)
    df["machine"] = f"{platform.machine()} {platform.processor() or ''}".strip()
    out = result_dir("bench") / "online.csv"
    df.to_csv(out, index=False)
    with pd.option_context("display.width", 140, "display.max_columns", 20):
        print(df.drop(columns="machine").round(3).to_string(index=False))
    print(f"\nwritten {out}")
    big = df[(df.case == "fifo-lru") & (df.requests == 1_000_000)]
    if len(big):
        print(f"fifo-lru, 10^6 requests: {big.cpu_s.iloc[0]:.1f} s CPU (target <= 60 s)")
    pl = df[df.case == "rolling-pl-greedy"].iloc[0]
    print(f"rolling PL: {pl.requests_per_s:.0f} req/s at {pl.mean_pending:.0f} pending per "
          "window (target >= 10,000 req/s at about 100)")


if __name__ == "__main__":
    main()
