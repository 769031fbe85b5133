"""Power (issue 15, item 4): a root search over falls of 0.1 %–95 %, and the weeks needed for a stated fall.

Values are worked by hand with the normal approximation on Poisson counts:
Var(log RR) = 1/(λ n_pre) + 1/(λ (1+e) n_post); 80 % power at α = 0.05 when
|log(1+e)| / SE = z_0.975 + z_0.8 = 1.959964 + 0.841621 = 2.801585 (the far tail is < 1e-6).
"""

from __future__ import annotations

import math

import pytest

from analytics.errors import InvalidInputError
from analytics.evaluation import MAX_DETECTABLE_FALL, minimum_detectable_effect, power_for_effect, weeks_needed

ZZ = 1.959964 + 0.841621


def _ratio(e, lam, pre, post):
    return abs(math.log1p(e)) / math.sqrt(1 / (lam * pre) + 1 / (lam * (1 + e) * post))


def test_quiet_target_gets_a_detectable_fall_not_a_dash():
    # issue 15: 1.28 events a week, 104 weeks before, 26 after. By hand at e = -0.5256:
    # log(0.4744) = -0.7457; Var = 1/133.12 + 1/(1.28 * 0.4744 * 26) = 0.007512 + 0.06334 = 0.07085;
    # SE = 0.2662; 0.7457 / 0.2662 = 2.801 -> 80 % power.
    e = minimum_detectable_effect(1.28, 104, 26)
    assert e == pytest.approx(-0.5256, abs=5e-4)
    assert _ratio(e, 1.28, 104, 26) == pytest.approx(ZZ, rel=1e-4)
    # the old search started at -99 %, where the variance explodes and power is below 80 %:
    assert power_for_effect(-0.99, 1.28, 104, 26) < 0.8
    # just below the MDE power falls short, just above it is reached
    assert power_for_effect(e + 0.01, 1.28, 104, 26) < 0.8 < power_for_effect(e - 0.01, 1.28, 104, 26)


def test_busy_target_by_hand():
    # 20 a week, 52 before, 16 after; at e = -0.1756: log(0.8244) = -0.1931;
    # Var = 1/1040 + 1/(20 * 0.8244 * 16) = 0.000962 + 0.003791; SE = 0.06894; ratio 2.801.
    e = minimum_detectable_effect(20, 52, 16)
    assert e == pytest.approx(-0.1756, abs=5e-4)
    assert _ratio(e, 20, 52, 16) == pytest.approx(ZZ, rel=1e-4)
    assert minimum_detectable_effect(20, 52, 16, control_per_week=400) < e   # a control's noise costs power
    assert minimum_detectable_effect(20, 52, 16, dispersion=2.0) < e         # over-dispersion costs power


def test_too_quiet_target_says_no_fall_up_to_95_percent_is_detectable():
    # 0.3 a week, 52 + 16 weeks: even the best fall in range stays below 80 % power
    assert math.isnan(minimum_detectable_effect(0.3, 52, 16))
    best = max(power_for_effect(-f / 100, 0.3, 52, 16) for f in range(1, int(MAX_DETECTABLE_FALL * 100) + 1))
    assert best < 0.8


def test_weeks_needed_for_a_stated_fall():
    # 20 % fall at 20 a week with 52 weeks before: 12 post weeks reach 80 %, 11 do not
    n = weeks_needed(-0.20, 20, 52)
    assert n == 12
    assert power_for_effect(-0.20, 20, 52, n) >= 0.8 > power_for_effect(-0.20, 20, 52, n - 1)
    # a quiet target needs far longer; a very quiet one with a short history never gets there
    assert weeks_needed(-0.50, 1.28, 52) == 34
    assert weeks_needed(-0.20, 0.3, 26) is None
    with pytest.raises(InvalidInputError):
        weeks_needed(0.2, 20, 52)
