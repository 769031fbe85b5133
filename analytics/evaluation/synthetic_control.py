"""Synthetic control on aggregated periods, with placebo-in-space inference."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import optimize

from analytics.errors import InvalidInputError
from analytics.evaluation.common import _clean, placebo_test


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
