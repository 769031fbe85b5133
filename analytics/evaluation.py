"""Did a disruption work, and did it displace harm? (METHODS §9, researchers).

Pure computation on counts, arrays and DataFrames; no files, no DuckDB. Each
estimator is one function returning a frozen dataclass whose fields use the
papers' notation, so a reader holding the paper can follow the code:

* :func:`wdd` — weighted displacement difference (Wheeler & Ratcliffe 2018), its
  Poisson variance, z and p.
* :func:`wdq` — weighted displacement quotient (Bowers & Johnson 2003) with a
  bootstrap interval; meaningful only when the treated area improved (SM < 0).
* :func:`match_controls` + :func:`did_matched` — difference-in-differences against
  control cells matched on pre-period level and trend (buffer excluded), with a
  placebo-in-space permutation p.
* :func:`its_glm` — interrupted time series: segmented Poisson / negative-binomial
  GLM with trend and season (statsmodels).
* :func:`synthetic_control` — synthetic control on aggregated periods, weights ≥ 0
  summing to 1 (constrained least squares, scipy), placebo-in-space p.
* :func:`minimum_detectable_effect`, :func:`power_for_effect`, :func:`weeks_needed` —
  pre-analysis power: the smallest fall a design can detect (root search over falls of
  up to 95 %), and the post weeks needed for a stated fall.
* :func:`placebo_test` — a placebo-in-space p and the interval that inverts the same test
  (so an interval excludes zero exactly when p <= alpha; the verdict rule lives in
  :mod:`analytics.verdict`).
* :func:`rri`, :func:`coverage_metrics`, :func:`ring_kde_scores`,
  :func:`bootstrap_mean_ci` — pieces of the rolling-origin accuracy backtest
  (hit rate, PAI and PEI* come from :mod:`analytics.accuracy`).

Relative effects are ``exp(log effect) - 1``: −0.30 is a 30 % fall. Every function
that samples takes ``seed``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, stats

from analytics.accuracy import hit_rate, max_capture, pai, pei_star
from analytics.errors import InvalidInputError

__all__ = [
    "WDDResult", "wdd", "WDQResult", "wdq", "match_controls", "DiDResult", "did_poisson", "did_matched",
    "ITSResult", "its_glm", "SCResult", "synthetic_control", "simplex_weights", "minimum_detectable_effect",
    "power_for_effect", "weeks_needed", "MAX_DETECTABLE_FALL", "placebo_test", "rejects",
    "DETECTION_DRIVEN", "OUTCOMES", "outcome_series", "rri", "coverage_metrics", "ring_kde_scores",
    "bootstrap_mean_ci", "evaluate_panel", "PanelEvaluation",
]

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


# ----------------------------------------------------------------------------------------- WDD
@dataclass(frozen=True)
class WDDResult:
    """Weighted displacement difference; negative = fewer events net of displacement."""

    wdd: float
    variance: float
    se: float
    z: float
    p: float
    ci_low: float
    ci_high: float
    delta_t: float
    delta_c: float
    delta_d: float
    delta_cd: float
    direct: float            # ΔT − ΔC (the treated area alone)
    direct_z: float
    displacement: float      # ΔD − ΔC_D (> 0: displacement to the buffer; < 0: diffusion of benefits)
    displacement_z: float

    def as_dict(self) -> dict:
        return _clean(asdict(self))


def wdd(t_before, t_after, c_before, c_after, d_before=0, d_after=0, cd_before=0, cd_after=0, *,
        control_weight: float = 1.0, buffer_control_weight: float = 1.0, before_scale: float = 1.0,
        alpha: float = 0.05) -> WDDResult:
    """Weighted displacement difference test (Wheeler & Ratcliffe 2018).

    Parameters
    ----------
    t_before, t_after, c_before, c_after, d_before, d_after, cd_before, cd_after : count or counts
        Events in the treated area (T), its control (C), the displacement buffer (D) and
        the buffer's control (C_D), before and after (arrays are summed).
    control_weight, buffer_control_weight : float, default 1
        Multipliers of the control counts (e.g. 1/k when the control is k matched cells per
        treated cell); 1 gives the textbook test.
    before_scale : float, default 1
        Multiplier of every "before" count, ``weeks_after / weeks_before`` when the periods
        differ in length; 1 (equal periods) gives the textbook test.

    Notes
    -----
    Wheeler, A. P. & Ratcliffe, J. H. (2018), *A simple weighted displacement difference
    test to evaluate place based crime interventions*, Crime Science 7:11.

    .. math:: WDD = \\Delta T - \\Delta C + \\Delta D - \\Delta C_D, \\quad
              \\operatorname{Var}(WDD) = \\textstyle\\sum \\text{of the eight counts}

    (Δ = after − before; counts taken as independent Poisson). With weights,
    ``ΔC = w_C (C_a − s C_b)`` and each count enters the variance times its squared
    multiplier. z = WDD / √Var, p two-sided from the normal.

    Examples
    --------
    >>> r = wdd(60, 40, 50, 55, 30, 35, 40, 38)
    >>> r.wdd, r.variance, round(r.z, 4)
    (-18.0, 348.0, -0.9649)
    """
    tb, ta, cb, ca = (_count_arg(n, v) for n, v in (("t_before", t_before), ("t_after", t_after),
                                                     ("c_before", c_before), ("c_after", c_after)))
    db, da, cdb, cda = (_count_arg(n, v) for n, v in (("d_before", d_before), ("d_after", d_after),
                                                       ("cd_before", cd_before), ("cd_after", cd_after)))
    s, wc, wcd = float(before_scale), float(control_weight), float(buffer_control_weight)
    if min(s, wc, wcd) <= 0:
        raise InvalidInputError("before_scale and the control weights must be > 0.")
    z_a = _z(alpha)
    d_t, d_c = ta - s * tb, wc * (ca - s * cb)
    d_d, d_cd = da - s * db, wcd * (cda - s * cdb)
    var_direct = ta + s * s * tb + wc * wc * (ca + s * s * cb)
    var_disp = da + s * s * db + wcd * wcd * (cda + s * s * cdb)
    value = d_t - d_c + d_d - d_cd
    var = var_direct + var_disp
    se = math.sqrt(var) if var > 0 else math.nan
    z = value / se if se > 0 else math.nan
    p = float(2 * stats.norm.sf(abs(z))) if math.isfinite(z) else math.nan

    def _zz(v, vv):
        return v / math.sqrt(vv) if vv > 0 else math.nan

    return WDDResult(value, var, se, z, p, value - z_a * se, value + z_a * se, d_t, d_c, d_d, d_cd,
                     d_t - d_c, _zz(d_t - d_c, var_direct), d_d - d_cd, _zz(d_d - d_cd, var_disp))


# ----------------------------------------------------------------------------------------- WDQ
@dataclass(frozen=True)
class WDQResult:
    """Weighted displacement quotient and its success measure."""

    sm: float               # success measure R_a/C_a − R_b/C_b (< 0: the treated area improved)
    bdm: float              # buffer displacement measure B_a/C_a − B_b/C_b
    wdq: float              # BDM / SM; NaN when not meaningful
    meaningful: bool        # SM < 0 (Bowers & Johnson: only then is WDQ interpretable)
    interpretation: str
    ci_low: float
    ci_high: float
    bootstrap: str          # "weeks" (paired resampling of weeks) or "poisson" (parametric)
    n_boot: int
    share_sm_not_negative: float  # replicates where the treated area did not improve (left out of the interval)

    def as_dict(self) -> dict:
        return _clean(asdict(self))


def _wdq_parts(r_b, r_a, c_b, c_a, b_b, b_a):
    with np.errstate(divide="ignore", invalid="ignore"):
        sm = r_a / c_a - r_b / c_b
        bdm = b_a / c_a - b_b / c_b
        q = np.where(sm < 0, bdm / sm, np.nan)
    return sm, bdm, q


def _wdq_text(sm: float, q: float) -> str:
    if not (sm < 0):
        return ("not meaningful: the treated area did not improve relative to the control (SM >= 0), so there is "
                "no benefit to be displaced or diffused")
    if q > 0:
        return "diffusion of benefits: the buffer also improved relative to the control"
    if q < -1:
        return "displacement larger than the benefit: the buffer worsened by more than the treated area improved"
    if q < 0:
        return "some displacement: the buffer worsened, by less than the treated area improved"
    return "no change in the buffer relative to the control"


def wdq(r_before, r_after, c_before, c_after, b_before, b_after, *, n_boot: int = 2000, alpha: float = 0.05,
        seed: int = 0) -> WDQResult:
    """Weighted displacement quotient (Bowers & Johnson 2003) with a bootstrap interval.

    Parameters
    ----------
    r_before, r_after, c_before, c_after, b_before, b_after : count or 1-d weekly counts
        Treated area (R), control (C) and buffer (B), before and after. Weekly series
        are bootstrapped by resampling weeks within each period (the same weeks for all
        three areas, keeping their correlation); totals alone get a parametric Poisson
        bootstrap.

    Notes
    -----
    Bowers, K. J. & Johnson, S. D. (2003), *Measuring the geographical displacement and
    diffusion of benefit effects of crime prevention activity*, J. Quant. Criminology 19.

    .. math:: SM = R_a/C_a - R_b/C_b, \\quad BDM = B_a/C_a - B_b/C_b, \\quad WDQ = BDM / SM

    WDQ is meaningful only when SM < 0 (the treated area improved). WDQ > 0: diffusion
    of benefits; −1 < WDQ < 0: some displacement; WDQ < −1: displacement exceeding the
    benefit. The interval is the percentile interval of the replicates in which SM < 0.

    Examples
    --------
    >>> r = wdq(100, 60, 1000, 1000, 50, 60, n_boot=0)
    >>> round(r.sm, 4), round(r.bdm, 4), round(r.wdq, 4), r.meaningful
    (-0.04, 0.01, -0.25, True)
    """
    arrays = [np.atleast_1d(np.asarray(v, dtype=np.float64)) for v in
              (r_before, r_after, c_before, c_after, b_before, b_after)]
    for name, a in zip(("r_before", "r_after", "c_before", "c_after", "b_before", "b_after"), arrays):
        if a.ndim != 1 or not np.all(np.isfinite(a)) or (a < 0).any():
            raise InvalidInputError(f"{name} must be a count or a 1-d series of counts >= 0.")
    rb, ra, cb, ca, bb, ba = arrays
    if len(rb) != len(cb) or len(rb) != len(bb) or len(ra) != len(ca) or len(ra) != len(ba):
        raise InvalidInputError("Treated, control and buffer series must cover the same weeks in each period.")
    if cb.sum() <= 0 or ca.sum() <= 0:
        raise InvalidInputError("The control area has no events before or after; WDQ needs C_b > 0 and C_a > 0.")
    sm, bdm, q = (float(x) for x in _wdq_parts(rb.sum(), ra.sum(), cb.sum(), ca.sum(), bb.sum(), ba.sum()))
    meaningful = sm < 0
    z_lo, z_hi = alpha / 2, 1 - alpha / 2
    lo = hi = math.nan
    share_bad = math.nan
    method = "weeks" if len(rb) >= 2 and len(ra) >= 2 else "poisson"
    if n_boot > 0:
        rng = np.random.default_rng(seed)
        if method == "weeks":
            ib = rng.integers(0, len(rb), (n_boot, len(rb)))
            ia = rng.integers(0, len(ra), (n_boot, len(ra)))
            parts = [rb[ib].sum(1), ra[ia].sum(1), cb[ib].sum(1), ca[ia].sum(1), bb[ib].sum(1), ba[ia].sum(1)]
        else:
            parts = [rng.poisson(x.sum(), n_boot).astype(float) for x in (rb, ra, cb, ca, bb, ba)]
        bsm, _, bq = _wdq_parts(*parts)
        ok = bsm < 0
        share_bad = float(1 - ok.mean())
        if meaningful and ok.sum() >= 20:
            lo, hi = (float(x) for x in np.quantile(bq[ok], [z_lo, z_hi]))
    return WDQResult(sm, bdm, q if meaningful else math.nan, bool(meaningful), _wdq_text(sm, q), lo, hi, method,
                     int(n_boot), share_bad)


# ----------------------------------------------------------------------------------------- matching
def match_controls(y_pre: np.ndarray, treated: np.ndarray, pool: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """For each treated row, the ``k`` pool rows most alike in pre-period level and trend.

    Parameters
    ----------
    y_pre : array (n_units, n_pre_weeks)
        Pre-period weekly counts of every unit.
    treated, pool : int arrays
        Row indices of the treated units and of the candidate controls (the caller leaves
        the treated area, the buffer and any guard band out of ``pool``).
    k : int
        Controls per treated unit (without replacement across all treated units).

    Returns
    -------
    int array (n_treated, k)
        Column g holds the g-th best match of each treated unit; column g as a whole is a
        control *group* alike the treated area, used as a placebo-in-space.

    Notes
    -----
    Level = √(mean weekly count) and trend = √(mean of the pre-period's second half) −
    √(mean of its first half): on the square-root scale Poisson noise has a roughly
    constant variance (1/4), so both features share one unit and the distance is plain
    Euclidean. Treated units are matched busiest first (greedy); exact ties (many cells
    have no events) are broken by a seeded random order.
    """
    y_pre = np.asarray(y_pre, dtype=np.float64)
    treated, pool = np.asarray(treated, dtype=np.int64), np.asarray(pool, dtype=np.int64)
    if y_pre.ndim != 2 or y_pre.shape[1] < 4:
        raise InvalidInputError("Matching needs at least 4 pre-period weeks.")
    if k < 1 or len(pool) < k * len(treated):
        raise InvalidInputError(
            f"Not enough candidate control cells: {len(pool)} for {len(treated)} treated cell(s) x {k} matches.")
    half = y_pre.shape[1] // 2

    def feats(rows):
        sub = y_pre[rows]
        return np.column_stack([np.sqrt(sub.mean(1)), np.sqrt(sub[:, half:].mean(1)) - np.sqrt(sub[:, :half].mean(1))])

    ft, fp = feats(treated), feats(pool)
    rng = np.random.default_rng(seed)
    jitter = rng.random(len(pool)) * 1e-9     # seeded tie-break
    used = np.zeros(len(pool), dtype=bool)
    out = np.empty((len(treated), k), dtype=np.int64)
    for i in np.argsort(-ft[:, 0], kind="stable"):
        d = np.hypot(fp[:, 0] - ft[i, 0], fp[:, 1] - ft[i, 1]) + jitter
        d[used] = np.inf
        best = np.argpartition(d, k - 1)[:k]
        best = best[np.argsort(d[best], kind="stable")]
        used[best] = True
        out[i] = pool[best]
    return out


# ----------------------------------------------------------------------------------------- DiD
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

    def as_dict(self) -> dict:
        d = asdict(self)
        d["placebo_effects"] = [round(float(x), 4) for x in self.placebo_effects]
        return _clean(d)


def did_poisson(treated, control, post, alpha: float = 0.05) -> tuple[float, float, float, float]:
    """Poisson DiD of two weekly series: (log effect, se, Wald p, dispersion).

    Notes
    -----
    The model is log E[Y_gt] = α_g + γ_t + δ·[g = treated, t in post] (unit and week fixed
    effects). Conditioning on each week's total turns it into a binomial model whose MLE
    is closed-form, δ̂ = log(T_post / C_post) − log(T_pre / C_pre), with Wald variance
    1/T_pre + 1/T_post + 1/C_pre + 1/C_post; that is multiplied by the quasi-likelihood
    dispersion (Pearson χ² / df, floored at 1) so over-dispersion widens the interval.
    Identical to a statsmodels Poisson GLM with both sets of fixed effects (tested).
    """
    t, c = np.asarray(treated, dtype=np.float64), np.asarray(control, dtype=np.float64)
    post = np.asarray(post, dtype=bool)
    tp, tq, cp, cq = t[~post].sum(), t[post].sum(), c[~post].sum(), c[post].sum()
    if min(tp, tq, cp, cq) <= 0:
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
    when p ≤ alpha.
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


# ----------------------------------------------------------------------------------------- ITS
@dataclass(frozen=True)
class ITSResult:
    """Interrupted time series: level change as a relative effect."""

    relative_effect: float
    ci_low: float
    ci_high: float
    p: float
    family: str
    alpha_nb: float
    dispersion: float
    harmonics: int
    slope_change: bool
    fitted: tuple = ()
    counterfactual: tuple = ()
    notes: tuple = ()

    def as_dict(self) -> dict:
        d = asdict(self)
        d.pop("fitted")
        d.pop("counterfactual")
        return _clean(d)


def _season_offset(reference: np.ndarray, post: np.ndarray, harmonics: int, period: float) -> np.ndarray:
    """Log seasonal profile (mean 0 over a year) fitted to a reference series' pre-period (Poisson GLM with
    a linear trend and ``harmonics`` Fourier pairs), evaluated over every week."""
    import statsmodels.api as sm

    n = len(reference)
    t = np.arange(n, dtype=np.float64)
    four = np.column_stack([f(2 * np.pi * h * t / period) for h in range(1, harmonics + 1) for f in (np.sin, np.cos)])
    X = np.column_stack([np.ones(n), (t - t.mean()) / n, four])
    pre = ~post
    res = sm.GLM(np.asarray(reference, dtype=np.float64)[pre], X[pre], family=sm.families.Poisson()).fit()
    return four @ np.asarray(res.params)[2:]


def its_glm(series, post, *, harmonics: int | None = None, period: float = 52.1775, slope_change: bool = False,
            alpha: float = 0.05, overdispersion_threshold: float = 1.2,
            season_reference=None) -> ITSResult:
    """Segmented Poisson / negative-binomial regression of one weekly series.

    Parameters
    ----------
    series : 1-d counts (weeks in order)
    post : bool array, True from the first treated week
    harmonics : int, optional
        Fourier pairs for the season (period 52.18 weeks); default 1 when there are at
        least 52 weeks before the change (2 from 104 weeks), else 0 (recorded in ``notes``).
    slope_change : bool, default False
        Add a post-period trend change; the effect is then the mean relative change over
        the post period (delta method).
    season_reference : 1-d counts, optional
        A busier series sharing the season (e.g. the rest of the study area). When given,
        the seasonal profile is fitted to its pre-period (trend + Fourier pairs) and
        enters the treated model as an offset, so the treated series only has to inform
        its own level, trend and change: with about one year of history, estimating a
        season from a series of a few events a week is too noisy to be useful.

    Notes
    -----
    .. math:: \\log E[Y_t] = β_0 + β_1 t + \\sum_h (a_h \\sin + b_h \\cos)(2π h t / P) + β_2 \\,\\text{post}_t
              \\; [+ β_3 (t - t_0)\\,\\text{post}_t]

    fitted with statsmodels' Poisson GLM; when the Pearson dispersion exceeds
    ``overdispersion_threshold`` the model is refitted as a negative-binomial GLM with α
    estimated by maximum likelihood (Bernal, Cummins & Gasparrini 2017, *Interrupted
    time series regression for the evaluation of public health interventions*, IJE 46).
    Relative effect = exp(β₂) − 1 with a Wald interval.
    """
    import statsmodels.api as sm

    y = np.asarray(series, dtype=np.float64)
    post = np.asarray(post, dtype=bool)
    n = len(y)
    if n != len(post) or post.sum() < 1 or (~post).sum() < 8:
        raise InvalidInputError("ITS needs at least 8 pre-period weeks and 1 post-period week.")
    notes = []
    t0 = int(np.argmax(post))
    if harmonics is None:
        harmonics = 2 if t0 >= 104 else 1 if t0 >= 52 else 0
        if harmonics == 0:
            notes.append(f"Season left out: only {t0} pre-period weeks (52 needed).")
    t = np.arange(n, dtype=np.float64)
    cols = [np.ones(n), (t - t.mean()) / n]
    offset = None
    if harmonics and season_reference is not None:
        ref = np.asarray(season_reference, dtype=np.float64)
        if ref.shape != y.shape or ref[~post].sum() <= 0:
            raise InvalidInputError("season_reference must be a series of counts covering the same weeks.")
        offset = _season_offset(ref, post, harmonics, period)
        notes.append(f"Season ({harmonics} Fourier pair(s)) fitted to the reference series' pre-period and used "
                     "as an offset.")
    else:
        for h in range(1, harmonics + 1):
            cols += [np.sin(2 * np.pi * h * t / period), np.cos(2 * np.pi * h * t / period)]
    cols.append(post.astype(float))
    if slope_change:
        cols.append(np.where(post, (t - t0) / n, 0.0))
    X = np.column_stack(cols)
    j = len(cols) - (2 if slope_change else 1)
    z_a = _z(alpha)
    if y.sum() == 0:
        return ITSResult(math.nan, math.nan, math.nan, math.nan, "none", math.nan, math.nan, harmonics,
                         slope_change, notes=tuple(notes + ["No events in the series."]))
    fam, alpha_nb = "poisson", 0.0
    res = sm.GLM(y, X, family=sm.families.Poisson(), offset=offset).fit()
    disp = float(res.pearson_chi2 / res.df_resid) if res.df_resid > 0 else 1.0
    if disp > overdispersion_threshold:
        try:
            nb = sm.NegativeBinomial(y, X, loglike_method="nb2", offset=offset).fit(disp=0, maxiter=200)
            alpha_nb = float(nb.params[-1])
            if alpha_nb > 1e-8 and np.isfinite(alpha_nb):
                res = sm.GLM(y, X, family=sm.families.NegativeBinomial(alpha=alpha_nb), offset=offset).fit()
                fam = "negative_binomial"
        except Exception as exc:  # noqa: BLE001 - fall back to Poisson, say so
            notes.append(f"Negative-binomial fit failed ({type(exc).__name__}); Poisson kept.")
    params, cov = np.asarray(res.params), np.asarray(res.cov_params())
    if not slope_change:
        log_effect, se = float(params[j]), math.sqrt(max(cov[j, j], 0.0))
    else:
        # mean relative change over post weeks: log of mean exp(b2 + b3 s), delta method
        s = X[post, j + 1]
        g = np.exp(params[j] + params[j + 1] * s)
        m = float(g.mean())
        grad = np.array([g.mean(), (g * s).mean()]) / m
        v = float(grad @ cov[j:j + 2, j:j + 2] @ grad)
        log_effect, se = (math.log(m) if m > 0 else -math.inf), math.sqrt(max(v, 0.0))
    if _separated(log_effect, se, z_a):
        notes.append(_SEPARATED_NOTE)
        return ITSResult(math.nan, math.nan, math.nan, math.nan, fam, alpha_nb, disp, harmonics, slope_change,
                         tuple(np.asarray(res.fittedvalues)), (), tuple(notes))
    rel, lo, hi = math.expm1(log_effect), math.expm1(log_effect - z_a * se), math.expm1(log_effect + z_a * se)
    p = float(2 * stats.norm.sf(abs(log_effect / se)))
    fitted = np.asarray(res.fittedvalues)
    X0 = X.copy()
    X0[:, j:] = 0.0
    counterfactual = np.exp(X0 @ params + (offset if offset is not None else 0.0))
    return ITSResult(rel, lo, hi, p, fam, alpha_nb, disp, harmonics, slope_change, tuple(fitted),
                     tuple(counterfactual), tuple(notes))


#: |log rate ratio| (or its CI bound) beyond this (a ratio of ~5e8) means the GLM is separated:
#: a period with (almost) no events, so the coefficient runs off and no effect is estimable.
_MAX_LOG_EFFECT = 20.0
_SEPARATED_NOTE = ("No ITS effect estimated: the fit is separated (too few events before or after the "
                   "start for a finite rate ratio); use a broader outcome or a longer period.")


def _separated(log_effect: float, se: float, z: float) -> bool:
    """True when a log rate ratio or its CI is non-finite or beyond :data:`_MAX_LOG_EFFECT`."""
    return not (math.isfinite(log_effect) and math.isfinite(se)) or abs(log_effect) + z * se > _MAX_LOG_EFFECT


# ----------------------------------------------------------------------------------------- synthetic control
def simplex_weights(x1: np.ndarray, x0: np.ndarray) -> np.ndarray:
    """Weights w ≥ 0, Σw = 1 minimising ||x1 − x0 w||² (x0: periods × donors).

    Examples
    --------
    >>> w = simplex_weights(np.array([1.0, 2.0, 3.0]), np.array([[1.0, 0.0], [2.0, 0.0], [3.0, 0.0]]))
    >>> np.round(w, 3).tolist()
    [1.0, 0.0]
    """
    x1, x0 = np.asarray(x1, dtype=np.float64), np.asarray(x0, dtype=np.float64)
    m = x0.shape[1]
    if m == 1:
        return np.ones(1)
    H, g = x0.T @ x0, x0.T @ x1

    def f(w):
        r = x1 - x0 @ w
        return float(r @ r)

    def jac(w):
        return 2 * (H @ w - g)

    res = optimize.minimize(f, np.full(m, 1.0 / m), jac=jac, method="SLSQP", bounds=[(0.0, 1.0)] * m,
                            constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1.0,
                                          "jac": lambda w: np.ones_like(w)}],
                            options={"maxiter": 500, "ftol": 1e-12})
    w = np.clip(res.x, 0, None)
    return w / w.sum() if w.sum() > 0 else np.full(m, 1.0 / m)


@dataclass(frozen=True)
class SCResult:
    """Synthetic control on aggregated periods."""

    relative_effect: float
    ci_low: float
    ci_high: float
    p: float
    period_weeks: int
    n_pre_periods: int
    n_post_periods: int
    n_donors: int
    pre_rmspe: float
    post_rmspe: float
    weights: tuple = ()
    treated: tuple = ()
    synthetic: tuple = ()
    placebo_effects: tuple = ()
    notes: tuple = ()
    p_rmspe: float = math.nan     # Abadie's post/pre RMSPE-ratio rank p (reported, not used in the verdict)

    def as_dict(self) -> dict:
        d = asdict(self)
        for key in ("treated", "synthetic"):
            d.pop(key)
        d["weights"] = [round(float(x), 4) for x in self.weights]
        d["placebo_effects"] = [round(float(x), 4) for x in self.placebo_effects]
        return _clean(d)


def _aggregate(y: np.ndarray, post: np.ndarray, period: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Sum weeks into periods of ``period`` weeks, aligned so a period starts at the first post week.
    Leading pre weeks that do not fill a period are dropped; a short last post period is kept."""
    t0 = int(np.argmax(post))
    n_pre = t0 // period
    first = t0 - n_pre * period
    yy = y[..., first:]
    n_post_w = yy.shape[-1] - n_pre * period
    n_post = math.ceil(n_post_w / period)
    pad = n_post * period - n_post_w
    if pad:
        yy = np.concatenate([yy, np.full(yy.shape[:-1] + (pad,), np.nan)], axis=-1)
    agg = np.nansum(yy.reshape(yy.shape[:-1] + (n_pre + n_post, period)), axis=-1)
    scale = np.full(n_pre + n_post, float(period))
    if pad:
        scale[-1] = period - pad
    return agg / scale * period, np.r_[np.zeros(n_pre, bool), np.ones(n_post, bool)], first


