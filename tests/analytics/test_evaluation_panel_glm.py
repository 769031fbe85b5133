"""The panel regression (place and week effects, treated x after term) of analytics.evaluation.panel_glm."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analytics.errors import InvalidInputError
from analytics.evaluation import fit_panel_fe, match_controls, panel_matched, placebo_test


def _dummies_fit(y, treated_rows, post, family):
    """The same model with explicit dummy columns in statsmodels' GLM (the reference)."""
    import statsmodels.api as sm

    n, t = y.shape
    d = np.zeros((n, t))
    d[np.ix_(np.asarray(treated_rows), np.flatnonzero(post))] = 1
    X = np.zeros((n * t, n + t))
    X[np.arange(n * t), np.repeat(np.arange(n), t)] = 1                  # cell effects
    wk = np.tile(np.arange(t), n)
    X[np.arange(n * t)[wk > 0], n + wk[wk > 0] - 1] = 1                  # week effects (week 0 the base)
    X[:, -1] = d.ravel()
    return sm.GLM(y.ravel(), X, family=family).fit(tol=1e-12)


def _panel(rng, n=12, t=30, start=20, effect=0.0, n_treated=3, base=1.0):
    a = rng.normal(0, 0.5, n)
    b = 0.3 * np.sin(np.arange(t) / 4)
    post = np.arange(t) >= start
    d = np.zeros((n, t))
    d[np.ix_(np.arange(n_treated), np.flatnonzero(post))] = 1
    mu = np.exp(base + a[:, None] + b[None, :] + math.log1p(effect) * d)
    return rng.poisson(mu).astype(float), post


def test_two_by_two_panel_gives_the_ratio_of_ratios():
    y = np.array([[12.0, 3.0], [8.0, 10.0]])       # target: 12 -> 3; control: 8 -> 10
    fit = fit_panel_fe(y, [0], np.array([False, True]), family="poisson")
    assert math.expm1(fit.delta) == pytest.approx((3 / 12) / (10 / 8) - 1, abs=1e-10)
    # the saturated model fits every count
    assert np.allclose(fit.mu.reshape(2, 2), y)


@pytest.mark.parametrize("seed", [1, 2])
def test_agrees_with_statsmodels_glm_with_dummies(seed):
    import statsmodels.api as sm

    rng = np.random.default_rng(seed)
    y, post = _panel(rng, effect=-0.2)
    fit = fit_panel_fe(y, [0, 1, 2], post, family="poisson")
    ref = _dummies_fit(y, [0, 1, 2], post, sm.families.Poisson())
    assert fit.delta == pytest.approx(ref.params[-1], abs=1e-6)
    disp = ref.pearson_chi2 / ref.df_resid
    assert fit.dispersion == pytest.approx(disp, rel=1e-6)
    assert fit.se == pytest.approx(ref.bse[-1] * math.sqrt(max(disp, 1.0)), rel=1e-6)


def test_negative_binomial_agrees_with_statsmodels_at_the_same_alpha():
    import statsmodels.api as sm

    rng = np.random.default_rng(5)
    n, t = 12, 30
    post = np.arange(t) >= 20
    mu = np.exp(1.5 + rng.normal(0, 0.5, n))[:, None] * np.ones(t)
    mu[:3, 20:] *= 0.7
    y = rng.poisson(mu * rng.gamma(2.0, 0.5, (n, t))).astype(float)    # gamma-Poisson: over-dispersed
    fit = fit_panel_fe(y, [0, 1, 2], post, family="negative_binomial")
    assert fit.family == "negative_binomial" and fit.alpha_nb > 0
    ref = _dummies_fit(y, [0, 1, 2], post, sm.families.NegativeBinomial(alpha=fit.alpha_nb))
    assert fit.delta == pytest.approx(ref.params[-1], abs=1e-6)
    assert fit.se == pytest.approx(ref.bse[-1], rel=1e-5)


def test_cells_and_weeks_without_events_are_left_out_not_fatal():
    rng = np.random.default_rng(3)
    y, post = _panel(rng, effect=-0.3)
    y0 = np.vstack([y, np.zeros((2, y.shape[1]))])
    y0[:, 5] = 0
    a = fit_panel_fe(y0, [0, 1, 2], post, family="poisson")
    y1 = np.delete(y0, 5, axis=1)[:-2]
    b = fit_panel_fe(y1, [0, 1, 2], np.delete(post, 5), family="poisson")
    assert a.delta == pytest.approx(b.delta, abs=1e-9)


