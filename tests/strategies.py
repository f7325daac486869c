"""Hypothesis strategies shared by the test modules."""

from hypothesis import strategies as st

from plcore.study.synthetic import random_instance


def instances(min_users: int = 1, max_users: int = 7):
    """Random small instances: general or bottom-layer sharing, Shannon or linear rate, budgets
    from binding to ample, per-user or common deadlines."""
    return st.builds(
        random_instance,
        rng=st.integers(0, 2**32 - 1),
        n_users=st.integers(min_users, max_users),
        n_models=st.integers(1, 4),
        structure=st.sampled_from(["general", "bottom"]),
        bandwidth_hz=st.sampled_from([1e6, 3e6, 4e6, 2e7, 1e9, 1e10]),
        rate=st.sampled_from(["shannon", "linear"]),
        common_deadline=st.booleans(),
    )
