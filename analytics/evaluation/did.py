"""Difference-in-differences against matched controls, with placebo-in-space inference."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import stats

from analytics.evaluation.common import _clean, _z, placebo_test


@dataclass(frozen=True)
class DiDResult:
    """Difference-in-differences: relative effect, interval and p values."""

    relative_effect: float
    ci_low: float
    ci_high: float
    p: float                 # the p the interval inverts (see ``inference``)
    p_model: float           # quasi-Poisson Wald p
    p_placebo: float
    log_effect: float
    se: float
    dispersion: float        # Pearson chi2 / df, floored at 1
    n_placebos: int
    placebo_effects: tuple = ()
    pre_fit: dict = field(default_factory=dict)
    inference: str = "placebo"   # "placebo" (permutation p + its inverted interval), "model" or "placebo_spread"
    notes: tuple = ()

    def as_dict(self) -> dict:
        d = asdict(self)
        d["placebo_effects"] = [round(float(x), 4) for x in self.placebo_effects]
        return _clean(d)


#: Without enough placebos for a permutation test, a model test needs at least this many control events
#: in each period: a control of one or two events makes any ratio look "significant".
MIN_CONTROL_EVENTS = 10
FEW_CONTROL_EVENTS_NOTE = ("No estimate: too few placebo groups for a placebo test and fewer than "
                           f"{MIN_CONTROL_EVENTS} control events in a period, too few for a stable ratio.")


#: Added to each of the four period totals when one of them is zero (Haldane 1956; Anscombe 1956).
ZERO_CORRECTION = 0.5


def zero_corrected(tp: float, tq: float, cp: float, cq: float) -> tuple[float, float, float, float]:
    """The four period totals (treated before/after, control before/after) for a ratio of ratios.

    All positive: unchanged. One or more zero, but the treated and the control series each have an
    event in some period: :data:`ZERO_CORRECTION` added to all four (the Haldane–Anscombe rule for a
    log ratio with a zero cell), so a target with no event after the start gets a bounded estimate
    (e.g. 20 before, 0 after, controls 200 and 200: log(0.5/200.5) − log(20.5/200.5) = −98 %) instead
    of −100 % (the Poisson MLE, −∞ on the log scale); the placebo groups get the same rule, so the
    test and its interval treat them alike. A series with no event at all: NaN (nothing to compare).

    Examples
    --------
    >>> zero_corrected(20, 0, 200, 200)
    (20.5, 0.5, 200.5, 200.5)
    >>> zero_corrected(4, 2, 10, 12)
    (4, 2, 10, 12)
    """
    if tp + tq <= 0 or cp + cq <= 0:
        return math.nan, math.nan, math.nan, math.nan
    if min(tp, tq, cp, cq) > 0:
        return tp, tq, cp, cq
    z = ZERO_CORRECTION
    return tp + z, tq + z, cp + z, cq + z


def did_poisson(treated, control, post, alpha: float = 0.05) -> tuple[float, float, float, float]:
    """Poisson DiD of two weekly series: (log effect, se, Wald p, dispersion).

    Notes
    -----
    The model is log E[Y_gt] = α_g + γ_t + δ·[g = treated, t in post] (unit and week fixed
    effects). Conditioning on each week's total turns it into a binomial model whose MLE
    is closed-form, δ̂ = log(T_post / C_post) − log(T_pre / C_pre), with Wald variance
    1/T_pre + 1/T_post + 1/C_pre + 1/C_post; that is multiplied by the quasi-likelihood
    dispersion (Pearson χ² / df, floored at 1) so over-dispersion widens the interval.
    Identical to a statsmodels Poisson GLM with both sets of fixed effects (tested). A period total
    of zero: the totals get :func:`zero_corrected`'s +0.5 (a bounded estimate instead of −100 %).
    """
    t, c = np.asarray(treated, dtype=np.float64), np.asarray(control, dtype=np.float64)
    post = np.asarray(post, dtype=bool)
    tp, tq, cp, cq = zero_corrected(t[~post].sum(), t[post].sum(), c[~post].sum(), c[post].sum())
    if not math.isfinite(tp):
        return math.nan, math.nan, math.nan, math.nan
    delta = math.log(tq / cq) - math.log(tp / cp)
    n = t + c
    prob = np.where(post, tq / (tq + cq), tp / (tp + cp))
    ok = n > 0
    x2 = float(np.sum((t[ok] - n[ok] * prob[ok]) ** 2 / (n[ok] * prob[ok] * (1 - prob[ok]))))
    df = int(ok.sum()) - 2
    disp = max(1.0, x2 / df) if df > 0 else 1.0
    se = math.sqrt(disp * (1 / tp + 1 / tq + 1 / cp + 1 / cq))
    p = float(2 * stats.norm.sf(abs(delta / se)))
    return delta, se, p, disp


def did_matched(y: np.ndarray, post: np.ndarray, treated: np.ndarray, matches: np.ndarray,
                alpha: float = 0.05) -> DiDResult:
    """DiD of the treated cells against their matched controls, with placebo-in-space p.

    Parameters
    ----------
    y : array (n_units, n_weeks)
    post : bool array (n_weeks,)
    treated : int array of treated rows
    matches : int array (n_treated, k) from :func:`match_controls`

    Notes
    -----
    Treated series = sum over treated cells; control series = sum over all matched cells
    (its level is absorbed by the unit effect). Placebo-in-space: each match column g
    (one look-alike of every treated cell) is in turn treated as if it had been treated,
    against the other columns; p = (1 + #{|δ_g| ≥ |δ|}) / (1 + k) (Abadie et al. 2010 for
    the idea; two-sided).

    One test for both p and interval (``inference``): with enough placebos for the
    permutation test to reach ``alpha`` (≥ 19 at α = 0.05), p is the placebo p and the
    interval inverts it (:func:`placebo_test`: δ ± the largest placebo |δ_g| allowed at
    ``alpha``); with fewer (e.g. the buffer's 5 look-alike groups), p is the quasi-Poisson
    Wald p of :func:`did_poisson` and the interval its Wald interval, with the standard
    error widened to the placebos' spread (and a t critical value) when that is larger
    (``inference = "placebo_spread"``). Either way the interval excludes no change exactly
    when p ≤ alpha. Without a placebo test and with fewer than :data:`MIN_CONTROL_EVENTS`
    control events before or after, no effect is estimated (``inference = "none"``).
    """
    y = np.asarray(y, dtype=np.float64)
    post = np.asarray(post, dtype=bool)
    z_a = _z(alpha)
    t_series = y[treated].sum(0)
    groups = np.stack([y[matches[:, g]].sum(0) for g in range(matches.shape[1])])   # (k, weeks)
    c_series = groups.sum(0)
    delta, se, p_model, disp = did_poisson(t_series, c_series, post, alpha)
    placebo = []
    if groups.shape[0] >= 2:
        total = groups.sum(0)
        for g in range(groups.shape[0]):
            d_g, *_ = did_poisson(groups[g], total - groups[g], post, alpha)
            if math.isfinite(d_g):
                placebo.append(d_g)
    placebo_arr = np.asarray(placebo)
    p_pl, lo_pl, hi_pl = placebo_test(delta, placebo_arr, alpha)
    pre = ~post
    pre_fit = {"treated_pre_mean": float(t_series[pre].mean()),
               "control_pre_mean_per_group": float(c_series[pre].mean() / groups.shape[0]),
               "pre_correlation": float(np.corrcoef(t_series[pre], c_series[pre])[0, 1])
               if t_series[pre].std() > 0 and c_series[pre].std() > 0 else math.nan}
    if not math.isfinite(delta):
        return DiDResult(math.nan, math.nan, math.nan, math.nan, math.nan, p_pl, math.nan, math.nan, math.nan,
                         len(placebo_arr), tuple(np.expm1(placebo_arr)), pre_fit)
    if math.isfinite(lo_pl):
        inference, p, lo, hi = "placebo", p_pl, lo_pl, hi_pl
    elif min(c_series[pre].sum(), c_series[post].sum()) < MIN_CONTROL_EVENTS:
        return DiDResult(math.nan, math.nan, math.nan, math.nan, p_model, p_pl, math.nan, math.nan, disp,
                         len(placebo_arr), tuple(np.expm1(placebo_arr)), pre_fit, "none",
                         (FEW_CONTROL_EVENTS_NOTE,))
    else:
        inference, p, lo, hi = _few_placebos_test(delta, se, placebo_arr, alpha)
    return DiDResult(math.expm1(delta), math.expm1(lo), math.expm1(hi), p, p_model, p_pl, delta, se, disp,
                     len(placebo_arr), tuple(np.expm1(placebo_arr)), pre_fit, inference)


def _few_placebos_test(delta: float, se: float, placebo: np.ndarray, alpha: float):
    """Wald test and interval when there are too few placebos for a permutation test at ``alpha``.

    The standard error is the larger of the model's and the placebo log effects' standard
    deviation (their spread is the estimator's error under no effect, which the Poisson model
    can understate); with the placebo spread the critical value is Student's t with K − 1
    degrees of freedom. p and interval come from the same statistic, so they agree."""
    pl = placebo[np.isfinite(placebo)]
    sd = float(np.std(pl, ddof=1)) if len(pl) >= 2 else math.nan
    if math.isfinite(sd) and sd > se:
        dist, used, kind = stats.t(len(pl) - 1), sd, "placebo_spread"
    else:
        dist, used, kind = stats.norm, se, "model"
    crit = float(dist.ppf(1 - alpha / 2))
    return kind, float(2 * dist.sf(abs(delta) / used)), delta - crit * used, delta + crit * used