def test_zero_after_gets_the_zero_corrected_ratio_and_no_events_at_all_no_estimate():
    # Issue 15 follow-up (intended change): a target with no event after the start gets DiD's +0.5 rule,
    # by hand log((0+.5)/(9+.5)) - log((5+.5)/(9+.5)) = log(.5/5.5), not NaN (the Poisson MLE is -inf).
    post = np.array([False, False, True, True])
    y = np.array([[3.0, 2.0, 0.0, 0.0], [4.0, 5.0, 6.0, 3.0]])
    f = fit_panel_fe(y, [0], post)
    assert f.delta == pytest.approx(math.log(0.5 / 5.5), abs=1e-12)
    assert f.family == "poisson_zero_corrected"
    assert f.se == pytest.approx(math.sqrt(1 / 5.5 + 1 / 0.5 + 2 / 9.5), abs=1e-12)
    y[0] = 0.0                                    # the target has no event at all: nothing to compare
    assert math.isnan(fit_panel_fe(y, [0], post).delta)
    with pytest.raises(InvalidInputError):
        fit_panel_fe(np.array([[1.0, -1.0]]), [0], np.array([False, True]))
    with pytest.raises(InvalidInputError):
        fit_panel_fe(y, [0], post, family="gaussian")


def _matched_panel(seed, effect, n_cells=400, n_weeks=60, start=40, n_treated=5, k=20):
    rng = np.random.default_rng(seed)
    level = rng.gamma(2.0, 0.6, n_cells)
    season = 0.25 * np.sin(2 * np.pi * np.arange(n_weeks) / 52)
    post = np.arange(n_weeks) >= start
    mu = level[:, None] * np.exp(season)[None, :]
    treated = np.argsort(-level)[:n_treated]
    mu[np.ix_(treated, np.flatnonzero(post))] *= 1 + effect
    y = rng.poisson(mu).astype(float)
    pool = np.setdiff1d(np.arange(n_cells), treated)
    matches = match_controls(y[:, ~post], treated, pool, k, seed)
    return y, post, treated, matches


def test_recovers_a_planted_fall_and_finds_about_nothing_on_a_null():
    falls = [panel_matched(*_matched_panel(s, -0.30)).relative_effect for s in range(8)]
    nulls = [panel_matched(*_matched_panel(s + 100, 0.0)).relative_effect for s in range(8)]
    assert np.median(falls) == pytest.approx(-0.30, abs=0.08)
    assert abs(np.median(nulls)) < 0.08
    r = panel_matched(*_matched_panel(7, -0.30))
    assert r.inference == "placebo" and r.n_placebos == 20


def test_interval_inverts_the_placebo_test_it_reports():
    y, post, treated, matches = _matched_panel(11, -0.4)
    r = panel_matched(y, post, treated, matches)
    p, lo, hi = placebo_test(r.log_effect, np.log1p(np.asarray(r.placebo_effects)))
    assert r.p == pytest.approx(p) and r.ci_low == pytest.approx(math.expm1(lo))
    assert r.ci_high == pytest.approx(math.expm1(hi))
    assert (r.ci_high < 0 or r.ci_low > 0) == (r.p <= 0.05)


def test_few_placebo_groups_use_the_model_test_widened_to_their_spread():
    y, post, treated, matches = _matched_panel(4, 0.0, k=5)
    r = panel_matched(y, post, treated, matches)
    assert r.inference in ("placebo_spread", "model") and r.n_placebos == 5
    assert (r.ci_high < 0 or r.ci_low > 0) == (r.p <= 0.05)
    d = r.as_dict()
    assert d["relative_effect"] == pytest.approx(r.relative_effect, abs=1e-6) and len(d["placebo_effects"]) == 5


def test_poisson_panel_equals_the_ratio_of_ratios_of_the_aggregated_series():
    # With a block treatment (the target's cells x the after weeks) the Poisson two-way fixed-effects
    # estimate is the aggregate DiD, log(T_after / T_before) - log(C_after / C_before), for any number
    # of cells: the matched DiD is this model's maximum-likelihood estimate.
    from analytics.evaluation import did_poisson

    rng = np.random.default_rng(8)
    post = np.arange(20) >= 12
    y = rng.poisson(rng.gamma(2, 2, (10, 1)) * rng.gamma(3, 1 / 3, (10, 20))).astype(float)
    fit = fit_panel_fe(y, [0, 1, 2, 3], post, family="poisson")
    t, c = y[:4].sum(0), y[4:].sum(0)
    ratio = (t[post].sum() / t[~post].sum()) / (c[post].sum() / c[~post].sum())
    assert math.exp(fit.delta) == pytest.approx(ratio, rel=1e-9)
    assert fit.delta == pytest.approx(did_poisson(t, c, post)[0], abs=1e-9)
    # the negative binomial weighs busy cells less, so it is not the aggregate ratio
    nb = fit_panel_fe(y, [0, 1, 2, 3], post, family="negative_binomial")
    assert nb.family == "negative_binomial" and abs(nb.delta - fit.delta) > 1e-4
