"""Evaluability decided from the before period only, the zero-count rule, and the before window (issue 15)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analytics.errors import InvalidInputError
from analytics.evaluation import did_matched, did_poisson, match_controls, minimum_detectable_effect, panel_matched
from analytics.evaluation.did import zero_corrected
from analytics.evaluation.evaluability import (DEFAULT_BEFORE_WEEKS, EVALUABLE_FALL, assess_evaluability,
                                               before_start, check_before_weeks, evaluability_of_panel)
from analytics.evaluation.power import MAX_DETECTABLE_FALL


def _panel(seed=0, n_cells=300, n_weeks=42, start=26, n_treated=3, rate=3.0):
    rng = np.random.default_rng(seed)
    level = rng.gamma(2.0, 1.0, n_cells)
    level[:n_treated] = rate
    y = rng.poisson(level[:, None] * np.ones(n_weeks)).astype(float)
    post = np.arange(n_weeks) >= start
    treated = np.arange(n_treated)
    pool = np.arange(n_treated, n_cells)
    matches = match_controls(y[:, ~post], treated, pool, 20, seed)
    return y, post, treated, matches


def test_evaluability_does_not_move_when_only_the_after_counts_change():
    y, post, treated, matches = _panel()
    base = evaluability_of_panel(y, post, treated, matches)
    for change in (0.0, 5.0, 100.0):                 # no event after, a surge, anything
        y2 = y.copy()
        y2[:, post] = change
        assert evaluability_of_panel(y2, post, treated, matches).as_dict() == base.as_dict()
    # ... and the matching it relies on reads the before period only
    y3 = y.copy()
    y3[:, post] = 0.0
    assert np.array_equal(match_controls(y3[:, ~post], treated, np.arange(3, 300), 20, 0), matches)
    # a change in the before period does move it
    y4 = y.copy()
    y4[np.ix_(treated, np.flatnonzero(~post))] = 0.0
    y4[0, 0] = 1.0
    assert not evaluability_of_panel(y4, post, treated, matches).evaluable


def test_rule_is_the_power_functions_answer_for_a_fall_of_up_to_95_percent():
    assert EVALUABLE_FALL == MAX_DETECTABLE_FALL
    for rate in (0.2, 0.6, 1.0, 3.0):
        e = assess_evaluability(rate, rate * 20, 26, 16)
        mde = minimum_detectable_effect(rate, 26, 16, control_per_week=rate * 20)
        assert e.evaluable == math.isfinite(mde)
        assert e.expected_after == pytest.approx(rate * 16)
        assert (e.mde is None) == (not math.isfinite(mde))
    sparse = assess_evaluability(0.2, 4.0, 26, 16)
    assert not sparse.evaluable and sparse.sentence.startswith("Too sparse to evaluate: no fall of up to 95 % is "
                                                               "detectable with 80 % power with 3.2 expected events")
    assert assess_evaluability(0.0, 4.0, 26, 16).evaluable is False
    assert assess_evaluability(3.0, 60.0, 26, 16).sentence == ""


def test_evaluable_target_with_no_event_after_gets_a_bounded_estimate_and_interval():
    y, post, treated, matches = _panel(seed=3)
    y[np.ix_(treated, np.flatnonzero(post))] = 0.0           # the target went quiet after the start
    assert evaluability_of_panel(y, post, treated, matches).evaluable
    did = did_matched(y, post, treated, matches)
    pan = panel_matched(y, post, treated, matches)
    for r in (did, pan):
        assert math.isfinite(r.relative_effect) and -1 < r.relative_effect < -0.9
        assert math.isfinite(r.ci_low) and math.isfinite(r.ci_high) and -1 < r.ci_low <= r.ci_high < 0
        assert r.p <= 0.05                                   # a total disappearance is detected
    # by hand: the +0.5 rule on each period total
    t = y[treated].sum(0)
    c = np.stack([y[matches[:, g]].sum(0) for g in range(20)]).sum(0)
    tp, tq, cp, cq = t[~post].sum() + 0.5, 0.5, c[~post].sum() + 0.5, c[post].sum() + 0.5
    assert did.log_effect == pytest.approx(math.log(tq / cq) - math.log(tp / cp), abs=1e-12)
    assert pan.log_effect == pytest.approx(did.log_effect, abs=1e-12)


def test_zero_corrected_leaves_positive_totals_alone_and_refuses_an_empty_series():
    assert zero_corrected(3, 4, 10, 12) == (3, 4, 10, 12)
    assert zero_corrected(3, 0, 10, 12) == (3.5, 0.5, 10.5, 12.5)
    assert all(math.isnan(v) for v in zero_corrected(0, 0, 10, 12))
    assert all(math.isnan(v) for v in zero_corrected(3, 2, 0, 0))
    # positive totals: the estimate is exactly the ratio of ratios, as before
    post = np.array([False, False, True, True])
    d, *_ = did_poisson([3, 2, 1, 1], [10, 10, 10, 10], post)
    assert d == pytest.approx(math.log(2 / 20) - math.log(5 / 20))


def test_before_start_and_its_range_by_hand():
    post = np.array([False] * 6 + [True] * 2)
    assert before_start(post, None) == 0
    assert before_start(post, 8) == 0                       # fewer weeks than asked: all are used
    assert DEFAULT_BEFORE_WEEKS == 26
    post40 = np.array([False] * 40 + [True] * 16)
    assert before_start(post40, 26) == 14 and before_start(post40, 8) == 32
    for bad in (7, 0, -3, 521, 10.5, "26", True):
        with pytest.raises(InvalidInputError, match="--before-weeks must be a whole number of weeks from 8 to 520"):
            check_before_weeks(bad)


def test_before_window_changes_the_did_before_period_by_hand():
    # tiny panel: 12 before weeks, 2 after; the target doubled in the last 8 weeks before the start
    t = np.array([1.0] * 4 + [2.0] * 8 + [2.0, 2.0])
    c = np.array([10.0] * 14)
    post = np.arange(14) >= 12
    full, *_ = did_poisson(t, c, post)
    first = before_start(post, 8)
    assert first == 4
    cut, *_ = did_poisson(t[first:], c[first:], post[first:])
    assert full == pytest.approx(math.log(4 / 20) - math.log(20 / 120))   # +20 %: the calm weeks read as a rise
    assert cut == pytest.approx(0.0, abs=1e-12)                           # the chosen-on window only: no change


def test_wdq_is_not_computed_rather_than_fatal_when_the_controls_have_no_event_in_a_period():
    from analytics.evaluation import evaluate_panel

    rng = np.random.default_rng(5)
    y = np.zeros((60, 30))
    y[:3] = rng.poisson(2.0, (3, 30))                 # treated cells busy
    y[3:6] = rng.poisson(1.0, (3, 30))                # buffer cells
    y[6:, :10] = rng.poisson(0.3, (54, 10))           # controls: events in the before period only
    post = np.arange(30) >= 20
    ev = evaluate_panel(y, post, np.arange(3), np.arange(3, 6), np.arange(6, 60), k=10, k_buffer=2, n_boot=50)
    q = ev.methods["wdq"]
    assert q["wdq"] is None and q["meaningful"] is False and q["interpretation"].startswith("not computed")
    # the other methods still ran; with 10 placebo groups and no control event after, DiD declines (its own rule)
    assert set(ev.methods) == {"did", "its", "panel_poisson", "wdd", "wdq", "synthetic_control"}
    assert ev.methods["did"]["inference"] == "none" and ev.methods["did"]["relative_effect"] is None
