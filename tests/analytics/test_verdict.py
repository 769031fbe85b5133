"""One verdict rule (issue 15, item 3): the full matrix, and intervals that invert the same test as p."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from analytics.evaluation import did_matched, match_controls, placebo_test, rejects, synthetic_control
from analytics.verdict import direction, verdict


def _e(rel, lo, hi, p):
    return {"relative_effect": rel, "ci_low": lo, "ci_high": hi, "p": p}


FALL = _e(-0.30, -0.45, -0.12, 0.01)
FALL2 = _e(-0.25, -0.40, -0.05, 0.03)
RISE = _e(0.35, 0.10, 0.70, 0.02)
NULL_DOWN = _e(-0.20, -0.45, 0.15, 0.30)
NULL_UP = _e(0.10, -0.20, 0.45, 0.60)
RING = {"up": {"did": _e(1.30, 0.40, 2.80, 0.01), "its": _e(0.90, 0.20, 1.90, 0.02)},
        "down": {"did": _e(-0.40, -0.60, -0.15, 0.01), "its": _e(-0.35, -0.55, -0.10, 0.02)},
        # the bug of issue 15: "+130 %" printed as a rise with p = 0.5
        "flat": {"did": _e(1.30, -0.50, 9.00, 0.50), "its": _e(0.20, -0.30, 0.90, 0.40)}}
TARGET = {
    ("excludes", "agree"): {"did": FALL, "its": FALL2, "synthetic_control": FALL},
    ("excludes", "disagree"): {"did": FALL, "its": NULL_DOWN, "synthetic_control": RISE},
    ("includes", "agree"): {"did": NULL_DOWN, "its": NULL_DOWN, "synthetic_control": NULL_DOWN},
    ("includes", "disagree"): {"did": NULL_DOWN, "its": NULL_UP, "synthetic_control": NULL_DOWN},
}


@pytest.mark.parametrize("interval,agreement,ring", list(itertools.product(("excludes", "includes"),
                                                                             ("agree", "disagree"),
                                                                             ("up", "down", "flat"))))
def test_verdict_matrix(interval, agreement, ring):
    v = verdict(TARGET[(interval, agreement)], RING[ring], outcome="reports")
    claimed = interval == "excludes" and agreement == "agree"
    # the headline claims an effect only when every method excludes zero on the same side
    assert v.effect == ("fall" if claimed else "unclear")
    if claimed:
        assert v.headline.startswith("reports fell") and "all 3 methods agree" in v.headline
        assert "No clear change" not in v.headline and v.disagreement == ""
    else:
        assert v.headline.startswith("No clear change in reports") and " fell" not in v.headline
        assert " rose" not in v.headline
    if (interval, agreement) == ("excludes", "disagree"):
        # says which methods disagree, and how
        assert "difference-in-differences shows a fall" in v.headline
        assert "synthetic control shows a rise" in v.headline
        assert "interrupted time series has an interval that includes no change" in v.headline
    if interval == "includes":
        assert "no method's 95 % interval excludes no change" in v.headline and v.disagreement == ""
    # every estimate is printed with its interval and p, never a bare percentage
    assert v.headline.count("(95 % interval") == 3 and v.headline.count("p = ") == 3

    s = v.displacement_sentence
    if ring == "flat":
        assert v.displacement == "unclear"
        assert s.startswith("No clear change in the surrounding ring") and "rose" not in s and "fell" not in s
        assert "+130 %" in s and "p = 0.500" in s          # the number is shown with its p, not as a finding
    elif ring == "up":
        assert s.startswith("Events in the surrounding ring rose")
        assert v.displacement == ("displacement" if claimed else "rise_around")
        assert ("possible displacement" in s) == claimed
    else:
        assert s.startswith("Events in the surrounding ring fell")
        assert v.displacement == ("diffusion" if claimed else "fall_around")
        assert ("diffusion of benefits" in s) == claimed


def test_ring_methods_that_disagree_are_named():
    v = verdict({"did": FALL}, {"did": RING["up"]["did"], "its": RING["flat"]["its"]})
    assert v.displacement == "unclear" and "rose" not in v.displacement_sentence
    assert "difference-in-differences shows a rise" in v.displacement_sentence
    assert "interrupted time series has an interval that includes no change" in v.displacement_sentence


def test_a_rise_everywhere_is_claimed_as_a_rise():
    v = verdict({"did": RISE, "its": RISE}, {})
    assert v.effect == "rise" and v.headline.startswith("events rose") and v.displacement == "none"


def test_missing_estimates_neither_support_nor_block_and_are_named():
    v = verdict({"did": FALL, "its": _e(None, None, None, None), "synthetic_control": FALL2}, {})
    assert v.effect == "fall" and "No estimate from interrupted time series" in v.headline
    v = verdict({"did": _e(math.nan, math.nan, math.nan, math.nan)}, {})
    assert v.effect == "none" and v.headline.startswith("No estimate")


def test_an_interval_that_disagrees_with_its_p_counts_as_unclear():
    # the reported bug: "+199 %" with an interval excluding zero but a placebo p of 0.095
    bad = _e(1.99, 0.91, 3.68, 0.095)
    assert direction(bad) == "unclear"
    assert verdict({"did": bad}, {}).effect == "unclear"
    assert direction(_e(-0.3, -0.41, -0.01, 0.04)) == "fall"


# ------------------------------------------------------------------ intervals invert the same test
@pytest.mark.parametrize("k", [5, 19, 20, 40, 99])
def test_placebo_interval_excludes_zero_exactly_when_p_rejects(k):
    rng = np.random.default_rng(k)
    for _ in range(300):
        placebo = rng.normal(0, 0.2, k)
        d = float(rng.normal(0, 0.35))
        if rng.random() < 0.2:                       # exact ties with a placebo
            d = float(abs(placebo[rng.integers(k)]) * rng.choice([-1, 1]))
        p, lo, hi = placebo_test(d, placebo, 0.05)
        assert p == pytest.approx((1 + np.sum(np.abs(placebo) >= abs(d) - 1e-12)) / (1 + k))
        if k < 19:
            assert math.isnan(lo) and math.isnan(hi) and not rejects(p)   # no value can be rejected
        else:
            assert lo <= d <= hi
            assert (lo > 0 or hi < 0) == rejects(p), (d, p, lo, hi)


def test_did_and_synthetic_control_intervals_agree_with_their_p():
    rng = np.random.default_rng(11)
    hits = {"did": 0, "sc": 0}
    for rep in range(12):
        y = rng.poisson(4, (120, 60)).astype(float)
        post = np.arange(60) >= 44
        y[0, post] = rng.poisson(4 * rng.choice([0.3, 0.7, 1.0, 1.6]), post.sum())
        m = match_controls(y[:, ~post], np.array([0]), np.arange(1, 120), 20, seed=rep)
        d = did_matched(y, post, np.array([0]), m)
        assert d.inference == "placebo" and d.ci_low <= d.relative_effect <= d.ci_high
        assert (d.ci_low > 0 or d.ci_high < 0) == rejects(d.p)
        hits["did"] += rejects(d.p)
        groups = np.stack([y[m[:, g]].sum(0) for g in range(20)])
        sc = synthetic_control(y[0], groups, post)
        if math.isfinite(sc.ci_low):
            assert (sc.ci_low > 0 or sc.ci_high < 0) == rejects(sc.p)
            hits["sc"] += rejects(sc.p)
        else:
            assert not rejects(sc.p)
    assert hits["did"] >= 1          # the matrix is not vacuous: some panels do reject


def test_did_with_few_placebos_uses_the_model_test_for_both():
    rng = np.random.default_rng(3)
    y = rng.poisson(3, (40, 50)).astype(float)
    post = np.arange(50) >= 40
    m = match_controls(y[:, ~post], np.array([0, 1]), np.arange(2, 40), 5)
    d = did_matched(y, post, np.array([0, 1]), m)
    assert d.inference in ("model", "placebo_spread")
    if d.inference == "model":
        assert d.p == d.p_model
    assert (d.ci_low > 0 or d.ci_high < 0) == rejects(d.p)


def test_few_placebos_that_vary_widely_widen_the_buffer_interval():
    # issue 15: the ring rose "+130 %" with a model p ~ 0 but a placebo p of 0.5 -> the placebos'
    # spread, not the Poisson model, is the error under no effect
    from analytics.evaluation import _few_placebos_test
    kind, p, lo, hi = _few_placebos_test(0.83, 0.2, np.array([0.9, -0.8, 0.85, -0.1, 0.3]), 0.05)
    assert kind == "placebo_spread" and p > 0.05 and lo < 0 < hi
    kind, p, lo, hi = _few_placebos_test(0.83, 0.2, np.array([0.05, -0.04, 0.02, -0.01, 0.03]), 0.05)
    assert kind == "model" and p < 0.05 and lo > 0
    assert p == pytest.approx(2 * (1 - __import__("scipy").stats.norm.cdf(0.83 / 0.2)))
