"""plcore: the executable model of PartialLoading (arXiv:2503.22982).

Public API (MODEL.md section 5)::

    Instance.from_dict / Instance.to_dict / load_instance
    min_bandwidth(data_bits, a_hz, t_s)
    evaluate(instance, sequence, partial=True) -> Evaluation
    solve(instance, method, time_limit_s=None, progress=None, **options) -> list[int]
    solve_with_status(...) -> SolveStatus    # the same, saying whether a time limit stopped it

Layout
------
The library is organised in wings, layered so that imports only go down:

============== ===================================================================================
``model``      the system model of MODEL.md: instances and their files, the closed-form
               bandwidth, the ALAP timeline, evaluation, sharing structures, the radio channel
``schedulers`` one module per algorithm (exact, DP, greedy, baselines), admission, upper bounds
``gpu``        torch: the model zoo with shared blocks, the packed loader, the real executor,
               the profiler and the profile schema
``online``     requests arriving over time: workloads, a block cache, a discrete-event server
               simulator and its serving policies
``serving``    the real edge server (Open Inference Protocol over HTTP) and its open-loop load
               generator: the online policies driving the gpu wing's loader and real inference
``study``      what the book's notebooks use: scenarios, synthetic instances, sweeps,
               experiments, statistics, claims, plots, the notebook runner
============== ===================================================================================

Rules (checked by ``tests/test_layout.py``):

* ``model`` imports nothing else of plcore;
* ``schedulers`` imports only ``model``;
* ``gpu`` imports ``model``, and ``schedulers`` only where it runs a schedule;
* ``online`` imports ``model`` and ``schedulers``;
* ``serving`` (the real server and its load generator) imports ``online`` and ``gpu`` below it:
  the policies are the online wing's, never rewritten for the real server;
* ``study`` may import every other wing;
* nothing in plcore imports ``study`` except the command line (``cli``);
* the root modules ``errors`` and ``paths`` import nothing of plcore and any wing may use them;
  this package itself exposes only ``model`` and ``schedulers`` (importing plcore never
  imports torch, pandas or matplotlib).
"""

from .errors import InstanceError, ScheduleError
from .model.bandwidth import min_bandwidth, min_bandwidth_linear, shannon_rate
from .model.evaluate import Evaluation, evaluate
from .model.instance import Instance, load_instance, save_instance
from .schedulers import SOLVERS, SolveStatus, solve, solve_with_status
from .schedulers.limits import TimeLimitWarning

__version__ = "0.1.0"

__all__ = [
    "Instance", "load_instance", "save_instance", "InstanceError", "ScheduleError",
    "min_bandwidth", "min_bandwidth_linear", "shannon_rate",
    "Evaluation", "evaluate", "solve", "solve_with_status", "SolveStatus", "TimeLimitWarning",
    "SOLVERS",
]