def _sc_fit(y1: np.ndarray, y0: np.ndarray, postp: np.ndarray):
    pre = ~postp
    m1 = y1[pre].mean()
    m0 = y0[:, pre].mean(1)
    keep = m0 > 0
    if m1 <= 0 or keep.sum() < 1:
        return None
    x1, x0 = y1 / m1, (y0[keep] / m0[keep, None]).T
    w = simplex_weights(x1[pre], x0[pre])
    synth = (x0 @ w) * m1
    eff = float(y1[postp].sum() / synth[postp].sum() - 1) if synth[postp].sum() > 0 else math.nan
    pre_rmspe = float(np.sqrt(np.mean((y1[pre] - synth[pre]) ** 2)))
    post_rmspe = float(np.sqrt(np.mean((y1[postp] - synth[postp]) ** 2)))
    full_w = np.zeros(len(m0))
    full_w[keep] = w
    return eff, pre_rmspe, post_rmspe, full_w, synth


def synthetic_control(treated, donors, post, *, period_weeks: int = 4, alpha: float = 0.05) -> SCResult:
    """Synthetic control of a weekly series from donor series, on aggregated periods.

    Parameters
    ----------
    treated : 1-d weekly counts
    donors : array (n_donors, n_weeks); the caller leaves the buffer out of the donors
    post : bool array (n_weeks,)
    period_weeks : int, default 4
        Weeks per period (aggregation smooths the weekly noise of small counts).

    Notes
    -----
    Abadie, Diamond & Hainmueller (2010), *Synthetic control methods for comparative
    case studies*, JASA 105. Each series is divided by its pre-period mean (so donors of
    a different size can still combine), then weights w ≥ 0, Σw = 1 minimise the
    pre-period squared error (:func:`simplex_weights`, SLSQP). Relative effect =
    Σ_post treated / Σ_post synthetic − 1. Placebo-in-space: every donor in turn plays
    treated against the others. ``p`` compares the treated |log effect| with the placebo
    |log effects| and the interval inverts that same test (:func:`placebo_test`), so the
    interval excludes no change exactly when p ≤ alpha; with fewer than 19 usable
    placebos (α = 0.05) the interval is unbounded (NaN). Abadie's post/pre RMSPE-ratio
    rank p is kept as ``p_rmspe`` for reference.
    """
    y1 = np.asarray(treated, dtype=np.float64)
    y0 = np.asarray(donors, dtype=np.float64)
    post = np.asarray(post, dtype=bool)
    if y0.ndim != 2 or y0.shape[1] != len(y1) or y0.shape[0] < 2:
        raise InvalidInputError("Synthetic control needs at least 2 donor series covering the same weeks.")
    a1, postp, _ = _aggregate(y1, post, period_weeks)
    a0, _, _ = _aggregate(y0, post, period_weeks)
    notes = []
    if (~postp).sum() < 5:
        notes.append(f"Only {(~postp).sum()} pre-period periods of {period_weeks} weeks; the fit is fragile.")
    fit = _sc_fit(a1, a0, postp)
    if fit is None:
        return SCResult(math.nan, math.nan, math.nan, math.nan, period_weeks, int((~postp).sum()),
                        int(postp.sum()), y0.shape[0], math.nan, math.nan,
                        notes=tuple(notes + ["The treated series has no pre-period events."]))
    eff, pre_r, post_r, w, synth = fit
    ratios, placebo = [], []
    for j in range(a0.shape[0]):
        others = np.delete(a0, j, axis=0)
        f = _sc_fit(a0[j], others, postp)
        if f is None or not math.isfinite(f[0]) or f[1] <= 0:
            continue
        placebo.append(f[0])
        ratios.append(f[2] / f[1])
    ratio = post_r / pre_r if pre_r > 0 else math.inf
    p_rmspe = float((1 + np.sum(np.asarray(ratios) >= ratio - 1e-12)) / (1 + len(ratios))) if ratios else math.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        pl = np.log1p(np.asarray(placebo)) if placebo else np.array([])
    le = math.log1p(eff) if math.isfinite(eff) and eff > -1 else math.nan
    p, lo, hi = placebo_test(le, pl, alpha)
    if math.isfinite(p) and not math.isfinite(lo):
        notes.append(f"Only {int(np.isfinite(pl).sum())} usable placebo donors: too few for a 95 % placebo "
                     "interval (19 needed), so none is given.")
    return SCResult(eff, math.expm1(lo), math.expm1(hi), p, period_weeks, int((~postp).sum()), int(postp.sum()),
                    int(y0.shape[0]), pre_r, post_r, tuple(w), tuple(a1), tuple(synth), tuple(placebo),
                    tuple(notes), p_rmspe)


