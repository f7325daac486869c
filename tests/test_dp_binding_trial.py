"""The binding-budget trial of dp_vs_exact: its rows against solves made here."""

import pytest

pytest.importorskip("pandas")

import plcore  # noqa: E402
from plcore.study.dp_binding import UNLIMITED_HZ, binding_trial  # noqa: E402
from plcore.study.synthetic import binding_instance  # noqa: E402


@pytest.mark.parametrize("seed", [0, 13])
def test_rows_match_independent_solves(seed):
    df = binding_trial(seed, ("dp", "greedy"))
    inst = binding_instance(seed)
    best = len(plcore.solve(inst, method="exact"))
    free = len(plcore.solve(inst.replace(bandwidth_hz=UNLIMITED_HZ), method="exact"))
    assert list(df.method) == ["dp", "greedy"]
    assert (df.optimum == best).all() and (df.unlimited == free).all()
    assert (df.binds == (best < free)).all() and best <= free
    for method, served in zip(df.method, df.served):
        assert served == len(plcore.solve(inst, method=method)) <= best
    assert df.n_users.iloc[0] == inst.n_users
    assert df.bandwidth_mhz.iloc[0] == pytest.approx(inst.bandwidth_hz / 1e6)
    assert df.resident.iloc[0] == bool(inst.resident)


def test_some_budget_binds():
    binds = [bool(binding_trial(s).binds.iloc[0]) for s in range(10)]
    assert any(binds)
