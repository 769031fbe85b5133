"""Forecast of next week's events per cell: features by hand, no leakage, planted truth, determinism."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import h3
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from analytics import grid
from analytics.errors import InvalidInputError
from analytics.forecast import (
    ForecastParams, cube_features, expected_capture, feature_names, forecast_next_week, poisson_interval,
    rolling_forecasts,
)
from analytics.forecast_eval import (
    BASELINES, backtest_forecast, baseline_scores, forecast_vs_best, sizes_for, summarise_backtest,
)

CENTRE = h3.str_to_int(h3.latlng_to_cell(-33.87, 151.21, 9))
#: Small and fast: few trees, few training origins (the defaults are for real cubes).
FAST = ForecastParams(max_iter=40, train_origins=12, min_train_origins=4, validation_origins=3,
                      min_samples_leaf=20, zero_keep=0.5, model="linear")


def _disk(k: int) -> np.ndarray:
    return np.array(sorted(h3.str_to_int(c) for c in h3.grid_disk(h3.int_to_str(CENTRE), k)), dtype=np.uint64)


def _ring_of(cells: np.ndarray) -> np.ndarray:
    return np.array([h3.grid_distance(h3.int_to_str(CENTRE), h3.int_to_str(int(c))) for c in cells])


def _rings(cells):
    return grid.neighbour_matrix(cells, 1), grid.neighbour_matrix(cells, 2)


# ---------------------------------------------------------------------------------------------- features
def test_features_by_hand_on_a_tiny_grid():
    cells = _disk(3)  # 37 cells
    d = _ring_of(cells)
    centre = int(np.flatnonzero(d == 0)[0])
    r1 = np.flatnonzero(d == 1)
    r2 = np.flatnonzero(d == 2)
    T = 10
    c = np.zeros((len(cells), T))
    c[centre, [2, 7, 9]] = [1, 2, 1]          # the cell itself
    c[r1[0], 9] = 3                            # a ring-1 neighbour, last week
    c[r1[1], 8] = 1                            # another, the week before
    c[r2[0], 5] = 4                            # a ring-2 cell
    params = ForecastParams(windows=(1, 4, 13), half_lives=(4.0,), ring_windows=(1, 13), kde_sigmas=(1.0,))
    f = cube_features(c, [9], params, _rings(cells))
    names = f["names"]
    x = dict(zip(names, f["X"][0, centre].astype(np.float64)))
    assert names == feature_names(params)
    assert_allclose(x["own_w1"], 1.0)                  # 1 event in week 9
    assert_allclose(x["own_w4"], 3 / 4)                # weeks 6-9: 2 + 1
    assert_allclose(x["own_w13"], 4 / 10)              # only 10 weeks exist: 4 events / 10 weeks
    r = 0.5 ** (1 / 4)
    num = 1 * r ** 7 + 2 * r ** 2 + 1
    den = sum(r ** k for k in range(10))
    assert_allclose(x["decay_h4"], num / den, rtol=1e-6)
    assert_allclose(x["ring1_w1"], 3.0)                # ring 1 only, the cell excluded
    assert_allclose(x["ring1_w13"], 4 / 10)
    assert_allclose(x["ring2_w1"], 0.0)
    assert_allclose(x["ring2_w13"], 4 / 10)
    assert_allclose(x["near_repeat_1w"], 1 + 3)        # ring 1 incl. the cell, last week
    assert_allclose(x["near_repeat_2w"], 1 + 3 + 1)    # ... last two weeks
    assert_allclose(x["weeks_since_event"], 0.0)
    assert_allclose(x["area_w4"], (3 + 3 + 1) / 4 / len(cells), rtol=1e-6)
    # the ring-2 cell: its own history and weeks since its event
    y = dict(zip(names, f["X"][0, r2[0]].astype(np.float64)))
    assert_allclose(y["own_w13"], 4 / 10)
    assert_allclose(y["weeks_since_event"], 4.0)
    # KDE with σ = 1 ring over the 52-week (here 10-week) rate: c + e^-1/2 ring1 + e^-2 ring2
    kde = f["kde"][0, 0, centre]
    expect = (4 + math.exp(-0.5) * 4 + math.exp(-2) * 4) / 10
    assert_allclose(kde, expect, rtol=1e-5)


def test_exposure_is_a_feature_and_validated():
    cells = _disk(1)
    c = np.ones((7, 6))
    f = cube_features(c, [5], ForecastParams(), _rings(cells), exposure=np.arange(7.0))
    assert f["names"][-1] == "exposure"
    assert_allclose(f["X"][0, :, -1], np.arange(7.0))
    with pytest.raises(InvalidInputError, match="exposure"):
        cube_features(c, [5], ForecastParams(), _rings(cells), exposure=np.ones(3))
    with pytest.raises(InvalidInputError, match="exposure"):
        cube_features(c, [5], ForecastParams(), _rings(cells), exposure=-np.ones(7))


# ---------------------------------------------------------------------------------------------- leakage
def test_no_leakage_from_the_target_week():
    rng = np.random.default_rng(3)
    cells = _disk(4)
    c = rng.poisson(0.3, (len(cells), 30)).astype(float)
    origin = 24
    a = forecast_next_week(c, cells, origin, FAST)
    fa = cube_features(c, [origin], FAST, _rings(cells))
    c2 = c.copy()
    c2[:, origin + 1:] = rng.poisson(3.0, c2[:, origin + 1:].shape)  # rewrite the target week and after
    b = forecast_next_week(c2, cells, origin, FAST)
    fb = cube_features(c2, [origin], FAST, _rings(cells))
    assert_array_equal(fa["X"], fb["X"])
    assert_array_equal(fa["kde"], fb["kde"])
    assert_array_equal(a.expected, b.expected)
    auto = replace(FAST, model="auto", max_iter=15, train_origins=10)  # the model choice sees no target either
    assert_array_equal(forecast_next_week(c, cells, origin, auto).expected,
                       forecast_next_week(c2, cells, origin, auto).expected)
    # while a change in a week that was known does change the forecast
    c3 = c.copy()
    c3[0, origin] += 5
    assert not np.array_equal(forecast_next_week(c3, cells, origin, FAST).expected, a.expected)


# ---------------------------------------------------------------------------------------------- planted truth
def _hawkes_grid(seed: int, T: int = 48):
    """SYNTHETIC grid: background 0.03/cell-week, a persistent site (1.5/week), near-repeat excitation
    (each event adds 0.3 expected events next week in its cell and 0.05 in each ring-1 cell: 0.6 in all)."""
    rng = np.random.default_rng(seed)
    cells = _disk(7)  # 169 cells
    n = len(cells)
    ring1, _ = _rings(cells)
    d = _ring_of(cells)
    persistent = int(np.flatnonzero(d == 0)[0])
    mu = np.full(n, 0.03)
    mu[persistent] = 1.5
    c = np.zeros((n, T))
    for t in range(T):
        lam = mu + (0.3 * c[:, t - 1] + 0.05 * (ring1 @ c[:, t - 1] - c[:, t - 1]) if t else 0.0)
        c[:, t] = rng.poisson(lam)
    return cells, c, persistent, d


def test_recovers_a_persistent_and_a_self_exciting_site():
    cells, c, persistent, d = _hawkes_grid(seed=5)
    # plant a burst last week at a quiet cell 5 rings away: the self-exciting site
    quiet = np.flatnonzero(d == 5)
    site = int(quiet[np.argmin(c[quiet].sum(1))])
    origin = c.shape[1] - 1
    c[site, origin] = 4
    fc = forecast_next_week(c, cells, origin, replace(FAST, train_origins=24))
    top = np.argsort(-fc.expected, kind="stable")[:3]
    assert persistent in top, (fc.expected[persistent], np.sort(fc.expected)[-5:])
    assert site in top, (fc.expected[site], np.sort(fc.expected)[-5:])
    assert fc.expected_low[persistent] <= fc.expected[persistent] <= fc.expected_high[persistent]
    assert set(fc.choices) >= {"model", "kde_sigma_rings", "train_origins", "interval"}


def test_beats_last_weeks_counts_on_a_planted_intensity_grid():
    rng = np.random.default_rng(11)
    cells = _disk(8)  # 217 cells
    lam = rng.gamma(0.3, 0.5, len(cells))  # stable, heterogeneous intensities
    c = rng.poisson(lam[:, None], (len(cells), 36)).astype(float)
    per_origin, choices = backtest_forecast(c, cells, range(26, 34), FAST, sizes=[("5 %", 11), ("10 %", 22)])
    caught = per_origin.groupby("method")["n"].sum()
    assert caught["forecast"] > 1.1 * caught["last_week"], caught.to_dict()
    assert len(choices) == 8 and all(ch["train_origins"] >= 4 for ch in choices)


def test_deterministic_with_seed():
    cells, c, _, _ = _hawkes_grid(seed=2, T=24)
    auto = replace(FAST, seed=7, model="auto", max_iter=15, train_origins=8)
    a = forecast_next_week(c, cells, 22, auto)
    r = rolling_forecasts(c, cells, [21, 22], auto)  # features computed once: the same forecast
    assert_array_equal(r[1].expected, a.expected)
    assert r[1].choices == a.choices
    h = [forecast_next_week(c, cells, 22, replace(FAST, seed=3, model="hgb", max_iter=15)).expected
         for _ in range(2)]
    assert_array_equal(h[0], h[1])


# ---------------------------------------------------------------------------------------------- pieces
def test_expected_capture_is_the_mean_over_random_tie_orders():
    scores = np.array([5.0, 2, 2, 2, 1, 1, 0])
    outcome = np.array([1.0, 0, 3, 1, 2, 0, 4])
    for m in range(1, 8):
        brute = []
        for perm in itertools.permutations(range(7)):
            order = sorted(range(7), key=lambda i: (-scores[i], perm[i]))
            brute.append(outcome[order[:m]].sum())
        assert_allclose(expected_capture(scores, outcome, m), np.mean(brute), rtol=1e-12)
    assert expected_capture(scores, outcome, 0) == 0.0


def test_poisson_interval():
    lo, hi = poisson_interval(np.array([0.0, 0.2, 3.0, 40.0]), 0.9)
    assert_array_equal(lo[:2], [0, 0])
    assert np.all(lo <= np.array([0.0, 0.2, 3.0, 40.0])) and np.all(hi >= np.array([0, 0, 3, 40]))
    assert hi[3] - lo[3] > hi[2] - lo[2]


@pytest.mark.parametrize("bad", [
    {"windows": ()}, {"windows": (0, 4)}, {"half_lives": (-1.0,)}, {"kde_sigmas": (0.0,)},
    {"zero_keep": 0.0}, {"zero_keep": 1.5}, {"model": "forest"}, {"level": 1.0}, {"train_origins": 0},
    {"min_train_origins": 60, "train_origins": 10}, {"select_share": 0}, {"learning_rate": float("nan")},
    {"seed": -1}, {"max_leaf_nodes": 1}, {"select_by": "luck"}, {"base_floor": 0.0},
])
def test_params_validation(bad):
    with pytest.raises(InvalidInputError, match="ForecastParams"):
        ForecastParams(**bad)


def test_bad_inputs_are_clear_errors():
    cells = _disk(1)
    with pytest.raises(InvalidInputError, match="cells × weeks"):
        forecast_next_week(np.ones(7), cells, 0)
    with pytest.raises(InvalidInputError, match="differ"):
        forecast_next_week(np.ones((6, 9)), cells, 5)
    with pytest.raises(InvalidInputError, match="origin"):
        forecast_next_week(np.ones((7, 9)), cells, 9)
    with pytest.raises(InvalidInputError, match="Not enough history"):
        forecast_next_week(np.ones((7, 9)), cells, 2, FAST)
    with pytest.raises(InvalidInputError, match=">= 0"):
        forecast_next_week(-np.ones((7, 9)), cells, 5)


# ---------------------------------------------------------------------------------------------- scoring
def test_baselines_and_sizes():
    cells = _disk(2)
    d = _ring_of(cells)
    c = np.zeros((len(cells), 30))
    centre = int(np.flatnonzero(d == 0)[0])
    c[centre, [0, 10, 29]] = 1           # week 0 is outside the 26-week window at origin 29
    c[np.flatnonzero(d == 1)[0], 20] = 2
    s = baseline_scores(c, 29, _rings(cells))
    assert set(s) == set(BASELINES)
    assert s["last_week"][centre] == 1
    assert s["counts_26"][centre] == 2
    assert_allclose(s["kde_13"][centre], 1 + math.exp(-0.5) * 2)  # weeks 17-29 only
    assert sizes_for(2000) == [("0.1 %", 2), ("0.5 %", 10), ("1 %", 20), ("5 %", 100), ("10 cells", 10),
                               ("70 cells", 70)]


def test_forecast_vs_best_and_summary():
    rows = []
    for o, (f, lw, c26, kde) in enumerate([(4, 1, 3, 2), (6, 2, 3, 4), (2, 0, 2, 1)]):
        for method, n in zip(("forecast", "last_week", "counts_26", "kde_13"), (f, lw, c26, kde)):
            rows.append({"origin": o, "method": method, "size": "1 %", "n_cells": 5, "n": n, "N": 10,
                         "n_star": 8, "hit_rate": n / 10, "pai": n / 10 / 0.01, "pei_star": n / 8})
    per = pd.DataFrame(rows)
    vs = forecast_vs_best(per, n_boot=200).iloc[0]
    assert vs["best_baseline"] in ("counts_26", "kde_13")  # both caught 8 -> the first in BASELINES order
    assert vs["best_baseline"] == "counts_26"
    assert_allclose(vs["ratio"], 12 / 8)
    assert vs["ratio_low"] <= vs["ratio"] <= vs["ratio_high"]
    assert_allclose(vs["forecast_pei_star"], 12 / 3 / 8)
    summ = summarise_backtest(per, n_boot=200)
    f = summ[summ["method"] == "forecast"].iloc[0]
    assert_allclose(f["hit_rate"], 0.4)
    assert f["hit_rate_low"] <= 0.4 <= f["hit_rate_high"]
    assert f["events_caught"] == 12


# ---------------------------------------------------------------------------------------------- real data
def test_real_excerpt_smoke():
    """San Francisco robberies 2012 (CC0 excerpt, tests/data/real_excerpt_forecast): runs end to end."""
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "data" / "real_excerpt_forecast" / "sf_robbery_2012_excerpt.csv"
    d = pd.read_csv(path)
    t = pd.to_datetime(d["occurred_local"])
    week = ((t.dt.normalize() - pd.to_timedelta(t.dt.day_of_week, unit="D")) - pd.Timestamp("2012-06-25")).dt.days // 7
    obs = grid.latlng_to_cells(d["lat"].to_numpy(), d["lon"].to_numpy(), 9)
    cells = grid.grid_disk_cells(np.unique(obs), 1)
    c = np.zeros((len(cells), int(week.max()) + 1))
    np.add.at(c, (np.searchsorted(cells, obs), week.to_numpy()), 1.0)
    assert c.sum() == len(d)
    per_origin, choices = backtest_forecast(c, cells, [20, 22], FAST)
    assert set(per_origin["method"]) == {"forecast", *BASELINES}
    assert per_origin["pei_star"].between(0, 1).all() and (per_origin["n"] <= per_origin["n_star"] + 1e-9).all()
    summary = summarise_backtest(per_origin, n_boot=100)
    assert (summary["events"] == c[:, [21, 23]].sum()).all()
    vs = forecast_vs_best(per_origin, n_boot=100)
    assert np.isfinite(vs["ratio"]).all()
