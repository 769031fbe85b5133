"""Pre-analysis power: the smallest detectable fall and the weeks needed for a stated fall."""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize, stats

from analytics.errors import InvalidInputError
from analytics.evaluation.common import _z


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
