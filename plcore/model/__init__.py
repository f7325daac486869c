"""The system model of MODEL.md: what an instance is and what a schedule achieves on it.

``instance`` (validated instances) and ``files`` (strict JSON/YAML), ``bandwidth`` (the closed-form
least bandwidth), ``timeline`` (load times, ALAP starts, deadline and budget tests), ``evaluate``
(a schedule's feasibility and throughput), ``sharing`` (bottom-layer trees, unshared copies) and
``radio`` (path loss and noise). This wing imports nothing else of plcore but ``errors``.
"""
