"""Shared pieces of the evaluation methods: outcomes, the placebo test and the one significance rule."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from analytics.errors import InvalidInputError


#: Outcomes an evaluation can use (cube columns, or computed from them).
OUTCOMES = ("reports_non_police", "reports", "found", "episodes_started")
#: Outcomes that presence itself inflates: officers on site find young people and file reports.
DETECTION_DRIVEN = {
    "found": "found-at counts rise when officers are present to find young people",
    "reports": "it includes police-sourced reports, which rise when officers are present",
    "reports_police": "police-sourced reports rise when officers are present",
    "found_episodes": "found-at counts rise when officers are present to find young people",
}


def _z(alpha: float) -> float:
    if not 0 < alpha < 1:
        raise InvalidInputError(f"alpha must be between 0 and 1; received {alpha!r}.")
    return float(stats.norm.ppf(1 - alpha / 2))


def _count_arg(name: str, value) -> float:
    try:
        v = float(np.sum(np.asarray(value, dtype=np.float64)))
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{name} must be a count or counts; received {value!r}.") from exc
    if not math.isfinite(v) or v < 0:
        raise InvalidInputError(f"{name} must be finite and >= 0; received {value!r}.")
    return v


def _clean(v):
    if isinstance(v, (float, np.floating)):
        return None if not math.isfinite(float(v)) else round(float(v), 6)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    return v


#: Tolerance for ties between an estimate and a placebo (the same in the p and in its interval).
_TIE = 1e-12


def placebo_test(log_effect: float, placebo_log_effects, alpha: float = 0.05) -> tuple[float, float, float]:
    """Two-sided placebo-in-space permutation p and the interval that inverts the same test.

    Returns ``(p, low, high)`` on the log scale. ``p = (1 + #{|d_g| >= |d|}) / (1 + K)`` over
    the K finite placebo log effects ``d_g``. Testing "the effect is θ" with the same
    statistic gives ``p(θ) = (1 + #{|d_g| >= |d − θ|}) / (1 + K)``; the interval is every θ
    with ``p(θ) > alpha``: ``d ± a_(m+1)`` where ``a_(1) >= a_(2) >= …`` are the sorted
    ``|d_g|`` and ``m = floor(alpha (1 + K) − 1)``. So the interval excludes 0 exactly
    when ``p <= alpha``: the two cannot disagree. With fewer than ``1/alpha − 1`` placebos
    (19 at α = 0.05) no value can be rejected and the interval is unbounded (NaN, NaN).

    Examples
    --------
    >>> p, lo, hi = placebo_test(0.5, [0.1, -0.2, 0.3] * 7, 0.05)
    >>> round(p, 4), round(lo, 4), round(hi, 4)
    (0.0455, 0.2, 0.8)
    """
    a = np.abs(np.asarray(placebo_log_effects, dtype=np.float64))
    a = np.sort(a[np.isfinite(a)])[::-1]
    if not math.isfinite(log_effect) or not len(a):
        return math.nan, math.nan, math.nan
    k = len(a)
    p = float((1 + np.sum(a >= abs(log_effect) - _TIE)) / (1 + k))
    m = math.floor(alpha * (1 + k) - 1 + 1e-9)
    if m < 0:
        return p, math.nan, math.nan
    c = float(a[min(m, k - 1)]) + _TIE
    return p, log_effect - c, log_effect + c


def rejects(p: float | None, alpha: float = 0.05) -> bool:
    """The one significance rule of the evaluation: ``p <= alpha`` (a permutation p of 1/20 rejects at 0.05)."""
    return p is not None and math.isfinite(p) and p <= alpha + _TIE


def outcome_series(frame: pd.DataFrame, outcome: str) -> pd.Series:
    """The outcome column of a cube frame; ``reports_non_police`` = reports − reports_police.

    Examples
    --------
    >>> f = pd.DataFrame({"reports": [5, 2], "reports_police": [2, 0]})
    >>> outcome_series(f, "reports_non_police").tolist()
    [3, 2]
    """
    if outcome == "reports_non_police":
        return (frame["reports"] - frame["reports_police"]).rename(outcome)
    column = {"found": "found_episodes"}.get(outcome, outcome)
    if column not in frame.columns:
        raise InvalidInputError(f"Outcome {outcome!r} is not a cube column; use one of {', '.join(OUTCOMES)}.")
    return frame[column].rename(outcome)
