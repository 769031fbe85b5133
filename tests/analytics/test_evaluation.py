"""Evaluation estimators: known values worked by hand, agreement with statsmodels, and validity on
SYNTHETIC panels (fast version here; the full 50-seed run is marked slow, see benchmarks/evaluation.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose

from analytics.errors import InvalidInputError
from analytics.evaluation import (coverage_metrics, did_matched, did_poisson, evaluate_panel, its_glm,
                                  match_controls, minimum_detectable_effect, ring_kde_scores, rri, simplex_weights,
                                  synthetic_control, wdd, wdq)


# ----------------------------------------------------------------------------------- WDD by hand
def test_wdd_textbook_by_hand():
    # T 60 -> 40, C 50 -> 55, D 30 -> 35, C_D 40 -> 38
    # WDD = (40-60) - (55-50) + (35-30) - (38-40) = -20 - 5 + 5 + 2 = -18
    # Var = 60+40+50+55+30+35+40+38 = 348; z = -18 / sqrt(348) = -0.96490
    r = wdd(60, 40, 50, 55, 30, 35, 40, 38)
    assert r.wdd == -18.0 and r.variance == 348.0
    assert_allclose(r.z, -18 / math.sqrt(348), rtol=1e-12)
    assert_allclose(r.p, 0.33459, atol=1e-5)           # 2 * (1 - Phi(0.96490)), normal table
    assert r.direct == -25.0 and r.displacement == 7.0  # ΔT-ΔC, ΔD-ΔC_D
    assert_allclose([r.ci_low, r.ci_high], [-18 - 1.959964 * math.sqrt(348), -18 + 1.959964 * math.sqrt(348)],
                    rtol=1e-6)


def test_wdd_without_buffer_and_with_weights_by_hand():
    r = wdd(100, 70, 200, 190)                      # -30 - (-10) = -20; Var = 560
    assert r.wdd == -20.0 and r.variance == 560.0
    # control of k = 2 look-alikes (weight 1/2) and a before period twice as long (scale 1/2):
    # ΔT = 70 - 0.5*100 = 20; ΔC = 0.5*(190 - 0.5*200) = 45; WDD = -25
    # Var = 70 + 0.25*100 + 0.25*(190 + 0.25*200) = 95 + 60 = 155
    r = wdd(100, 70, 200, 190, control_weight=0.5, before_scale=0.5)
    assert r.wdd == -25.0 and r.variance == 155.0


def test_wdd_rejects_negative_counts():
    with pytest.raises(InvalidInputError):
        wdd(-1, 2, 3, 4)


# ----------------------------------------------------------------------------------- WDQ by hand
def test_wdq_by_hand_displacement():
    # SM = 60/1000 - 100/1000 = -0.04 ; BDM = 60/1000 - 50/1000 = 0.01 ; WDQ = 0.01 / -0.04 = -0.25
    r = wdq(100, 60, 1000, 1000, 50, 60, n_boot=0)
    assert_allclose([r.sm, r.bdm, r.wdq], [-0.04, 0.01, -0.25], atol=1e-12)
    assert r.meaningful and "displacement" in r.interpretation


def test_wdq_by_hand_diffusion_and_unequal_control():
    # SM = 30/400 - 50/500 = 0.075 - 0.1 = -0.025 ; BDM = 16/400 - 25/500 = 0.04 - 0.05 = -0.01 ; WDQ = 0.4
    r = wdq(50, 30, 500, 400, 25, 16, n_boot=0)
    assert_allclose([r.sm, r.bdm, r.wdq], [-0.025, -0.01, 0.4], atol=1e-12)
    assert "diffusion" in r.interpretation


def test_wdq_not_meaningful_when_treated_did_not_improve():
    r = wdq(50, 60, 500, 500, 20, 30, n_boot=200)     # SM = +0.02
    assert not r.meaningful and math.isnan(r.wdq) and "not meaningful" in r.interpretation


def test_wdq_bootstrap_interval_brackets_the_estimate():
    rng = np.random.default_rng(1)
    rb, ra = rng.poisson(10, 40), rng.poisson(6, 16)
    cb, ca = rng.poisson(100, 40), rng.poisson(100, 16)
    bb, ba = rng.poisson(5, 40), rng.poisson(7, 16)
    r = wdq(rb, ra, cb, ca, bb, ba, n_boot=1000, seed=3)
    assert r.bootstrap == "weeks" and r.meaningful
    assert r.ci_low < r.wdq < r.ci_high
    assert wdq(rb, ra, cb, ca, bb, ba, n_boot=1000, seed=3) == r        # seeded


# ----------------------------------------------------------------------------------- DiD
def test_did_poisson_matches_statsmodels_glm_with_fixed_effects():
    import statsmodels.api as sm
    rng = np.random.default_rng(0)
    W = 30
    post = np.arange(W) >= 20
    t = rng.poisson(np.where(post, 6, 9))
    c = rng.poisson(40, W)
    delta, se, p, disp = did_poisson(t, c, post)
    y = np.r_[t, c]
    unit = np.r_[np.ones(W), np.zeros(W)]
    weeks = np.tile(np.eye(W), (2, 1))
    X = np.column_stack([weeks, unit, unit * np.r_[post, post]])
    res = sm.GLM(y, X, family=sm.families.Poisson()).fit()
    assert_allclose(delta, res.params[-1], atol=1e-6)
    assert_allclose(se / math.sqrt(disp), res.bse[-1], rtol=1e-4)
    assert_allclose(delta, math.log(t[post].sum() / c[post].sum()) - math.log(t[~post].sum() / c[~post].sum()))


def test_match_controls_prefers_similar_level_and_excludes_used():
    y = np.zeros((6, 8))
    y[0] = 5          # treated
    y[1] = 5          # perfect match
    y[2] = 4
    y[3] = 0
    y[4, 4:] = 10     # level 5 but rising: worse than a flat 4
    y[5] = 1
    m = match_controls(y, np.array([0]), np.arange(1, 6), 2)
    assert m.tolist() == [[1, 2]]
    with pytest.raises(InvalidInputError):
        match_controls(y, np.array([0]), np.arange(1, 3), 5)


def test_did_matched_placebo_p_is_a_permutation_p():
    rng = np.random.default_rng(2)
    y = rng.poisson(3, (60, 40)).astype(float)
    post = np.arange(40) >= 30
    y[0, post] = rng.poisson(0.5, post.sum())
    m = match_controls(y[:, ~post], np.array([0]), np.arange(1, 60), 19)
    r = did_matched(y, post, np.array([0]), m)
    assert r.n_placebos == 19 and r.p == pytest.approx(1 / 20)
    assert r.relative_effect < -0.5 and r.ci_high < 0


# ----------------------------------------------------------------------------------- ITS, SC, power
def test_its_recovers_a_planted_step():
    rng = np.random.default_rng(4)
    t = np.arange(120)
    post = t >= 80
    mu = 20 * np.exp(0.002 * t + 0.15 * np.sin(2 * np.pi * t / 52.1775)) * np.where(post, 0.7, 1.0)
    r = its_glm(rng.poisson(mu), post)
    assert r.harmonics == 1 and r.family in ("poisson", "negative_binomial")
    assert r.ci_low < -0.30 < r.ci_high and r.p < 0.05
    assert len(r.counterfactual) == 120


@pytest.mark.parametrize("slope_change", [False, True])
def test_its_with_no_events_after_the_start_says_so_instead_of_overflowing(slope_change):
    # a sparse outcome: a few events before, none after -> the GLM is separated (coefficient -> -inf)
    y = np.zeros(60, dtype=int)
    y[[3, 11, 19, 30, 41]] = 1
    post = np.arange(60) >= 45
    r = its_glm(y, post, harmonics=0, slope_change=slope_change)
    assert math.isnan(r.relative_effect) and math.isnan(r.ci_low) and math.isnan(r.p)
    assert any("separated" in n for n in r.notes)


def test_simplex_weights_recover_a_convex_combination():
    rng = np.random.default_rng(5)
    x0 = rng.random((12, 4))
    w_true = np.array([0.2, 0.0, 0.5, 0.3])
    w = simplex_weights(x0 @ w_true, x0)
    assert_allclose(w, w_true, atol=1e-4)
    assert (w >= 0).all() and w.sum() == pytest.approx(1.0)


def test_synthetic_control_flat_donors_give_the_planted_effect():
    rng = np.random.default_rng(6)
    post = np.arange(80) >= 60
    donors = rng.poisson(10, (15, 80)).astype(float)
    treated = rng.poisson(np.where(post, 5.0, 10.0)).astype(float)
    r = synthetic_control(treated, donors, post)
    assert -0.65 < r.relative_effect < -0.35 and r.n_pre_periods == 15 and r.n_post_periods == 5
    assert r.p == pytest.approx(1 / 16)
    assert sum(r.weights) == pytest.approx(1.0)


def test_minimum_detectable_effect_by_hand_and_monotone():
    # Var(log RR) = 1/(8*52) + 1/(8*(1+e)*16) ; (1.959964 + 0.841621) * SE = |log(1+e)| at e = -0.2747
    e = minimum_detectable_effect(8, 52, 16)
    se = math.sqrt(1 / (8 * 52) + 1 / (8 * (1 + e) * 16))
    assert_allclose(abs(math.log1p(e)), (1.959964 + 0.841621) * se, rtol=1e-5)
    assert minimum_detectable_effect(8, 52, 32) > e                   # more weeks: smaller detectable fall
    assert minimum_detectable_effect(8, 52, 16, control_per_week=40) < e  # a noisy control costs power
    assert math.isnan(minimum_detectable_effect(0.01, 4, 1))


# ----------------------------------------------------------------------------------- backtest pieces
def test_rri_and_coverage_metrics_by_hand():
    assert rri(10, 100, 12, 80) == pytest.approx(1.5)
    assert math.isnan(rri(0, 10, 1, 10))
    nxt = np.array([5, 0, 3, 2, 0, 0, 0, 0, 0, 0], dtype=float)
    cur = np.array([4, 1, 0, 5, 0, 0, 0, 0, 0, 0], dtype=float)
    order = np.array([3, 0, 1, 2, 4, 5, 6, 7, 8, 9])
    rows = coverage_metrics(order, nxt, cur, np.ones(10), coverages=(10, 20))
    # 10 %: cell 3 -> n = 2, N = 10, n* = 5 ; RRI = (2/5) / (10/10) = 0.4
    assert rows[0] == {"coverage": 10, "n_cells": 1, "n": 2.0, "N": 10.0, "hit_rate": 0.2, "pai": 2.0,
                       "pei_star": 0.4, "rri": 0.4}
    # 20 %: cells 3, 0 -> n = 7, n* = 8, PEI* = 0.875, RRI = (7/9) / (10/10)
    assert rows[1]["pei_star"] == pytest.approx(0.875) and rows[1]["rri"] == pytest.approx(7 / 9)


def test_ring_kde_scores_weights_rings():
    from analytics import grid
    import h3
    centre = h3.latlng_to_cell(-33.87, 151.2, 9)
    cells = grid.grid_disk_cells(np.array([h3.str_to_int(centre)], dtype=np.uint64), 3)
    c = np.zeros(len(cells))
    i = int(np.searchsorted(cells, h3.str_to_int(centre)))
    c[i] = 1.0
    s = ring_kde_scores(c, grid.neighbour_matrix(cells, 1), grid.neighbour_matrix(cells, 2))
    assert s[i] == 1.0
    assert np.isclose(s, math.exp(-0.5)).sum() == 6 and np.isclose(s, math.exp(-2)).sum() == 12
    assert (s > 0).sum() == 19


# ----------------------------------------------------------------------------------- validity
def _validity(seeds, n_boot=200):
    from benchmarks.evaluation import simulate_panel
    eff, null = [], []
    for s in seeds:
        y, post, tr, bu, pool = simulate_panel(s)
        eff.append(evaluate_panel(y, post, tr, bu, pool, n_boot=n_boot, seed=s).methods)
        y, post, tr, bu, pool = simulate_panel(s, 0.0, 0.0)
        null.append(evaluate_panel(y, post, tr, bu, pool, n_boot=n_boot, seed=s).methods)
    return eff, null


def test_estimators_recover_a_planted_effect_fast():
    eff, null = _validity(range(6))
    for name in ("did", "its", "panel_poisson"):
        est = np.array([m[name]["relative_effect"] for m in eff])
        assert abs(est.mean() + 0.30) < 0.10, (name, est)
        cover = np.mean([m[name]["ci_low"] <= -0.30 <= m[name]["ci_high"] for m in eff])
        assert cover >= 4 / 6, name
        assert np.mean([m[name]["p"] < 0.05 for m in null]) <= 2 / 6, name
    assert np.mean([m["wdq"]["wdq"] is not None and m["wdq"]["wdq"] < 0 for m in eff]) >= 4 / 6
    assert np.mean([m["wdd"]["displacement"] > 0 for m in eff]) >= 4 / 6


@pytest.mark.slow
def test_estimator_validity_over_50_seeds():
    from benchmarks.evaluation import _validity as full
    result = full(50, 500)
    assert all(result["checks"].values()), result["checks"]
