"""Interrupted time series: segmented count regression of one weekly series."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import numpy as np
from scipy import stats

from analytics.errors import InvalidInputError
from analytics.evaluation.common import _clean, _z, placebo_test
from analytics.evaluation.did import FEW_CONTROL_EVENTS_NOTE, MIN_CONTROL_EVENTS, _few_placebos_test


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
    trend: bool = True
    hac_lags: int = 0        # Newey–West lags of the model's standard errors
    inference: str = "model"  # "model" (HAC t), "placebo" (permutation p + its interval) or "placebo_spread"
    p_model: float = math.nan
    n_placebos: int = 0
    se: float = math.nan      # HAC standard error of the log effect

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


#: Pre-period weeks needed before ITS fits a trend: a trend estimated from a shorter pre-period
#: extrapolates whatever busy (or quiet) spell led to the place being chosen.
MIN_TREND_WEEKS = 52


def _design(post: np.ndarray, trend: bool, harmonics: int, period: float, slope_change: bool):
    """ITS design matrix (intercept, [trend], [Fourier pairs], post step, [post slope]) and the
    column of the step."""
    n = len(post)
    t0 = int(np.argmax(post))
    t = np.arange(n, dtype=np.float64)
    cols = [np.ones(n)] + ([(t - t.mean()) / n] if trend else [])
    for h in range(1, harmonics + 1):
        cols += [np.sin(2 * np.pi * h * t / period), np.cos(2 * np.pi * h * t / period)]
    cols.append(post.astype(float))
    if slope_change:
        cols.append(np.where(post, (t - t0) / n, 0.0))
    return np.column_stack(cols), len(cols) - (2 if slope_change else 1)


def _irls(y: np.ndarray, X: np.ndarray, offset: np.ndarray, alpha_nb: float = 0.0):
    """Poisson (α = 0) or NB2 GLM with log link by iteratively reweighted least squares:
    (β, μ), or None when the normal equations are singular. The same MLE statsmodels finds
    (tested); used for the placebo fits, where only the point estimate is needed."""
    beta = np.zeros(X.shape[1])
    beta[0] = math.log(max(float(y.mean()), 1e-8)) - float(np.mean(offset))
    mu = np.exp(X @ beta + offset)
    for _ in range(100):
        eta = np.clip(X @ beta + offset, -50, 50)
        mu = np.exp(eta)
        w = mu / (1 + alpha_nb * mu)
        z = eta - offset + (y - mu) / mu
        xtw = X.T * w
        try:
            new = np.linalg.solve(xtw @ X, xtw @ z)
        except np.linalg.LinAlgError:
            return None
        done = np.max(np.abs(new - beta)) < 1e-10
        beta = new
        if done:
            break
    return beta, np.exp(np.clip(X @ beta + offset, -50, 50))


def _log_effect(params: np.ndarray, X: np.ndarray, j: int, post: np.ndarray, slope_change: bool) -> float:
    if not slope_change:
        return float(params[j])
    g = np.exp(params[j] + params[j + 1] * X[post, j + 1])
    m = float(g.mean())
    return math.log(m) if m > 0 else -math.inf


def _point_log_effect(y: np.ndarray, X: np.ndarray, j: int, offset: np.ndarray, post: np.ndarray,
                      slope_change: bool, overdispersion_threshold: float) -> float:
    """The log effect :func:`its_glm` would estimate for ``y`` with this design and offset
    (Poisson, refitted as NB2 when over-dispersed), without standard errors; NaN if separated."""
    fit = _irls(y, X, offset)
    if fit is None:
        return math.nan
    beta, mu = fit
    df = len(y) - X.shape[1]
    disp = float(np.sum((y - mu) ** 2 / mu) / df) if df > 0 else 1.0
    if disp > overdispersion_threshold:
        a_nb = _nb_alpha(y, mu)
        if a_nb > 1e-8:
            fit = _irls(y, X, offset, a_nb)
            if fit is None:
                return math.nan
            beta = fit[0]
    d = _log_effect(beta, X, j, post, slope_change)
    return d if math.isfinite(d) and abs(d) < _MAX_LOG_EFFECT else math.nan


def _nb_alpha(y: np.ndarray, mu: np.ndarray) -> float:
    """NB2 over-dispersion α by Cameron & Trivedi's auxiliary OLS: ((y − μ)² − y) = α μ² + error
    (no intercept), from a Poisson fit's means μ; 0 when there is no over-dispersion."""
    num, den = float(np.sum((y - mu) ** 2 - y)), float(np.sum(mu ** 2))
    a = num / den if den > 0 else 0.0
    return a if math.isfinite(a) and a > 0 else 0.0


