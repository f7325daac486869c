"""Helpers shared by the benchmarks: CPU and wall time of repeated runs, summarised.

Timings on a shared machine jump between runs, so every figure is a median over ``reps`` runs of
CPU time (``time.process_time``: the time this process computed, whoever else shares the cores)
with its spread, beside the wall-clock median; ratios between methods are taken in one run.
"""

from __future__ import annotations

import statistics
import time


def timed(fn, reps: int = 5) -> tuple[dict, object]:
    """Run ``fn()`` ``reps`` times; return its timings and the last result.

    Returns
    -------
    dict
        ``cpu_s`` (median CPU seconds), ``cpu_min_s``, ``cpu_max_s``, ``wall_s`` (median wall
        seconds) and ``reps``.
    object
        What the last run returned.
    """
    cpu, wall, out = [], [], None
    for _ in range(reps):
        c, w = time.process_time(), time.perf_counter()
        out = fn()
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
    return {"cpu_s": statistics.median(cpu), "cpu_min_s": min(cpu), "cpu_max_s": max(cpu),
            "wall_s": statistics.median(wall), "reps": reps}, out


def machine() -> str:
    """One line naming the interpreter and machine the figures come from."""
    import os
    import platform

    return (f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.python_implementation()} "
            f"{platform.python_version()}")