# ----------------------------------------------------------------------------------------- power
#: The largest fall the power search considers (95 %): beyond it Var(log rate ratio) explodes.
MAX_DETECTABLE_FALL = 0.95


def _power_inputs(baseline_per_week, pre_weeks, post_weeks, alpha, power, dispersion):
    for name, v in (("baseline_per_week", baseline_per_week), ("dispersion", dispersion)):
        if not (isinstance(v, (int, float, np.integer, np.floating)) and v > 0 and math.isfinite(v)):
            raise InvalidInputError(f"{name} must be a number > 0; received {v!r}.")
    if pre_weeks < 1 or post_weeks < 1:
        raise InvalidInputError("pre_weeks and post_weeks must be >= 1.")
    if not 0 < power < 1:
        raise InvalidInputError(f"power must be between 0 and 1; received {power!r}.")
    _z(alpha)


def power_for_effect(effect: float, baseline_per_week: float, pre_weeks: int, post_weeks: int, *,
                     alpha: float = 0.05, control_per_week: float | None = None, dispersion: float = 1.0) -> float:
    """Power of a two-sided Wald test at ``alpha`` on the log rate ratio to detect ``effect``.

    Normal approximation on Poisson counts (λ = ``baseline_per_week``, φ = ``dispersion``):

    .. math:: \\operatorname{Var}(\\log \\widehat{RR}) \\approx φ\\Big(\\frac{1}{λ n_{pre}} +
              \\frac{1}{λ (1+e) n_{post}} \\Big[+ \\frac{1}{λ_C n_{pre}} + \\frac{1}{λ_C n_{post}}\\Big]\\Big),
              \\quad \\text{power}(e) = Φ\\Big(\\frac{|\\log(1+e)|}{SE} - z_{1-α/2}\\Big) +
              Φ\\Big(-\\frac{|\\log(1+e)|}{SE} - z_{1-α/2}\\Big)

    (the bracket only with a control series of λ_C events a week, as in DiD).

    Examples
    --------
    >>> round(power_for_effect(-0.5, 2.0, 52, 16), 3)
    0.733
    """
    if not -1 < effect:
        raise InvalidInputError(f"effect must be > -1 (a fall of less than 100 %); received {effect!r}.")
    lam = float(baseline_per_week)
    v = 1 / (lam * pre_weeks) + 1 / (lam * (1 + effect) * post_weeks)
    if control_per_week:
        v += 1 / (control_per_week * pre_weeks) + 1 / (control_per_week * post_weeks)
    x = abs(math.log1p(effect)) / math.sqrt(dispersion * v)
    z = _z(alpha)
    return float(stats.norm.cdf(x - z) + stats.norm.cdf(-x - z))


