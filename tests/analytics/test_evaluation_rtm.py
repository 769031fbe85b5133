"""Evaluation that survives regression to the mean (issue 15, item 1).

Places are chosen because they were busy; part of that busyness is luck and fades anyway.
These tests plant exactly that situation and check that the estimators do not read it as
an effect, while still finding a planted fall.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from analytics.errors import InvalidInputError
from analytics.evaluation import (MIN_TREND_WEEKS, did_matched, its_glm, its_matched, match_controls,
                                  neighbourhood_counts)


def test_matching_uses_the_neighbourhood_level_when_given():
    # 300 pool cells with the same own counts; half sit in busy neighbourhoods (level 4), half in quiet ones (0.25)
    rng = np.random.default_rng(0)
    n_weeks = 20
    own = rng.poisson(1.0, (1, n_weeks)).repeat(301, axis=0).astype(float)
    hood = np.r_[np.full(1, 4.0), np.full(150, 4.0), np.full(150, 0.25)][:, None].repeat(n_weeks, axis=1)
    treated, pool = np.array([0]), np.arange(1, 301)
    with_hood = match_controls(own, treated, pool, 20, seed=1, neighbourhood=hood)
    assert (with_hood <= 150).all()                     # all from busy neighbourhoods, like the treated cell
    without = match_controls(own, treated, pool, 20, seed=1)
    assert (without > 150).any()                         # own counts alone cannot tell them apart
    with pytest.raises(InvalidInputError):
        match_controls(own, treated, pool, 20, neighbourhood=hood[:, :5])


def test_matching_still_prefers_level_and_trend():
    y = np.zeros((5, 8))
    y[0] = [0, 0, 0, 0, 4, 4, 4, 4]          # treated: rising
    y[1] = [2, 2, 2, 2, 2, 2, 2, 2]          # same level, flat
    y[2] = [0, 0, 0, 0, 4, 4, 4, 4]          # same level and trend
    y[3] = [9, 9, 9, 9, 9, 9, 9, 9]
    y[4] = [0, 0, 0, 0, 0, 0, 0, 0]
    hood = np.ones_like(y)
    assert match_controls(y, np.array([0]), np.arange(1, 5), 1, neighbourhood=hood)[0, 0] == 2
    assert match_controls(y, np.array([0]), np.arange(1, 5), 2, neighbourhood=hood)[0].tolist() == [2, 1]


def test_neighbourhood_counts_leave_the_cell_itself_out():
    ring = np.eye(3) + np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]])
    y = np.array([[6.0, 0.0], [0.0, 6.0], [12.0, 0.0]])
    assert neighbourhood_counts(y, ring).tolist() == [[0.0, 1.0], [3.0, 0.0], [0.0, 1.0]]


def _busy_place_panel(seed: int, n_weeks: int = 48, start: int = 32):
    """A SYNTHETIC null with no effect anywhere: 40 places of 7 cells in busy neighbourhoods (cell
    rates ~0.3 a week) and 6,000 cells in quiet ones (~0.08, skewed). The treated place is the
    busiest over the 16 weeks before the start (chosen because it was busy, as agencies choose).
    Neighbourhood counts are the 6 neighbours' mean, drawn at the neighbourhood's level."""
    rng = np.random.default_rng(seed)
    n_busy, n_quiet = 7 * 40, 6000
    rate = np.r_[rng.gamma(1.0, 0.3, n_busy), rng.gamma(0.5, 0.16, n_quiet)]
    hood_level = np.r_[np.full(n_busy, 0.3), np.full(n_quiet, 0.08)]
    y = rng.poisson(rate[:, None] * np.ones(n_weeks)).astype(float)
    hood = rng.poisson(6 * hood_level[:, None] * np.ones(n_weeks)) / 6.0
    best = int(np.argmax(y[:n_busy, start - 16:start].sum(1).reshape(40, 7).sum(1)))
    chosen = np.arange(7 * best, 7 * best + 7)
    post = np.arange(n_weeks) >= start
    return y, post, chosen, np.setdiff1d(np.arange(len(rate)), chosen), hood


def test_neighbourhood_matching_removes_the_regression_to_the_mean_bias_of_did():
    plain, hooded = [], []
    for s in range(16):
        y, post, tr, pool, hood = _busy_place_panel(s)
        m0 = match_controls(y[:, ~post], tr, pool, 20, seed=s)
        m1 = match_controls(y[:, ~post], tr, pool, 20, seed=s, neighbourhood=hood[:, ~post])
        plain.append(did_matched(y, post, tr, m0).log_effect)
        hooded.append(did_matched(y, post, tr, m1).log_effect)
    # the place's quiet cells truly sit near their busy neighbourhood's rate; own-count controls for
    # them come from quiet neighbourhoods and stay low: after the start the target 'rises' against them
    assert np.mean(plain) > 0.06
    assert abs(np.mean(hooded)) < 0.5 * np.mean(plain) and abs(np.mean(hooded)) < 0.06


def test_its_does_not_extrapolate_a_short_pre_period_surge():
    # 40 pre weeks at 3 a week with a surge to 6 a week in the last 8; afterwards back to 3: no effect
    found, with_trend = [], []
    for s in range(8):
        rng = np.random.default_rng(100 + s)
        mu = np.full(56, 3.0)
        mu[32:40] = 6.0
        post = np.arange(56) >= 40
        y = rng.poisson(mu)
        r = its_glm(y, post)
        assert not r.trend and any("No trend fitted" in n for n in r.notes) and 40 < MIN_TREND_WEEKS
        assert r.hac_lags >= 1 and r.family in ("poisson", "negative_binomial")
        found.append(r.p <= 0.05)
        assert (r.ci_low <= 0 <= r.ci_high) == (r.p > 0.05)
        with_trend.append(its_glm(y, post, trend=True).relative_effect)
    assert sum(found) <= 1                               # at most one of 8 nulls 'significant'
    assert np.median(with_trend) < -0.35                 # what the old trend-always model did with it


def test_comparative_its_reads_a_busy_spell_as_no_change_and_finds_a_planted_fall():
    null_p, fall = [], []
    for s in range(6):
        y, post, tr, pool, hood = _busy_place_panel(s)
        m = match_controls(y[:, ~post], tr, pool, 20, seed=s, neighbourhood=hood[:, ~post])
        r = its_matched(y, post, tr, m)
        assert r.inference == "placebo" and r.n_placebos == 20
        assert (r.ci_low <= 0 <= r.ci_high) == (r.p > 0.05)
        null_p.append(r.p)
        y2 = y.copy()
        y2[np.ix_(tr, np.flatnonzero(post))] = np.random.default_rng(s).binomial(
            y[np.ix_(tr, np.flatnonzero(post))].astype(int), 0.4)      # 60 % fall after the start
        r2 = its_matched(y2, post, tr, m)
        fall.append((r2.relative_effect, r2.ci_high, r2.p))
    assert sum(p <= 0.05 for p in null_p) <= 1
    assert sum(hi < 0 and p <= 0.05 for _, hi, p in fall) >= 5
    assert abs(np.median([e for e, _, _ in fall]) + 0.6) < 0.2


def test_its_with_controls_rejects_a_control_series_without_events_before():
    post = np.arange(20) >= 12
    with pytest.raises(InvalidInputError):
        its_glm(np.ones(20), post, control=np.where(post, 1.0, 0.0))
    m = np.array([[1, 2]])
    y = np.zeros((3, 20))
    y[0] = 1
    r = its_matched(y, post, np.array([0]), m)
    assert math.isnan(r.relative_effect) and "no events before" in r.notes[0]


@pytest.mark.parametrize("trend, slope_change, overdispersed", [(False, False, False), (True, False, True),
                                                                (True, True, True)])
def test_placebo_point_estimate_is_the_same_estimator_as_its_glm(trend, slope_change, overdispersed):
    # the placebo fits use a numpy IRLS; it must find the statsmodels MLE its_glm reports
    from analytics.evaluation.its import _design, _point_log_effect
    rng = np.random.default_rng(7)
    n, post = 70, np.arange(70) >= 54
    c = rng.poisson(40, n).astype(float)
    y = (rng.negative_binomial(2, 2 / (2 + 3.0), n) if overdispersed else rng.poisson(3.0, n)).astype(float)
    r = its_glm(y, post, control=c, trend=trend, slope_change=slope_change)
    assert r.family == ("negative_binomial" if overdispersed else "poisson")
    X, j = _design(post, trend, 0, 52.1775, slope_change)
    d = _point_log_effect(y, X, j, np.log(c), post, slope_change, 1.2)
    assert d == pytest.approx(math.log1p(r.relative_effect), abs=1e-6)
