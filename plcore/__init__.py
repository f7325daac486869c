"""plcore: the executable model of PartialLoading (arXiv:2503.22982).

Public API (MODEL.md section 5)::

    Instance.from_dict / Instance.to_dict / load_instance
    min_bandwidth(data_bits, a_hz, t_s)
    evaluate(instance, sequence, partial=True) -> Evaluation
    solve(instance, method, **options) -> list[int]
"""

from .bandwidth import min_bandwidth, min_bandwidth_linear, shannon_rate
from .errors import InstanceError, ScheduleError
from .evaluate import Evaluation, evaluate
from .instance import Instance, load_instance, save_instance
from .schedulers import SOLVERS, solve

__version__ = "0.1.0"

__all__ = [
    "Instance", "load_instance", "save_instance", "InstanceError", "ScheduleError",
    "min_bandwidth", "min_bandwidth_linear", "shannon_rate",
    "Evaluation", "evaluate", "solve", "SOLVERS",
]