def minimum_detectable_effect(baseline_per_week: float, pre_weeks: int, post_weeks: int, *, alpha: float = 0.05,
                              power: float = 0.8, control_per_week: float | None = None,
                              dispersion: float = 1.0) -> float:
    """Smallest relative fall a two-sided test at ``alpha`` detects with probability ``power``.

    Parameters
    ----------
    baseline_per_week : float
        Expected weekly count in the target area without intervention.
    pre_weeks, post_weeks : int
    control_per_week : float, optional
        Weekly count of the control series (DiD); None = a single series (ITS-like).
    dispersion : float, default 1
        Variance / mean of the counts (1 = Poisson; larger for over-dispersed data).

    Returns
    -------
    float
        A negative relative effect, e.g. −0.25 (a fall of 25 %); NaN when no fall of up
        to 95 % (:data:`MAX_DETECTABLE_FALL`) is detectable with this data.

    Notes
    -----
    Power is :func:`power_for_effect` (normal approximation on Poisson counts). It is not
    monotone in the fall: a larger fall leaves fewer events after, so the variance grows
    as 1/(1+e) and explodes near −100 %. The search therefore scans falls from 0.1 % to
    95 % on a fine grid, takes the first grid interval where power − ``power`` changes
    sign, and refines the root there with :func:`scipy.optimize.brentq`.

    Examples
    --------
    >>> round(minimum_detectable_effect(8, 52, 16), 3)
    -0.275
    """
    _power_inputs(baseline_per_week, pre_weeks, post_weeks, alpha, power, dispersion)

    def gap(e):
        return power_for_effect(e, baseline_per_week, pre_weeks, post_weeks, alpha=alpha,
                                control_per_week=control_per_week, dispersion=dispersion) - power

    grid_ = -np.linspace(0.001, MAX_DETECTABLE_FALL, 400)
    g = np.array([gap(e) for e in grid_])
    hit = np.flatnonzero(g >= 0)
    if not len(hit):
        return math.nan
    i = int(hit[0])
    if i == 0:
        return float(grid_[0])
    return float(optimize.brentq(gap, grid_[i], grid_[i - 1], xtol=1e-10))


