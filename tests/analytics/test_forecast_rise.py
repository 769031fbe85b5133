"""Rise-evidence and covariate features of the forecast: values by hand, no leakage, planted truth, speed options."""

from __future__ import annotations

import math
from dataclasses import replace
from itertools import combinations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from analytics.errors import InvalidInputError
from analytics.forecast import (
    ForecastParams, covariate_matrix, cube_features, feature_names, forecast_next_week, rolling_forecasts,
)
from analytics.forecast_rise import RISE_FEATURES, gi_star, kendall_tau, recent_excess

from tests.analytics.test_forecast import CENTRE, _disk, _ring_of, _rings  # one home for the tiny-grid helpers

FAST = ForecastParams(max_iter=40, train_origins=12, min_train_origins=4, validation_origins=3,
                      min_samples_leaf=20, zero_keep=0.5, model="linear", rise=True)


def _tau(v) -> float:
    pairs = list(combinations(range(len(v)), 2))
    return sum(np.sign(v[j] - v[i]) for i, j in pairs) / len(pairs) if pairs else 0.0


# ---------------------------------------------------------------------------------------------- by hand
def test_kendall_tau_by_hand_and_against_all_pairs():
    x = np.array([[0, 1, 2, 3, 1, 0.0]])
    # window 4 at origin 2: weeks 0..2 only (0, 1, 2): all 3 pairs rise -> 1
    # origin 5: weeks 2..5 (2, 3, 1, 0): pairs +1 -1 -1 -1 -1 -1 -> -4/6
    assert_allclose(kendall_tau(x, np.array([2, 5]), 4), [[1.0, -4 / 6]])
    assert_allclose(kendall_tau(x, np.array([0]), 4), [[0.0]])  # one week: no pair
    rng = np.random.default_rng(1)
    X = rng.poisson(1.0, (20, 35)).astype(float)
    origins = np.arange(35)
    got = kendall_tau(X, origins, 26)
    ref = np.array([[_tau(X[i, max(0, o - 25):o + 1]) for o in origins] for i in range(20)])
    assert_allclose(got, ref, atol=1e-12)


def test_recent_excess_and_gi_star_by_hand():
    cells = _disk(2)  # 19 cells
    d = _ring_of(cells)
    centre = int(np.flatnonzero(d == 0)[0])
    r1 = np.flatnonzero(d == 1)
    ring1, _ = _rings(cells)
    c = np.zeros((len(cells), 12))
    c[centre, [0, 4]] = 1        # weeks before the last 4
    c[r1[0], [9, 10, 11]] = 2    # a ring-1 neighbour: 6 events in the last 4 weeks (8..11)
    o = np.array([11])
    # centre's disk: last 4 weeks 6 events; the 8 weeks before (0..7) had 2 -> expected 4 × 2/8 = 1
    assert_allclose(recent_excess(c, o, ring1, 4, 12)[centre], [6 - 1.0])
    # the same window (12) at origin 5: last 4 weeks (2..5) hold 1; weeks 0..1 hold 1 -> expected 2; excess 0
    assert_allclose(recent_excess(c, np.array([5]), ring1, 4, 12)[centre], [0.0])
    # Gi*: x = 4-week counts (only r1[0] has 6); centre's disk sums 6 over W = 7 cells
    x = np.zeros(len(cells))
    x[r1[0]] = 6.0
    n, W = len(cells), 7.0
    mean, sd = x.mean(), x.std()
    expect = (6.0 - mean * W) / (sd * math.sqrt((n * W - W ** 2) / (n - 1)))
    assert_allclose(gi_star(c, o, ring1, 4)[centre], [expect])
    p = ForecastParams(windows=(1, 4), ring_windows=(1,), kde_sigmas=(1.0,), rise=True)
    f = cube_features(c, o, p, _rings(cells))
    row = dict(zip(f["names"], f["X"][0, centre].astype(np.float64)))
    assert set(RISE_FEATURES) <= set(row)
    assert_allclose(row["gi_w4"], expect, rtol=1e-6)
    assert_allclose(row["rise_excess4"], 6 - 4 * 2 / 8, rtol=1e-6)  # only 8 earlier weeks exist (of 22)
    assert_allclose(row["rise_tau26"], kendall_tau(ring1 @ c, o, 26)[centre], rtol=1e-6)
    quiet = int(np.flatnonzero(d == 2)[0])
    assert dict(zip(f["names"], f["X"][0, quiet]))["gi_w4"] >= 0.0  # local excess only, never negative


def test_rise_can_be_switched_off_and_covariates_are_named_features():
    cells = _disk(1)
    c = np.ones((7, 8))
    p = ForecastParams()
    assert not set(RISE_FEATURES) & set(feature_names(p))  # off by default (see the module docstring)
    cov = pd.DataFrame({"school": [2.0, 1.0], "shop": [0.0, 3.0]}, index=pd.Index(cells[[1, 5]]))
    m = covariate_matrix(cov, cells)
    f = cube_features(c, [6, 7], p, _rings(cells), covariates=m)
    assert f["names"][-2:] == ["cov_school", "cov_shop"]
    assert_allclose(f["X"][1, :, -2], [0, 2, 0, 0, 0, 1, 0])  # absent cells get 0
    assert_allclose(f["X"][0, :, -1], [0, 0, 0, 0, 0, 3, 0])
    with pytest.raises(InvalidInputError, match="covariates"):
        covariate_matrix(cov * -1, cells)
    with pytest.raises(InvalidInputError, match="covariates"):
        covariate_matrix(np.ones((7, 2)), cells)
    with pytest.raises(InvalidInputError, match="rise"):
        ForecastParams(rise=1)
    fc = forecast_next_week(np.random.default_rng(0).poisson(1.0, (7, 20)).astype(float), cells, 19, FAST,
                            covariates=cov)
    assert fc.choices["features"][-2:] == ["cov_school", "cov_shop"]


