"""The backtest's forecast is the weekly job's, with the speed options of analytics.forecast (issue 14: ≤ 5 min)."""

from __future__ import annotations

from dataclasses import replace

from pipelines.backtest import BACKTEST_SPEEDUPS, _weekly_forecast_params
from pipelines.weekly import WEEKLY_FORECAST


def test_backtest_forecast_is_the_weekly_one_with_reselection_and_warm_starts():
    p = _weekly_forecast_params()
    assert p.reselect_every > 1 and p.warm_iters > 0
    assert replace(p, reselect_every=WEEKLY_FORECAST.reselect_every, warm_iters=WEEKLY_FORECAST.warm_iters) \
        == WEEKLY_FORECAST
    assert WEEKLY_FORECAST.reselect_every == 1 and WEEKLY_FORECAST.warm_iters == 0  # the weekly job chooses every week
    assert set(BACKTEST_SPEEDUPS) == {"reselect_every", "warm_iters"}