def weeks_needed(effect: float, baseline_per_week: float, pre_weeks: int, *, alpha: float = 0.05,
                 power: float = 0.8, control_per_week: float | None = None, dispersion: float = 1.0,
                 max_weeks: int = 520) -> int | None:
    """Post-period weeks needed to detect ``effect`` (e.g. −0.20) with probability ``power``.

    The smallest whole number of weeks n with :func:`power_for_effect` (effect, …, n) ≥
    ``power``; power grows with n, so this is a plain search. None when even ``max_weeks``
    (10 years) is not enough (the pre-period's own noise then limits the design: more
    history is needed, not a longer wait).

    Examples
    --------
    >>> weeks_needed(-0.2, 8, 52)
    40
    """
    _power_inputs(baseline_per_week, pre_weeks, 1, alpha, power, dispersion)
    if not -1 < effect < 0:
        raise InvalidInputError(f"effect must be a fall between 0 and -1; received {effect!r}.")

    def ok(n):
        return power_for_effect(effect, baseline_per_week, pre_weeks, n, alpha=alpha,
                                control_per_week=control_per_week, dispersion=dispersion) >= power

    if not ok(max_weeks):
        return None
    lo, hi = 0, max_weeks            # ok(hi) true; ok(lo) false by convention
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return hi