# ---------------------------------------------------------------------------------------------- leakage
def test_rise_and_covariate_features_use_weeks_up_to_the_origin_only():
    rng = np.random.default_rng(4)
    cells = _disk(3)
    c = rng.poisson(0.5, (len(cells), 40)).astype(float)
    cov = pd.DataFrame({"venue": rng.integers(0, 3, len(cells)).astype(float)}, index=pd.Index(cells))
    origins = [20, 30]
    rings = _rings(cells)
    a = cube_features(c, origins, FAST, rings, covariates=covariate_matrix(cov, cells))
    c2 = c.copy()
    c2[:, 31:] = rng.poisson(4.0, c2[:, 31:].shape)  # every week after the last origin rewritten
    b = cube_features(c2, origins, FAST, rings, covariates=covariate_matrix(cov, cells))
    assert_array_equal(a["X"], b["X"])
    c3 = c.copy()
    c3[:, 21:] = rng.poisson(4.0, c3[:, 21:].shape)  # weeks after the first origin: its row stays the same
    d = cube_features(c3, origins, FAST, rings)
    e = cube_features(c, origins, FAST, rings)
    assert_array_equal(d["X"][0], e["X"][0])
    assert not np.array_equal(d["X"][1], e["X"][1])
    auto = replace(FAST, model="auto", max_iter=15, train_origins=10)
    assert_array_equal(forecast_next_week(c, cells, 30, auto, covariates=cov).expected,
                       forecast_next_week(c2, cells, 30, auto, covariates=cov).expected)


# ---------------------------------------------------------------------------------------------- planted truth
def _rising_grid(seed: int, T: int = 60):
    """SYNTHETIC grid: background 0.05/cell-week; every 6 weeks a new site starts rising (rate +0.25 per week
    for 10 weeks, then back to background), so the past shows what a rise leads to."""
    rng = np.random.default_rng(seed)
    cells = _disk(6)  # 127 cells
    n = len(cells)
    lam = np.full((n, T), 0.05)
    sites = rng.choice(n, size=T // 6 + 1, replace=False)
    for k, s in enumerate(sites[:-1]):
        start = 6 * k
        for j in range(10):
            if start + j < T:
                lam[s, start + j] += 0.25 * (j + 1)
    c = rng.poisson(lam).astype(float)
    return cells, c, lam, sites


def test_a_planted_rising_cell_gets_a_higher_forecast_with_the_rise_features():
    cells, c, lam, sites = _rising_grid(seed=7)
    T = c.shape[1]
    origin = T - 1
    site = int(sites[-1])  # a new site, rising over its last 5 weeks (counts 1..5 planted)
    c[site, :] = 0
    c[site, origin - 4:origin + 1] = [1, 2, 3, 4, 5]
    p = replace(FAST, train_origins=30, zero_keep=1.0)
    with_rise = forecast_next_week(c, cells, origin, p)
    without = forecast_next_week(c, cells, origin, replace(p, rise=False))
    assert with_rise.expected[site] > without.expected[site], (with_rise.expected[site], without.expected[site])
    assert int(np.argmax(with_rise.expected)) == site


# ---------------------------------------------------------------------------------------------- speed options
def test_reselect_every_reuses_the_choice_and_warm_start_stays_close():
    rng = np.random.default_rng(9)
    cells = _disk(4)
    lam = rng.gamma(0.5, 0.6, len(cells))
    c = rng.poisson(lam[:, None], (len(cells), 40)).astype(float)
    auto = replace(FAST, model="auto", max_iter=15, train_origins=10)
    every = rolling_forecasts(c, cells, range(30, 36), auto)
    fast = rolling_forecasts(c, cells, range(30, 36), replace(auto, reselect_every=3, warm_iters=60))
    assert [f.choices["selected_at"] for f in every] == list(range(30, 36))
    assert [f.choices["selected_at"] for f in fast] == [30, 30, 30, 33, 33, 33]
    assert [f.choices["selected"] for f in fast[:3]] == [every[0].choices["selected"]] * 3
    assert_array_equal(fast[0].expected, every[0].expected)  # the first origin: same choice, cold start
    for a, b in zip(every, fast):
        assert np.corrcoef(a.expected, b.expected)[0, 1] > 0.9
    with pytest.raises(InvalidInputError, match="reselect_every"):
        ForecastParams(reselect_every=0)


def test_state_carries_the_speed_options_across_single_origin_calls():
    rng = np.random.default_rng(10)
    cells = _disk(4)
    c = rng.poisson(rng.gamma(0.5, 0.6, len(cells))[:, None], (len(cells), 40)).astype(float)
    p = replace(FAST, model="auto", max_iter=15, train_origins=10, reselect_every=3, warm_iters=60)
    rolled = rolling_forecasts(c, cells, range(30, 36), p)
    state: dict = {}
    single = [forecast_next_week(c, cells, o, p, state=state) for o in range(30, 36)]
    assert [f.choices["selected_at"] for f in single] == [30, 30, 30, 33, 33, 33]
    for a, b in zip(rolled, single):
        assert_allclose(a.expected, b.expected, rtol=1e-9, atol=1e-12)
    assert "beta" in state["warm"] or all(f.choices["model"] != "linear" for f in single)
    independent = forecast_next_week(c, cells, 31, p)  # no state: chosen at its own origin
    assert independent.choices["selected_at"] == 31
