"""Soak: two minutes at twice the server's capacity leave its memory flat and it answering.

    .venv/bin/python benchmarks/bench_serving_soak.py [--minutes 2] [--load 2] [--scale 0.25]

Starts ``plcore serve data/instances/example.json`` (a real process: real block files, arena and
torch inference, ``--threads 1``) on a free port of 127.0.0.1, reads the calibrated capacity from
its requests' answers, then replays open loop (``plcore loadgen``'s engine) a workload at ``--load``
times the whole-model server's rate for ``--minutes``, while sampling the server's
``process_resident_memory_bytes`` and ``plcore_device_arena_bytes`` from ``/metrics`` every
5 seconds. Checked at the end: the resident memory after the first 20 % of the run grew by less
than 10 % by its end, the arena never changed size, the server still answers ``/v2/health/ready``,
and every request got an answer (served, late or a 503 rejection; none lost or 5xx other than
503). Bounded: one server on 127.0.0.1, a fixed number of requests, a time limit. Not part of
``make test`` (minutes of wall time). Writes results/bench/serving_soak.csv (the samples).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import threading
import time
import urllib.request

import numpy as np


def metric(text: str, name: str) -> float:
    return float(re.search(rf"^{name} (\S+)$", text, re.M).group(1))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=2.0)
    ap.add_argument("--load", type=float, default=2.0)
    ap.add_argument("--scale", type=float, default=0.25)
    args = ap.parse_args()

    from plcore import load_instance
    from plcore.online import generate
    from plcore.paths import DATA, result_dir
    from plcore.serving.loadgen import run_loadgen

    example = DATA / "instances" / "example.json"
    proc = subprocess.Popen([sys.executable, "-m", "plcore", "serve", str(example), "--port", "0",
                             "--scale", str(args.scale), "--threads", "1",
                             "--policy", "pl-greedy"],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        line = proc.stderr.readline()
        url = re.search(r"listening on (\S+)", line).group(1)
        # The rate the server sustains: one over the service time (load + inference) that its
        # answers report for a few spaced requests.
        cat = load_instance(example)
        probe = generate(cat, 20, 5.0, seed=1, deadline_s=5.0)
        r = run_loadgen(url, probe)
        infer = np.median([s["infer_s"] + s["load_s"] for s in r.server if s])
        rate = args.load / infer
        n = int(rate * 60 * args.minutes)
        print(f"server at {url}; service {1e3 * infer:.1f} ms a request: {rate:.1f} req/s for "
              f"{args.minutes:g} min ({n} requests, {args.load:g} x capacity)")
        w = generate(cat, n, rate, seed=0, deadline_s=0.5)
        samples, stop = [], threading.Event()

        def sample():
            t0 = time.perf_counter()
            while not stop.wait(5.0):
                text = urllib.request.urlopen(url + "/metrics", timeout=30).read().decode()
                samples.append((time.perf_counter() - t0,
                                metric(text, "process_resident_memory_bytes"),
                                metric(text, "plcore_device_arena_bytes"),
                                metric(text, "plcore_queue_length")))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        result = run_loadgen(url, w, timeout_s=30.0)
        stop.set()
        sampler.join(30)
        ready = urllib.request.urlopen(url + "/v2/health/ready", timeout=10).status == 200
    finally:
        proc.terminate()
        proc.wait(60)
    s = np.array(samples)
    import pandas as pd

    path = result_dir("bench") / "serving_soak.csv"
    pd.DataFrame(s, columns=["t_s", "rss_bytes", "arena_bytes", "queue"]).to_csv(path, index=False)
    warm = s[s[:, 0] >= 0.2 * s[-1, 0]]
    growth = (warm[-1, 1] - warm[0, 1]) / warm[0, 1]
    counts = {o: result.count(o) for o in ("served", "late", "rejected", "error")}
    flat, arena = growth < 0.10, len(set(s[:, 2])) == 1
    print(f"requests: {counts}; resident memory {warm[0, 1] / 1e6:.0f} -> {warm[-1, 1] / 1e6:.0f} "
          f"MB ({100 * growth:+.1f} %, target < +10 %): {'flat' if flat else 'GREW'}; arena "
          f"{s[0, 2] / 1e6:.2f} MB {'constant' if arena else 'CHANGED'}; queue up to "
          f"{int(s[:, 3].max())}; ready at the end: {ready}; server exit {proc.returncode}")
    print(f"-> {path}")
    ok = flat and arena and ready and counts["error"] == 0 and proc.returncode == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