# ----------------------------------------------------------------------------------------- whole panel
@dataclass(frozen=True)
class PanelEvaluation:
    """Every estimator on one panel, with the series used (for plots and CSVs)."""

    methods: dict
    series: pd.DataFrame
    sc_series: pd.DataFrame
    matches: np.ndarray
    buffer_matches: np.ndarray


def evaluate_panel(y: np.ndarray, post: np.ndarray, treated: np.ndarray, buffer: np.ndarray, pool: np.ndarray, *,
                   k: int = 20, k_buffer: int = 5, alpha: float = 0.05, n_boot: int = 2000, period_weeks: int = 4,
                   seed: int = 0, its_harmonics: int | None = None) -> PanelEvaluation:
    """Run DiD, ITS, WDD, WDQ and synthetic control on a (units × weeks) panel.

    ``treated``, ``buffer`` and ``pool`` are row indices (disjoint); ``pool`` holds the
    candidate controls (buffer and guard band already removed). The treated cells get
    ``k`` look-alikes each (their columns are the DiD placebos and the synthetic
    control's donors); the buffer cells get ``k_buffer`` each, from what is left.
    The buffer's DiD estimate (displacement, > 0; diffusion, < 0) is reported in
    ``did["buffer"]``. The ITS season is fitted to the pool's total (the rest of the
    study area) and used as an offset (see :func:`its_glm`).
    """
    y = np.asarray(y, dtype=np.float64)
    post = np.asarray(post, dtype=bool)
    treated, buffer, pool = (np.asarray(a, dtype=np.int64) for a in (treated, buffer, pool))
    pre = ~post
    matches = match_controls(y[:, pre], treated, pool, k, seed)
    rest = np.setdiff1d(pool, matches.ravel())
    b_matches = (match_controls(y[:, pre], buffer, rest, k_buffer, seed + 1) if len(buffer)
                 else np.empty((0, k_buffer), dtype=np.int64))
    t_s = y[treated].sum(0)
    groups = np.stack([y[matches[:, g]].sum(0) for g in range(k)])
    c_s = groups.mean(0)                                 # one look-alike per treated cell, averaged over k
    b_s = y[buffer].sum(0) if len(buffer) else np.zeros(y.shape[1])
    cb_s = (np.stack([y[b_matches[:, g]].sum(0) for g in range(k_buffer)]).mean(0) if len(buffer)
            else np.zeros(y.shape[1]))

    did = did_matched(y, post, treated, matches, alpha)
    did_d = did.as_dict()
    if len(buffer):
        bd = did_matched(y, post, buffer, b_matches, alpha)
        did_d["buffer"] = {k_: did_d_ for k_, did_d_ in bd.as_dict().items() if k_ not in ("placebo_effects",)}
    reference = y[pool].sum(0)
    its = its_glm(t_s, post, harmonics=its_harmonics, alpha=alpha, season_reference=reference)
    its_b = (its_glm(b_s, post, harmonics=its_harmonics, alpha=alpha, season_reference=reference)
             if len(buffer) and b_s.sum() > 0 else None)
    its_d = its.as_dict()
    if its_b is not None:
        its_d["buffer"] = {k_: v for k_, v in its_b.as_dict().items() if k_ in ("relative_effect", "ci_low",
                                                                                 "ci_high", "p", "family")}
    n_pre, n_post = int(pre.sum()), int(post.sum())
    w = wdd(t_s[pre].sum(), t_s[post].sum(), groups.sum(0)[pre].sum(), groups.sum(0)[post].sum(),
            b_s[pre].sum(), b_s[post].sum(), cb_s[pre].sum() * k_buffer, cb_s[post].sum() * k_buffer,
            control_weight=1.0 / k, buffer_control_weight=1.0 / k_buffer, before_scale=n_post / n_pre, alpha=alpha)
    wd = w.as_dict()
    wd.update({"weeks_before": n_pre, "weeks_after": n_post,
               "note": "before counts scaled by weeks_after / weeks_before; controls are the mean of the matched "
                       "look-alike groups (counts weighted 1/k in the variance)"})
    q = wdq(t_s[pre], t_s[post], groups.sum(0)[pre], groups.sum(0)[post], b_s[pre], b_s[post], n_boot=n_boot,
            alpha=alpha, seed=seed)
    sc = synthetic_control(t_s, groups, post, period_weeks=period_weeks, alpha=alpha)
    methods = {"did": did_d, "its": its_d, "wdd": wd, "wdq": q.as_dict(), "synthetic_control": sc.as_dict()}
    series = pd.DataFrame({"treated": t_s, "control": c_s, "buffer": b_s, "buffer_control": cb_s,
                           "its_fitted": np.asarray(its.fitted) if its.fitted else np.nan,
                           "its_counterfactual": np.asarray(its.counterfactual) if its.counterfactual else np.nan,
                           "post": post})
    sc_series = pd.DataFrame({"treated": np.asarray(sc.treated), "synthetic": np.asarray(sc.synthetic)})
    return PanelEvaluation(methods, series, sc_series, matches, b_matches)


