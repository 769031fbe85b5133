"""Interrupted time series: segmented count regression of one weekly series."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from analytics.errors import InvalidInputError
from analytics.evaluation.common import _clean, _z


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