def newey_west_lags(n: int) -> int:
    """Newey–West lag length ``floor(4 (n / 100)^(2/9))`` (at least 1) for ``n`` weeks.

    Examples
    --------
    >>> newey_west_lags(40), newey_west_lags(104)
    (3, 4)
    """
    return max(1, math.floor(4 * (n / 100) ** (2 / 9)))


def its_glm(series, post, *, harmonics: int | None = None, period: float = 52.1775, slope_change: bool = False,
            alpha: float = 0.05, overdispersion_threshold: float = 1.2, season_reference=None, control=None,
            trend: bool | None = None) -> ITSResult:
    """Segmented Poisson / negative-binomial regression of one weekly series, optionally
    relative to its controls' path (a comparative ITS), with autocorrelation-robust errors.

    Parameters
    ----------
    series : 1-d counts (weeks in order)
    post : bool array, True from the first treated week
    harmonics : int, optional
        Fourier pairs for the season (period 52.18 weeks); default 1 when there are at
        least 52 weeks before the change (2 from 104 weeks), else 0 (recorded in ``notes``);
        0 with ``control`` (the controls' path carries the season).
    slope_change : bool, default False
        Add a post-period trend change; the effect is then the mean relative change over
        the post period (delta method).
    season_reference : 1-d counts, optional
        A busier series sharing the season (e.g. the rest of the study area). When given,
        the seasonal profile is fitted to its pre-period (trend + Fourier pairs) and
        enters the treated model as an offset, so the treated series only has to inform
        its own level, trend and change: with about one year of history, estimating a
        season from a series of a few events a week is too noisy to be useful.
    control : 1-d counts, optional
        The weekly counts of the target's matched controls. When given, ``log(control)``
        is an offset (weeks without a control event count as 0.5): the model then
        describes the target *relative to its controls' path*, which carries the season,
        citywide shifts and — because the controls were matched on level and
        neighbourhood — the regression to the mean a busy place shows anyway.
    trend : bool, optional
        Fit a linear trend (in the target's rate, or in its ratio to the controls). Default:
        only with at least :data:`MIN_TREND_WEEKS` pre-period weeks, so a short busy spell
        is never extrapolated (recorded in ``notes`` when left out).

    Notes
    -----
    .. math:: \\log E[Y_t] = [\\log C_t +] β_0 [+ β_1 t] + \\sum_h (a_h \\sin + b_h \\cos)(2π h t / P)
              + β_2 \\,\\text{post}_t \\; [+ β_3 (t - t_0)\\,\\text{post}_t]

    fitted with statsmodels' Poisson GLM; when the Pearson dispersion exceeds
    ``overdispersion_threshold`` the model is refitted as a negative-binomial (NB2) GLM with α
    from Cameron & Trivedi's auxiliary regression on the Poisson fit (:func:`_nb_alpha`)
    (Bernal, Cummins & Gasparrini 2017, *Interrupted time series regression for the
    evaluation of public health interventions*, IJE 46).
    Standard errors are Newey–West (HAC, :func:`newey_west_lags`, small-sample corrected),
    robust to autocorrelation and to over-dispersion the family misses; the interval and
    the p use the same Student t (residual degrees of freedom), so the interval excludes
    zero exactly when p <= alpha. Relative effect = exp(β₂) − 1.
    """
    import statsmodels.api as sm

    y = np.asarray(series, dtype=np.float64)
    post = np.asarray(post, dtype=bool)
    n = len(y)
    if n != len(post) or post.sum() < 1 or (~post).sum() < 8:
        raise InvalidInputError("ITS needs at least 8 pre-period weeks and 1 post-period week.")
    notes = []
    t0 = int(np.argmax(post))
    offset = None
    if control is not None:
        c = np.asarray(control, dtype=np.float64)
        if c.shape != y.shape or not np.all(np.isfinite(c)) or (c < 0).any() or c[~post].sum() <= 0:
            raise InvalidInputError("control must be a series of counts >= 0 covering the same weeks, with "
                                    "pre-period events.")
        offset = np.log(np.where(c > 0, c, 0.5))
        harmonics = 0 if harmonics is None else harmonics
        notes.append("Relative to the matched controls' weekly path (an offset), which carries the season and "
                     "shifts shared with places like the target.")
    if harmonics is None:
        harmonics = 2 if t0 >= 104 else 1 if t0 >= 52 else 0
        if harmonics == 0:
            notes.append(f"Season left out: only {t0} pre-period weeks (52 needed).")
    if trend is None:
        trend = t0 >= MIN_TREND_WEEKS
        if not trend:
            notes.append(f"No trend fitted: only {t0} pre-period weeks ({MIN_TREND_WEEKS} needed), and a short "
                         "pre-period's trend would extrapolate the spell that led to the place being chosen.")
    season_cols = harmonics
    if harmonics and season_reference is not None and control is None:
        ref = np.asarray(season_reference, dtype=np.float64)
        if ref.shape != y.shape or ref[~post].sum() <= 0:
            raise InvalidInputError("season_reference must be a series of counts covering the same weeks.")
        offset = _season_offset(ref, post, harmonics, period)
        season_cols = 0
        notes.append(f"Season ({harmonics} Fourier pair(s)) fitted to the reference series' pre-period and used "
                     "as an offset.")
    X, j = _design(post, trend, season_cols, period, slope_change)
    if y.sum() == 0:
        return ITSResult(math.nan, math.nan, math.nan, math.nan, "none", math.nan, math.nan, harmonics,
                         slope_change, notes=tuple(notes + ["No events in the series."]), trend=trend)
    fam, alpha_nb, family = "poisson", 0.0, sm.families.Poisson()
    res = sm.GLM(y, X, family=family, offset=offset).fit()
    disp = float(res.pearson_chi2 / res.df_resid) if res.df_resid > 0 else 1.0
    if disp > overdispersion_threshold:
        a_nb = _nb_alpha(y, np.asarray(res.fittedvalues))
        if a_nb > 1e-8:
            fam, alpha_nb, family = "negative_binomial", a_nb, sm.families.NegativeBinomial(alpha=a_nb)
    lags = newey_west_lags(n)
    res = sm.GLM(y, X, family=family, offset=offset).fit(cov_type="HAC",
                                                          cov_kwds={"maxlags": lags, "use_correction": True})
    df = max(1, int(res.df_resid))
    crit = float(stats.t.ppf(1 - alpha / 2, df))
    params, cov = np.asarray(res.params), np.asarray(res.cov_params())
    log_effect = _log_effect(params, X, j, post, slope_change)
    if not slope_change:
        se = math.sqrt(max(cov[j, j], 0.0))
    else:
        # mean relative change over post weeks: log of mean exp(b2 + b3 s), delta method
        s = X[post, j + 1]
        g = np.exp(params[j] + params[j + 1] * s)
        grad = np.array([g.mean(), (g * s).mean()]) / g.mean()
        se = math.sqrt(max(float(grad @ cov[j:j + 2, j:j + 2] @ grad), 0.0))
    if _separated(log_effect, se, crit) or se <= 0:
        notes.append(_SEPARATED_NOTE)
        return ITSResult(math.nan, math.nan, math.nan, math.nan, fam, alpha_nb, disp, harmonics, slope_change,
                         tuple(np.asarray(res.fittedvalues)), (), tuple(notes), trend, lags)
    rel, lo, hi = math.expm1(log_effect), math.expm1(log_effect - crit * se), math.expm1(log_effect + crit * se)
    p = float(2 * stats.t.sf(abs(log_effect / se), df))
    fitted = np.asarray(res.fittedvalues)
    X0 = X.copy()
    X0[:, j:] = 0.0
    counterfactual = np.exp(X0 @ params + (offset if offset is not None else 0.0))
    return ITSResult(rel, lo, hi, p, fam, alpha_nb, disp, harmonics, slope_change, tuple(fitted),
                     tuple(counterfactual), tuple(notes), trend, lags, se=se)