# ----------------------------------------------------------------------------------------- backtest pieces
def rri(n1: float, N1: float, n2: float, N2: float) -> float:
    """Recapture Rate Index (Levine 2008): ``(n2 / n1) / (N2 / N1)``.

    n1, n2 = events in the chosen cells in the period used to choose them and in the
    next; N1, N2 = all events in those periods. RRI > 1: the chosen cells kept (or grew)
    their share. NaN when undefined.

    Examples
    --------
    >>> round(rri(10, 100, 12, 80), 6)
    1.5
    """
    if min(n1, N1, N2) <= 0:
        return math.nan
    return (n2 / n1) / (N2 / N1)


def coverage_metrics(order: np.ndarray, next_counts: np.ndarray, current_counts: np.ndarray, areas: np.ndarray,
                     coverages=(1, 5, 10, 20)) -> list[dict]:
    """Hit rate, PAI, PEI* and RRI of the top cells of a ranking at each area coverage (%).

    ``order`` lists row indices best first (a full ranking of the study area). At c % the
    first ceil(c/100 × n_cells) cells are chosen (H3 cells of one resolution have nearly
    equal areas). ``next_counts`` are the events scored (the week after the origin),
    ``current_counts`` those of the origin week (for RRI).
    """
    order = np.asarray(order, dtype=np.int64)
    nxt, cur = np.asarray(next_counts, dtype=np.float64), np.asarray(current_counts, dtype=np.float64)
    areas = np.asarray(areas, dtype=np.float64)
    N, N1, A = float(nxt.sum()), float(cur.sum()), float(areas.sum())
    rows = []
    for c in coverages:
        m = max(1, math.ceil(float(c) / 100 * len(order)))
        chosen = order[:m]
        n, a, n1 = float(nxt[chosen].sum()), float(areas[chosen].sum()), float(cur[chosen].sum())
        n_star = max_capture(nxt, m)
        rows.append({"coverage": c, "n_cells": m, "n": n, "N": N, "hit_rate": hit_rate(n, N),
                     "pai": pai(n, N, a, A), "pei_star": pei_star(n, n_star), "rri": rri(n1, N1, n, N)})
    return rows


