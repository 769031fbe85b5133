"""Panel regression: a Poisson (or negative-binomial) model of the target and its matched controls,
with place and week fixed effects and a treated x after term, and placebo-in-space inference.

The model (one row per cell and week; issue 15, item 1)::

    log E[Y_it] = a_i + b_t + δ · D_it,     D_it = 1 for a target cell in an after week

``a_i`` is each cell's own level (so controls need not be as busy as the target), ``b_t`` each
week's level shared by all cells (season, citywide shifts), and ``exp(δ) − 1`` the relative
effect. It assumes *parallel trends on the log scale* — without the disruption the target's
cells would have changed by the same proportion as the controls' cells, week by week — and
that the controls were not affected by the disruption (they lie outside the buffer and a guard
ring). The Poisson point estimate is consistent whatever the counts' variance; when the
counts are over-dispersed (Pearson dispersion above a threshold) the model is refitted as a
negative binomial (NB2), which weighs busy cells less.

With a Poisson family and one start date for every target cell, the estimate equals the
aggregate difference-in-differences ``log(T_after / T_before) − log(C_after / C_before)`` of
:func:`analytics.evaluation.did_poisson`, however many cells (tested): matched DiD *is* this
model's maximum-likelihood estimate. The panel form adds the negative-binomial weighting when
the cells' counts are over-dispersed, and states the model (and its assumptions) explicitly.

Fitting: Fisher scoring with both sets of fixed effects absorbed by a Schur complement (the
cell effects are a diagonal block), so a fit costs O(cells x weeks + weeks³) per iteration;
the same maximum-likelihood estimate as statsmodels' GLM with dummy columns (tested to 1e-6).

Inference is the same permutation test the other methods use: each matched-control group in
turn is treated as if it had been disrupted, against the other groups, and the interval inverts
that test (:func:`analytics.evaluation.placebo_test`), so it excludes no change exactly when
p <= alpha (the verdict rule in :mod:`analytics.verdict` requires it).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from analytics.errors import InvalidInputError
from analytics.evaluation.common import _clean, placebo_test
from analytics.evaluation.did import FEW_CONTROL_EVENTS_NOTE, MIN_CONTROL_EVENTS, _few_placebos_test, zero_corrected

__all__ = ["PanelFit", "PanelResult", "fit_panel_fe", "panel_matched", "OVERDISPERSION_THRESHOLD"]

#: Pearson dispersion above which the panel model is refitted as a negative binomial (as ITS does).
OVERDISPERSION_THRESHOLD = 1.2
#: |log effect| beyond this means a period with (almost) no events: no finite effect.
_MAX_LOG_EFFECT = 20.0


@dataclass(frozen=True)
class PanelFit:
    """One fixed-effects fit: δ, its model standard error, fitted means and the family used."""

    delta: float
    se: float                # from the expected information (times the dispersion for quasi-Poisson)
    dispersion: float        # Pearson chi2 / residual df of the Poisson fit
    family: str              # "poisson", "negative_binomial" or "poisson_zero_corrected" (a zero period total)
    alpha_nb: float
    mu: np.ndarray
    iterations: int


def _fit(y: np.ndarray, d: np.ndarray, alpha_nb: float, max_iter: int = 100, tol: float = 1e-10):
    """Fisher scoring for log E[y_it] = a_i + b_t + δ d_it (b_0 = 0); Poisson (α = 0) or NB2 with known α.

    Returns (a, b, δ, μ, var_δ from the inverse information, iterations), or None when the
    information is singular. Rows and columns must each hold some event (the caller drops
    the others: their effects run off to −∞ and take no part in δ)."""
    n, t = y.shape
    a = np.log(y.mean(1))
    b = np.log(y.mean(0) / y.mean())
    b -= b[0]
    delta = 0.0

    def loglik(a_, b_, d_):
        eta = np.clip(a_[:, None] + b_[None, :] + d_ * d, -50, 50)
        mu_ = np.exp(eta)
        if alpha_nb > 0:
            r = 1.0 / alpha_nb
            return float(np.sum(y * np.log(mu_ / (mu_ + r)) + r * np.log(r / (mu_ + r)))), mu_
        return float(np.sum(y * eta - mu_)), mu_

    ll, mu = loglik(a, b, delta)
    var_d = math.nan
    for it in range(1, max_iter + 1):
        w = mu / (1 + alpha_nb * mu)
        res = (y - mu) / (1 + alpha_nb * mu)
        s_a, s_b, s_d = res.sum(1), res.sum(0), float((res * d).sum())
        A = w.sum(1)                          # cell block (diagonal)
        C = w                                 # cell x week
        u_a, u_b, h = (w * d).sum(1), (w * d).sum(0), float((w * d).sum())
        ca = C / A[:, None]                   # A^-1 C
        # reduced information on (b_1.., δ) after eliminating the cell effects
        R_bb = np.diag(w.sum(0)) - C.T @ ca
        R_bd = u_b - ca.T @ u_a
        R_dd = h - float(u_a @ (u_a / A))
        r_b = s_b - ca.T @ s_a
        r_d = s_d - float(u_a @ (s_a / A))
        R = np.empty((t, t))
        R[:t - 1, :t - 1] = R_bb[1:, 1:]
        R[:t - 1, t - 1] = R[t - 1, :t - 1] = R_bd[1:]
        R[t - 1, t - 1] = R_dd
        rhs = np.r_[r_b[1:], r_d]
        try:
            step = np.linalg.solve(R, rhs)
            var_d = float(np.linalg.solve(R, np.r_[np.zeros(t - 1), 1.0])[-1])
        except np.linalg.LinAlgError:
            return None
        db = np.r_[0.0, step[:t - 1]]
        dd = float(step[-1])
        da = (s_a - C @ db - u_a * dd) / A
        scale = 1.0
        for _ in range(30):                   # step halving keeps the likelihood rising
            new_ll, new_mu = loglik(a + scale * da, b + scale * db, delta + scale * dd)
            if new_ll >= ll - 1e-9 * abs(ll):
                break
            scale /= 2
        a, b, delta = a + scale * da, b + scale * db, delta + scale * dd
        ll, mu = new_ll, new_mu
        if max(np.abs(da).max(), np.abs(db).max(), abs(dd)) * scale < tol:
            break
    return a, b, delta, mu, var_d, it


def _nb_alpha(y: np.ndarray, mu: np.ndarray) -> float:
    """NB2 α by Cameron & Trivedi's auxiliary regression ((y − μ)² − y = α μ² + error); 0 if not over-dispersed."""
    den = float(np.sum(mu ** 2))
    a = float(np.sum((y - mu) ** 2 - y)) / den if den > 0 else 0.0
    return a if math.isfinite(a) and a > 0 else 0.0


