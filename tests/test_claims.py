"""The verdict rule for claimed changes (plcore.study.claims)."""

import pytest

from plcore.study.claims import change_verdict, relative_change_pct, sweep_verdict


@pytest.mark.parametrize("measured, claimed, verdict", [
    (-35.0, -35.0, "reproduced"), (-25.0, -35.0, "reproduced"), (-24.9, -35.0,
     "direction reproduced, size not"), (-46.0, -35.0, "direction reproduced, size not"),
    (3.0, -35.0, "not reproduced"), (0.0, 23.6, "not reproduced"), (30.0, 23.6, "reproduced"),
    (-1.9, -35.0, "not reproduced"), (-2.0, -35.0, "direction reproduced, size not"),
    (100.0, 100 * (2.1 - 1), "reproduced")])      # x2.0 against x2.1: on the bound, not past it
def test_change_verdict(measured, claimed, verdict):
    assert change_verdict(measured, claimed) == verdict


def test_relative_change_refuses_undefined():
    assert relative_change_pct(220, 142) == pytest.approx(-35.4545, abs=1e-3)
    with pytest.raises(ValueError, match="undefined"):
        relative_change_pct(0.0, 1.0)


def test_sweep_verdict_judges_the_fixed_point_not_the_closest():
    # The change runs from -1 % to -60 %; -35 % is met only at 10 users.
    x, before, after = [5, 10, 20], [100.0, 100.0, 100.0], [99.0, 70.0, 40.0]
    v = sweep_verdict(x, before, after, -35.0, at=20)
    assert (v["verdict"], v["x"]) == ("direction reproduced, size not", 20)
    assert v["measured_pct"] == pytest.approx(-60.0)
    assert v["min_pct"] == pytest.approx(-60.0) and v["max_pct"] == pytest.approx(-1.0)
    assert (v["n_points"], v["n_reproduced"], v["n_direction"]) == (3, 1, 2)
    assert sweep_verdict(x, before, after, -35.0, at=10)["verdict"] == "reproduced"
    assert sweep_verdict(x, before, after, -35.0, at=5)["verdict"] == "not reproduced"


def test_sweep_verdict_refuses_a_point_outside_the_sweep():
    with pytest.raises(ValueError, match="empty sweep"):
        sweep_verdict([], [], [], -35.0, at=5)
    with pytest.raises(ValueError, match="not among the swept"):
        sweep_verdict([5, 10], [1.0, 1.0], [1.0, 1.0], -35.0, at=30)