def ring_kde_scores(recent_counts: np.ndarray, ring1: "object", ring2: "object", sigma_rings: float = 1.0):
    """Gaussian kernel smoothing of recent counts over H3 rings (a KDE on the hexagon grid).

    score_i = Σ_j exp(−d_ij² / (2σ²)) c_j for ring distance d_ij ≤ 2, with ``ring1`` and
    ``ring2`` the binary neighbour matrices of :func:`analytics.grid.neighbour_matrix`
    (k = 1 and 2, diagonal included). At resolution 9 one ring is ~0.35 km between centres,
    so σ = 1 ring is a ~350 m bandwidth, in the range used for street-level crime KDE.
    """
    c = np.asarray(recent_counts, dtype=np.float64)
    w1, w2 = math.exp(-1 / (2 * sigma_rings ** 2)), math.exp(-4 / (2 * sigma_rings ** 2))
    r1 = ring1 @ c - c
    r2 = ring2 @ c - ring1 @ c
    return c + w1 * r1 + w2 * r2


def bootstrap_mean_ci(values: np.ndarray, n_boot: int = 2000, alpha: float = 0.05, seed: int = 0):
    """Mean over origins and its percentile bootstrap interval (origins resampled); NaNs dropped.

    ``values`` may be 2-d (origins × series); the interval is then per column, with the
    same resampled origins for every column (so paired differences are consistent).
    """
    v = np.asarray(values, dtype=np.float64)
    one = v.ndim == 1
    v = v[:, None] if one else v
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, v.shape[0], (n_boot, v.shape[0]))
    with np.errstate(invalid="ignore"):
        means = np.nanmean(v, axis=0)
        boots = np.nanmean(v[idx], axis=1)
    lo, hi = np.nanquantile(boots, [alpha / 2, 1 - alpha / 2], axis=0)
    return (means[0], lo[0], hi[0]) if one else (means, lo, hi)