def fit_panel_fe(y, treated_rows, post, *, family: str = "auto",
                 overdispersion_threshold: float = OVERDISPERSION_THRESHOLD) -> PanelFit:
    """Fit log E[Y_it] = a_i + b_t + δ·[i treated, t after] to a (cells x weeks) count panel.

    Parameters
    ----------
    y : array (n_cells, n_weeks) of counts >= 0
    treated_rows : int array, the rows that get the treated x after term
    post : bool array (n_weeks,)
    family : "auto" (Poisson, refitted as NB2 when the Pearson dispersion exceeds
        ``overdispersion_threshold``), "poisson" or "negative_binomial"

    Returns
    -------
    PanelFit
        ``delta`` is NaN when it is not estimable (the treated or the control cells have no event
        at all); with a zero total in one period it is DiD's zero-corrected ratio of ratios
        (:func:`analytics.evaluation.did.zero_corrected`, family ``poisson_zero_corrected``). ``se`` is the model standard error: the Poisson one times √dispersion
        (quasi-Poisson), or the NB2 one.

    Examples
    --------
    >>> f = fit_panel_fe(np.array([[10.0, 5.0], [20.0, 20.0]]), [0], np.array([False, True]))
    >>> round(math.expm1(f.delta), 6)        # ratio of ratios: (5/10) / (20/20) - 1
    -0.5
    """
    y = np.asarray(y, dtype=np.float64)
    post = np.asarray(post, dtype=bool)
    if y.ndim != 2 or y.shape[1] != len(post):
        raise InvalidInputError("The panel must be (cells x weeks) with one after flag per week.")
    if not np.all(np.isfinite(y)) or (y < 0).any():
        raise InvalidInputError("Panel counts must be finite and >= 0.")
    if family not in ("auto", "poisson", "negative_binomial"):
        raise InvalidInputError(f"family must be auto, poisson or negative_binomial; received {family!r}.")
    is_t = np.zeros(y.shape[0], dtype=bool)
    is_t[np.asarray(treated_rows, dtype=np.int64)] = True
    nan = PanelFit(math.nan, math.nan, math.nan, "none", math.nan, np.empty(0), 0)
    totals = (y[is_t][:, ~post].sum(), y[is_t][:, post].sum(), y[~is_t][:, ~post].sum(), y[~is_t][:, post].sum())
    if min(totals) <= 0:
        # The Poisson MLE is the ratio of ratios (an identity, module notes), −∞ with a zero total: use DiD's
        # zero-count rule (+0.5 on each total) so the estimate stays bounded, with its Wald standard error.
        tp, tq, cp, cq = zero_corrected(*totals)
        if not math.isfinite(tp):
            return nan
        return PanelFit(math.log(tq / cq) - math.log(tp / cp), math.sqrt(1 / tp + 1 / tq + 1 / cp + 1 / cq), 1.0,
                        "poisson_zero_corrected", 0.0, np.empty(0), 0)
    rows, cols = y.sum(1) > 0, y.sum(0) > 0
    yy = y[rows][:, cols]
    d = (is_t[rows][:, None] & post[cols][None, :]).astype(np.float64)
    fit = _fit(yy, d, 0.0)
    if fit is None:
        return nan
    _, _, delta, mu, var_d, it = fit
    df = yy.size - (yy.shape[0] + yy.shape[1])
    disp = float(np.sum((yy - mu) ** 2 / mu) / df) if df > 0 else 1.0
    fam, a_nb, se = "poisson", 0.0, math.sqrt(max(var_d, 0.0) * max(disp, 1.0))
    if family == "negative_binomial" or (family == "auto" and disp > overdispersion_threshold):
        a_nb = _nb_alpha(yy, mu)
        if a_nb > 1e-8:
            nb = _fit(yy, d, a_nb)
            if nb is None:
                return nan
            _, _, delta, mu, var_d, it = nb
            fam, se = "negative_binomial", math.sqrt(max(var_d, 0.0))
    if not math.isfinite(delta) or abs(delta) > _MAX_LOG_EFFECT:
        return nan
    return PanelFit(float(delta), se, disp, fam, a_nb, mu, it)