#: |log rate ratio| (or its CI bound) beyond this (a ratio of ~5e8) means the GLM is separated:
#: a period with (almost) no events, so the coefficient runs off and no effect is estimable.
_MAX_LOG_EFFECT = 20.0
_SEPARATED_NOTE = ("No ITS effect estimated: the fit is separated (too few events before or after the "
                   "start for a finite rate ratio); use a broader outcome or a longer period.")


def _separated(log_effect: float, se: float, z: float) -> bool:
    """True when a log rate ratio or its CI is non-finite or beyond :data:`_MAX_LOG_EFFECT`."""
    return not (math.isfinite(log_effect) and math.isfinite(se)) or abs(log_effect) + z * se > _MAX_LOG_EFFECT


def its_matched(y: np.ndarray, post: np.ndarray, treated: np.ndarray, matches: np.ndarray, *,
                alpha: float = 0.05, **kwargs) -> ITSResult:
    """Comparative ITS of the treated cells against their matched controls' path, with
    placebo-in-space inference (the same test as :func:`analytics.evaluation.did_matched`).

    The treated series (sum over ``treated`` rows) is fitted by :func:`its_glm` with the
    matched controls' weekly total as ``control``. Each match column g (one look-alike of
    every treated cell) is in turn fitted the same way against the other columns; with
    enough placebos to reach ``alpha`` (19 at 0.05) p is the placebo p and the interval
    inverts it (:func:`analytics.evaluation.placebo_test`), otherwise the HAC model test
    is used with its standard error widened to the placebos' spread when that is larger.
    Why not the model test alone: a place's ratio to its controls also wanders for reasons
    that last months (a venue opens, a street is rebuilt); on real placebo targets the
    model interval missed that and rejected far more often than ``alpha``, while the
    placebos' spread contains it. ``kwargs`` go to :func:`its_glm`.
    """
    y = np.asarray(y, dtype=np.float64)
    post = np.asarray(post, dtype=bool)
    groups = np.stack([y[matches[:, g]].sum(0) for g in range(matches.shape[1])])
    total = groups.sum(0)
    if total[~post].sum() <= 0:
        return ITSResult(math.nan, math.nan, math.nan, math.nan, "none", math.nan, math.nan, 0, False,
                         notes=("No ITS effect estimated: the matched controls had no events before the start.",))
    base = its_glm(y[treated].sum(0), post, alpha=alpha, control=total, **kwargs)
    if not math.isfinite(base.relative_effect):
        return base
    slope_change = bool(kwargs.get("slope_change", False))
    X, j = _design(post, base.trend, base.harmonics, kwargs.get("period", 52.1775), slope_change)
    threshold = kwargs.get("overdispersion_threshold", 1.2)
    placebo = []
    if groups.shape[0] >= 2:
        for g in range(groups.shape[0]):
            rest = total - groups[g]
            if groups[g].sum() <= 0 or rest[~post].sum() <= 0:
                continue
            d_g = _point_log_effect(groups[g], X, j, np.log(np.where(rest > 0, rest, 0.5)), post, slope_change,
                                    threshold)
            if math.isfinite(d_g):
                placebo.append(d_g)
    pl = np.asarray(placebo)
    d = math.log1p(base.relative_effect)
    p, lo, hi = placebo_test(d, pl, alpha)
    if math.isfinite(lo):
        kind = "placebo"
    else:
        if min(total[~post].sum(), total[post].sum()) < MIN_CONTROL_EVENTS:
            return replace(base, relative_effect=math.nan, ci_low=math.nan, ci_high=math.nan, p=math.nan,
                           inference="none", p_model=base.p, n_placebos=len(pl),
                           notes=base.notes + (FEW_CONTROL_EVENTS_NOTE,))
        kind, p, lo, hi = _few_placebos_test(d, base.se, pl, alpha)
        if kind == "model":
            kind, p, lo, hi = "model", base.p, math.log1p(base.ci_low), math.log1p(base.ci_high)
    return replace(base, ci_low=math.expm1(lo), ci_high=math.expm1(hi), p=p, inference=kind, p_model=base.p,
                   n_placebos=len(pl))
