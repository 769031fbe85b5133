"""benchmarks.placebo_rtm: the regression-to-the-mean diagnosis of matched DiD on null targets (issue 15).

The numbers themselves are measured in benchmarks/RESULTS.md (not asserted); here the pieces
that produce them are checked on planted data, and the diagnosis runs on a few SYNTHETIC targets.
"""

from __future__ import annotations

import math

import numpy as np

from benchmarks import placebo_rtm
from benchmarks.ranking import load_sample


def test_shrunk_level_does_not_prefer_a_control_busy_by_chance_over_a_chronically_busy_one():
    # treated: chronically busy (about 1 a week) in a busy neighbourhood. Candidates with the SAME
    # pre-period count: a chronically busy cell in a busy neighbourhood, and a cell in a quiet one
    # whose count is one burst (busy by chance). 200 quiet background cells set the prior's spread.
    rng = np.random.default_rng(3)
    n_weeks = 26
    chronic = np.ones(n_weeks)
    burst = np.zeros(n_weeks)
    burst[-4:] = n_weeks / 4                      # same total, all in the last 4 weeks
    background = rng.poisson(0.05, (200, n_weeks)).astype(float)
    y = np.vstack([chronic, chronic, burst, background])
    prior = np.r_[1.0, 1.0, 0.05, np.full(200, 0.05)]       # neighbourhood rates
    rate = placebo_rtm.shrunk_rate(y, prior)
    assert rate[1] > 0.9 and rate[2] < 0.8 * y[2].mean()     # the burst is shrunk towards its quiet prior
    features = np.sqrt(rate)[:, None]
    match = placebo_rtm._match_on(features, np.array([0]), np.arange(1, len(y)), 1, seed=0)
    assert match[0, 0] == 1                                   # the chronic one, not the burst
    # on observed counts alone the two are tied: only the de-noised level separates them
    assert y[1].sum() == y[2].sum()


def test_shrunk_rate_without_spread_between_units_is_the_prior():
    y = np.random.default_rng(0).poisson(0.5, (500, 30)).astype(float)
    rate = placebo_rtm.shrunk_rate(y, np.full(500, 0.5))
    # all noise: every unit shrinks most of the way to the prior
    assert np.std(rate) < 0.25 * np.std(y.mean(1)) and abs(rate.mean() - 0.5) < 0.02


def test_window_means_split_the_series_at_the_selection_window_and_the_post_period():
    s = np.r_[np.full(10, 1.0), np.full(placebo_rtm.SELECT_WEEKS, 2.0), np.full(8, 3.0), np.full(4, 4.0)]
    start = 10 + placebo_rtm.SELECT_WEEKS
    assert placebo_rtm.window_means(s, start, 8) == {"early": 1.0, "selection": 2.0, "post": 3.0, "later": 4.0}
    w = placebo_rtm.window_means(s[:start + 8], start, 8)
    assert math.isnan(w["later"]) and w["post"] == 3.0


def test_the_diagnosis_runs_on_a_few_synthetic_targets(tmp_path):
    ev = load_sample()[0]
    r = placebo_rtm.run(ev, 3, seed=0, design="places")
    assert r["targets"] == 3 and 0 <= r["estimable"] <= 3
    assert set(r["did"]) == set(placebo_rtm.VARIANTS)
    assert all(n <= 3 for _, n in r["did"].values())
    text = placebo_rtm.markdown([r], "header")
    assert text.startswith(placebo_rtm.SECTION) and r["name"] in text