@dataclass(frozen=True)
class PanelResult:
    """Panel regression with place and week effects: relative effect, interval, p."""

    relative_effect: float
    ci_low: float
    ci_high: float
    p: float                 # the p the interval inverts (see ``inference``)
    p_model: float           # Wald p of the model (quasi-Poisson or NB2)
    log_effect: float
    se: float
    family: str
    alpha_nb: float
    dispersion: float
    n_cells: int
    n_weeks: int
    n_placebos: int
    placebo_effects: tuple = ()
    inference: str = "placebo"   # "placebo", "placebo_spread", "model" or "none"
    notes: tuple = ()

    def as_dict(self) -> dict:
        d = asdict(self)
        d["placebo_effects"] = [round(float(x), 4) for x in self.placebo_effects]
        return _clean(d)


def panel_matched(y: np.ndarray, post: np.ndarray, treated: np.ndarray, matches: np.ndarray, *,
                  alpha: float = 0.05, family: str = "auto") -> PanelResult:
    """Panel regression of the treated cells and their matched controls, with placebo-in-space p.

    The panel is every treated cell and every matched control cell (``matches`` from
    :func:`analytics.evaluation.match_controls`), all weeks. Placebos: each match column g (one
    look-alike of every treated cell) in turn gets the treated x after term, against the other
    columns (the real target left out), fitted the same way. With enough placebos for the
    permutation test to reach ``alpha`` (19 at 0.05) p is the placebo p and the interval inverts
    it; with fewer (the buffer's 5 groups) p is the model's Wald p with its standard error widened
    to the placebos' spread when that is larger, as for DiD. Without a placebo test and with fewer
    than :data:`analytics.evaluation.did.MIN_CONTROL_EVENTS` control events before or after, no
    effect is estimated.
    """
    y = np.asarray(y, dtype=np.float64)
    post = np.asarray(post, dtype=bool)
    treated = np.asarray(treated, dtype=np.int64)
    matches = np.asarray(matches, dtype=np.int64)
    k = matches.shape[1]
    rows = np.r_[treated, matches.ravel()]
    panel = y[rows]
    base = fit_panel_fe(panel, np.arange(len(treated)), post, family=family)
    placebo = []
    if k >= 2:
        groups = [matches[:, g] for g in range(k)]
        for g in range(k):
            sub = np.r_[groups[g], np.concatenate([groups[j] for j in range(k) if j != g])]
            f = fit_panel_fe(y[sub], np.arange(len(groups[g])), post, family=family)
            if math.isfinite(f.delta):
                placebo.append(f.delta)
    pl = np.asarray(placebo)
    n_weeks = len(post)
    if not math.isfinite(base.delta):
        return PanelResult(math.nan, math.nan, math.nan, math.nan, math.nan, math.nan, math.nan, "none", math.nan,
                           math.nan, len(rows), n_weeks, len(pl), tuple(np.expm1(pl)), "none",
                           ("No estimate: the target or its controls had no events before or after the start.",))
    d, se = base.delta, base.se
    p_model = float(2 * stats.norm.sf(abs(d) / se)) if se > 0 else math.nan
    p, lo, hi = placebo_test(d, pl, alpha)
    if math.isfinite(lo):
        kind = "placebo"
    else:
        controls = y[matches.ravel()]
        if min(controls[:, ~post].sum(), controls[:, post].sum()) < MIN_CONTROL_EVENTS:
            return PanelResult(math.nan, math.nan, math.nan, math.nan, p_model, math.nan, math.nan, base.family,
                               base.alpha_nb, base.dispersion, len(rows), n_weeks, len(pl), tuple(np.expm1(pl)),
                               "none", (FEW_CONTROL_EVENTS_NOTE,))
        kind, p, lo, hi = _few_placebos_test(d, se, pl, alpha)
    return PanelResult(math.expm1(d), math.expm1(lo), math.expm1(hi), p, p_model, d, se, base.family,
                       base.alpha_nb, base.dispersion, len(rows), n_weeks, len(pl), tuple(np.expm1(pl)), kind)
