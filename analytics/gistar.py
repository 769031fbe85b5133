"""Space-time Getis-Ord Gi* with calibrated (Poisson / negative-binomial) p-values.

The cube is ``counts[i, t]``: events in H3 cell ``i`` during week ``t``, every
cell of the study area included (zeros are real zeros). Bins are ordered
cell-major, ``b = i * n_weeks + t``. The neighbourhood of bin ``(i, t)`` is the
spatial neighbourhood of ``i`` (``spatial``: binary, self included, usually
``grid.neighbour_matrix(cells, k)``) at weeks ``t - time_step ... t`` (weeks
before 0 do not exist, so the first weeks have smaller neighbourhoods, as in
ArcGIS).

Three quantities come out for every bin ``b``:

* ``z`` -- the ArcGIS / esda / spdep Gi* z-score, kept for display and for the
  Mann-Kendall trend of emerging-hotspot analysis;
* ``expected`` -- the neighbourhood's expected count under the calibrated null
  "each week's events are spread over the study area in proportion to
  exposure";
* ``p_hot`` / ``p_cold`` -- exact Poisson (default) or negative-binomial tails
  of the neighbourhood sum around ``expected``. On sparse weekly counts the
  normal approximation behind ``z`` over-calls hot spots and can never call a
  cold one; the calibrated tails do not.

The space-time weight matrix factorises as ``kron(spatial, L)`` with ``L`` the
lower band of width ``time_step``; :func:`gi_star` uses that factorisation
(one sparse product plus a cumulative sum over weeks) instead of materialising
the ``(n_cells * n_weeks)^2`` matrix, which :func:`space_time_weights` builds
for checking and for callers that want it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy import special

from analytics.errors import InvalidInputError

P_METHODS = ("poisson", "negbin", "normal")
FDR_MODES = ("cube", "week", "none")
DEFAULT_ALPHA_LEVELS = (0.10, 0.05, 0.01)


@dataclass(frozen=True, eq=False)
class GiStarResult:
    """Space-time Gi* for every bin of the cube; arrays are ``(n_cells, n_weeks)``.

    Attributes
    ----------
    z : ndarray of float
        Gi* z-score (Ord & Getis 1995), global mean / population SD / n taken
        over the entire cube, as ArcGIS "entire cube" and esda
        ``G_Local(star=True, transform='B')``.
    neighbourhood_sum : ndarray of float
        Observed events in the bin's space-time neighbourhood, ``N_b``.
    expected : ndarray of float
        ``E_b``: the neighbourhood's expected events under the calibrated null.
    weight_sum : ndarray of float
        Number of cell-weeks in the neighbourhood, ``W_b``.
    p_hot, p_cold : ndarray of float
        One-sided tails ``P(X >= N_b)`` and ``P(X <= N_b)`` under the null of
        ``p_method`` (for ``"normal"``: ``sf(z)`` and ``cdf(z)``).
    p : ndarray of float
        Two-sided p: ``min(1, 2 * min(p_hot, p_cold))`` (the doubled smaller
        tail; its side gives the class sign).
    p_norm : ndarray of float
        Two-sided normal-approximation p from ``z``: ``2 * sf(|z|)``.
    p_fdr : ndarray of float
        Benjamini-Hochberg adjusted ``p`` (over the cube, per week, or ``p``
        itself when ``fdr == "none"``).
    gi_class : ndarray of int8
        -3..3: +1/+2/+3 hot at 90/95/99 % confidence (``p_fdr`` below the
        matching entry of ``alpha_levels``, hot side smaller), negatives cold,
        0 not significant.
    time_step, p_method, fdr, alpha_levels
        The parameters used.
    overdispersion : float
        NB2 overdispersion ``alpha`` (Var = m + alpha * m^2) estimated from the
        cube when ``p_method == "negbin"``; 0.0 otherwise.
    mean, sd, n_bins : float, float, int
        Global mean, population SD and number of bins behind ``z``.
    """

    z: np.ndarray
    neighbourhood_sum: np.ndarray
    expected: np.ndarray
    weight_sum: np.ndarray
    p_hot: np.ndarray
    p_cold: np.ndarray
    p: np.ndarray
    p_norm: np.ndarray
    p_fdr: np.ndarray
    gi_class: np.ndarray
    time_step: int
    p_method: str
    fdr: str
    alpha_levels: tuple[float, float, float]
    overdispersion: float = 0.0
    mean: float = 0.0
    sd: float = 0.0
    n_bins: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def uncorrected_class(self) -> np.ndarray:
        """-3..3 classes from each bin's own two-sided ``p``, before the false-discovery correction.

        Not a map of significant bins (that is ``gi_class``); the emerging hot spot
        rules count the "90 % of weeks" share on it (``analytics.emerging``).
        """
        return _classes(self.p_hot, self.p_cold, self.p, self.alpha_levels)


# --------------------------------------------------------------------------- #
# validation                                                                   #
# --------------------------------------------------------------------------- #
def _check_time_step(time_step) -> int:
    if isinstance(time_step, bool) or not isinstance(time_step, (int, np.integer)) or time_step < 0:
        raise InvalidInputError(
            f"time_step must be an integer >= 0 (weeks before the bin's own week); received {time_step!r}."
        )
    return int(time_step)


def _check_spatial(spatial, n_cells: int | None = None) -> sp.csr_matrix:
    if not sp.issparse(spatial):
        raise InvalidInputError(
            f"spatial must be a scipy sparse matrix (e.g. grid.neighbour_matrix(cells, k)); "
            f"received {type(spatial).__name__}."
        )
    spatial = sp.csr_matrix(spatial, dtype=np.float64)
    n = spatial.shape[0]
    if spatial.shape[1] != n:
        raise InvalidInputError(f"spatial must be square; received shape {spatial.shape}.")
    if n_cells is not None and n != n_cells:
        raise InvalidInputError(
            f"spatial is {n}x{n} but counts has {n_cells} cells (rows); build the weights from the same cells."
        )
    spatial.eliminate_zeros()
    if spatial.nnz and not np.all(spatial.data == 1.0):
        bad = spatial.data[spatial.data != 1.0][0]
        raise InvalidInputError(
            "spatial weights must be binary (0/1) for Gi* counts and their Poisson tails; "
            f"found weight {bad!r}. Use grid.neighbour_matrix(cells, k)."
        )
    if n and not np.all(spatial.diagonal() == 1.0):
        missing = int(np.sum(spatial.diagonal() != 1.0))
        raise InvalidInputError(
            f"spatial weights must include each cell itself (Gi*); {missing} of {n} diagonal entries are 0. "
            "Add the identity: spatial + scipy.sparse.identity(n)."
        )
    return spatial


def _check_counts(counts, p_method: str) -> np.ndarray:
    raw = np.asarray(counts)
    integral = raw.dtype.kind in "iub"  # integer input: finite and whole by construction
    x = np.asarray(raw, dtype=np.float64)
    if x.ndim != 2:
        raise InvalidInputError(f"counts must be 2-D (n_cells, n_weeks); received {x.ndim}-D shape {x.shape}.")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise InvalidInputError(f"counts is empty (shape {x.shape}); the cube needs at least one cell and one week.")
    if not integral and not np.isfinite(x).all():
        raise InvalidInputError("counts contain NaN or infinite values; the cube must hold real zeros, not gaps.")
    if p_method != "normal":
        if raw.dtype.kind != "u" and (raw < 0).any():
            raise InvalidInputError(
                f"counts must be >= 0 for p_method={p_method!r}; minimum received {x.min()!r}."
            )
        if not integral and not np.all(x == np.round(x)):
            raise InvalidInputError(
                f"counts must be whole numbers for p_method={p_method!r} (Poisson / NB tails); "
                "use p_method='normal' for non-count values."
            )
    return x


def _check_exposure(exposure, counts: np.ndarray) -> np.ndarray | None:
    if exposure is None:
        return None
    e = np.asarray(exposure, dtype=np.float64)
    if e.ndim == 1 and e.shape[0] == counts.shape[0]:
        e = np.broadcast_to(e[:, None], counts.shape)
    if e.shape != counts.shape:
        raise InvalidInputError(
            f"exposure must have shape (n_cells,) or (n_cells, n_weeks) = {counts.shape}; received {e.shape}."
        )
    if not np.isfinite(e).all() or (e < 0).any():
        raise InvalidInputError("exposure must be finite and >= 0 everywhere.")
    bad = (e == 0) & (counts > 0)
    if bad.any():
        i, t = np.argwhere(bad)[0]
        raise InvalidInputError(
            f"{int(bad.sum())} cell-weeks have events but zero exposure (first: cell row {i}, week {t}); "
            "events cannot occur where the null expects none. Fix the exposure or drop those events."
        )
    return e


def _check_alpha_levels(alpha_levels) -> tuple[float, float, float]:
    try:
        levels = tuple(float(a) for a in alpha_levels)
    except TypeError:
        raise InvalidInputError(f"alpha_levels must be three numbers; received {alpha_levels!r}.") from None
    if len(levels) != 3 or not all(0 < a < 1 for a in levels) or not levels[0] > levels[1] > levels[2]:
        raise InvalidInputError(
            "alpha_levels must be three strictly decreasing levels in (0, 1) for the 90/95/99 % classes; "
            f"received {alpha_levels!r}; default {DEFAULT_ALPHA_LEVELS}."
        )
    return levels


# --------------------------------------------------------------------------- #
# building blocks                                                              #
# --------------------------------------------------------------------------- #
def space_time_weights(spatial, n_weeks: int, time_step: int = 1) -> sp.csr_matrix:
    """Binary space-time weights over bins ordered ``b = i * n_weeks + t``.

    Parameters
    ----------
    spatial : scipy.sparse matrix, shape (n_cells, n_cells)
        Binary spatial weights including the diagonal.
    n_weeks : int
        Number of weeks in the cube.
    time_step : int, default 1
        Weeks looked back (ArcGIS "neighbourhood time step"): bin ``(i, t)``
        neighbours ``(j, s)`` iff ``spatial[i, j] == 1`` and
        ``t - time_step <= s <= t`` (and ``s >= 0``).

    Returns
    -------
    scipy.sparse.csr_matrix, shape (n_cells * n_weeks, n_cells * n_weeks)

    Notes
    -----
    The neighbourhood is ArcGIS's space-time neighbourhood (Emerging Hot Spot
    Analysis, "neighbourhood time step"): the matrix is ``kron(spatial, L)``
    with ``L[t, s] = 1`` for ``0 <= t - s <= time_step``. :func:`gi_star` never builds it; it applies
    the same operator as ``spatial @ X`` followed by a moving sum over weeks.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> s = sp.csr_matrix([[1, 1], [1, 1]])
    >>> space_time_weights(s, 2, 1).toarray().astype(int)
    array([[1, 0, 1, 0],
           [1, 1, 1, 1],
           [1, 0, 1, 0],
           [1, 1, 1, 1]])
    """
    spatial = _check_spatial(spatial)
    time_step = _check_time_step(time_step)
    if isinstance(n_weeks, bool) or not isinstance(n_weeks, (int, np.integer)) or n_weeks < 1:
        raise InvalidInputError(f"n_weeks must be an integer >= 1; received {n_weeks!r}.")
    n_weeks = int(n_weeks)
    band = sp.diags(
        [np.ones(n_weeks - d) for d in range(min(time_step, n_weeks - 1) + 1)],
        [-d for d in range(min(time_step, n_weeks - 1) + 1)],
        shape=(n_weeks, n_weeks),
        format="csr",
    )
    return sp.kron(spatial, band, format="csr")


def _window_sum(a: np.ndarray, time_step: int, whole: bool = False) -> np.ndarray:
    """Moving sum over weeks t - time_step .. t (axis 1), truncated at week 0.

    ``whole=True`` (``a`` holds whole numbers, so every sum is exact) adds the shifted
    columns directly: cheaper than a cumulative sum along short rows for small
    ``time_step`` and bit-identical. Otherwise the cumulative-sum difference is kept.
    """
    if time_step == 0:
        return a
    if whole and time_step <= 8:
        out = a.copy()
        for d in range(1, min(time_step, a.shape[1] - 1) + 1):
            out[:, d:] += a[:, :-d]
        return out
    c = np.cumsum(a, axis=1)
    out = c.copy()
    if time_step + 1 < a.shape[1]:
        out[:, time_step + 1:] -= c[:, : a.shape[1] - time_step - 1]
    return out


def _neighbourhood_sum(spatial: sp.csr_matrix, a: np.ndarray, time_step: int, whole: bool = False) -> np.ndarray:
    return _window_sum(np.asarray(spatial @ a), time_step, whole)


def benjamini_hochberg(p: np.ndarray, by: str = "cube") -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (step-up, q-values).

    Parameters
    ----------
    p : ndarray, shape (n_cells, n_weeks)
        Unadjusted p-values.
    by : {"cube", "week", "none"}
        Family: every bin of the cube, each week (column) separately, or no
        adjustment.

    Returns
    -------
    ndarray
        ``p_adj[(k)] = min_{j >= k} min(1, m * p_(j) / j)`` over the sorted
        p-values of each family of size ``m``.

    Notes
    -----
    Benjamini & Hochberg (1995), J. R. Stat. Soc. B 57:289-300. Entries with
    ``p == 1`` always adjust to 1 and do not change the others, so only the
    ``p < 1`` entries are sorted (most bins of a sparse cube have ``p == 1``).

    Examples
    --------
    >>> benjamini_hochberg(np.array([[0.01, 0.04, 0.03, 0.2]]))
    array([[0.04      , 0.05333333, 0.05333333, 0.2       ]])
    """
    if by not in FDR_MODES:
        raise InvalidInputError(f"fdr must be one of {FDR_MODES}; received {by!r}.")
    p = np.asarray(p, dtype=np.float64)
    if by == "none":
        return p.copy()
    if by == "cube":
        return _bh_1d(p.ravel()).reshape(p.shape)
    out = np.empty_like(p)
    # per week: a loop over columns would be a loop over weeks; sort all columns at once
    m = p.shape[0]
    order = np.argsort(p, axis=0, kind="stable")
    ps = np.take_along_axis(p, order, axis=0)
    ranks = np.arange(1, m + 1, dtype=np.float64)[:, None]
    adj = np.minimum.accumulate((ps * m / ranks)[::-1], axis=0)[::-1]
    np.put_along_axis(out, order, np.minimum(adj, 1.0), axis=0)
    return out


def _bh_1d(p: np.ndarray) -> np.ndarray:
    m = p.shape[0]
    out = np.ones_like(p)
    idx = np.flatnonzero(p < 1.0)
    if idx.size == 0:
        return out
    sub = p[idx]
    order = np.argsort(sub, kind="stable")
    ranks = np.arange(1, idx.size + 1, dtype=np.float64)
    adj = np.minimum.accumulate((sub[order] * m / ranks)[::-1])[::-1]
    out[idx[order]] = np.minimum(adj, 1.0)
    return out


def estimate_nb_overdispersion(counts: np.ndarray, mean: np.ndarray) -> float:
    """Moment estimate of the NB2 overdispersion ``alpha`` (Var = m + alpha m^2).

    Parameters
    ----------
    counts, mean : ndarray
        Observed counts and their null means, same shape.

    Returns
    -------
    float
        ``max(0, sum m^2 [(x - m)^2 - x] / sum m^4)``; 0 when all means are 0.

    Notes
    -----
    The least-squares slope through the origin of ``(x - m)^2 - x`` on ``m^2``
    (Cameron & Trivedi 1990, J. Econometrics 46:347-364, auxiliary regression
    for overdispersion). Under Poisson the regressand has mean 0, under NB2 it
    has mean ``alpha m^2``. Real clustering in the cube also inflates it, which
    is the price of a test that allows for overdispersion.
    """
    x = np.asarray(counts, dtype=np.float64)
    m = np.asarray(mean, dtype=np.float64)
    m2 = m * m
    den = float(np.sum(m2 * m2))
    if den <= 0.0:
        return 0.0
    num = float(np.sum(m2 * ((x - m) ** 2 - x)))
    return max(0.0, num / den)


def _poisson_tails(n: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """P(X >= n), P(X <= n) for X ~ Poisson(e); only n > 0 needs special functions."""
    p_hot = np.ones_like(e)
    p_cold = np.exp(-e)  # n == 0
    pos = n > 0
    if pos.any():
        nn, ee = n[pos], e[pos]
        p_hot[pos] = special.pdtrc(nn - 1, ee)  # P(X > n - 1)
        p_cold[pos] = special.pdtr(nn, ee)
    return p_hot, p_cold


def _negbin_tails(n: np.ndarray, e: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Tails of an NB with mean e and variance v >= e (Poisson where v == e)."""
    p_hot, p_cold = _poisson_tails(n, e)
    over = (v > e * (1 + 1e-12)) & (e > 0)
    if over.any():
        nn, ee, vv = n[over], e[over], v[over]
        size = ee * ee / (vv - ee)
        prob = ee / vv  # success probability in scipy's NB(size, prob)
        cold = special.betainc(size, nn + 1.0, prob)  # P(X <= n) = I_p(r, n + 1)
        hot = np.where(nn > 0, special.betainc(np.maximum(nn, 1.0), size, 1.0 - prob), 1.0)  # I_{1-p}(n, r)
        p_hot[over] = hot
        p_cold[over] = cold
    return p_hot, p_cold


def _keyed_tables(card, week_mean, nsum, time_step, p_method, overdispersion, n_cells, n_bins, zparts=None):
    """Tails per (cardinality, week, N) key when there is no exposure; None if not worth it.

    Returns ``(key, hot, cold, count, z, p_norm)``: ``key`` indexes the flattened
    ``(n_card, n_weeks, max_N + 1)`` tables for every bin, ``count`` how many
    bins share each key (for Benjamini-Hochberg on the table). With ``zparts =
    (xbar, sd, n, n_back)`` the Gi* z and its normal p are tabulated on the same
    keys (same formula, so the gathered values are bit-identical); else ``None``.
    """
    if p_method == "normal":
        return None
    n_weeks = week_mean.shape[0]
    ucard, cidx = np.unique(card, return_inverse=True)
    max_n = int(nsum.max())
    size = ucard.size * n_weeks * (max_n + 1)
    if size > n_bins // 4:
        return None
    e_tab = ucard[:, None, None] * _window_sum(week_mean[None, :], time_step)[:, :, None]
    n_tab = np.broadcast_to(np.arange(max_n + 1, dtype=np.float64), (ucard.size, n_weeks, max_n + 1))
    e_tab = np.broadcast_to(e_tab, n_tab.shape)
    if p_method == "poisson":
        hot, cold = _poisson_tails(np.ascontiguousarray(n_tab), np.ascontiguousarray(e_tab))
    else:
        v = e_tab + overdispersion * ucard[:, None, None] * _window_sum((week_mean**2)[None, :], time_step)[:, :, None]
        hot, cold = _negbin_tails(np.ascontiguousarray(n_tab), np.ascontiguousarray(e_tab), np.ascontiguousarray(v))
    hot = np.clip(hot, 0.0, 1.0)
    cold = np.clip(cold, 0.0, 1.0)
    key = (cidx.astype(np.int64)[:, None] * n_weeks + np.arange(n_weeks)[None, :]) * (max_n + 1)
    key += nsum.astype(np.int64)
    count = np.bincount(key.ravel(), minlength=size).reshape(hot.shape)
    z_tab = pn_tab = None
    if zparts is not None:
        xbar, sd, n, n_back = zparts
        w = ucard[:, None] * n_back[None, :]
        w = np.broadcast_to(w[:, :, None], n_tab.shape)
        z_tab, pn_tab = _z_and_pnorm(np.ascontiguousarray(n_tab), np.ascontiguousarray(w), xbar, sd, n)
    return key, hot, cold, count, z_tab, pn_tab


def _z_and_pnorm(nsum, w, xbar, sd, n):
    """Gi* z from neighbourhood sums and weight sums (elementwise), and its two-sided normal p."""
    den2 = (n * w - w * w) / (n - 1) if n > 1 else np.zeros_like(w)
    ok = (den2 > 0) & (sd > 0)
    z = np.zeros_like(nsum)
    np.divide(nsum - xbar * w, sd * np.sqrt(np.where(ok, den2, 1.0)), out=z, where=ok)
    p_norm = 2.0 * special.ndtr(-np.abs(z))
    return z, p_norm


def _bh_weighted(pv: np.ndarray, cnt: np.ndarray) -> np.ndarray:
    """BH on families (rows) given as distinct p-values with multiplicities.

    Standard BH gives tied p-values one adjusted value, ``p m / r_last`` capped
    by the larger p-values' adjusted values, so a row of (value, count) pairs
    is enough: ranks are cumulative counts.
    """
    m = cnt.sum(axis=1, keepdims=True).astype(np.float64)
    order = np.argsort(pv, axis=1, kind="stable")
    ps = np.take_along_axis(pv, order, axis=1)
    cs = np.take_along_axis(cnt, order, axis=1)
    rank = np.cumsum(cs, axis=1).astype(np.float64)
    q = np.full(ps.shape, np.inf)
    np.divide(ps * m, rank, out=q, where=cs > 0)
    adj = np.minimum(np.minimum.accumulate(q[:, ::-1], axis=1)[:, ::-1], 1.0)
    out = np.empty_like(adj)
    np.put_along_axis(out, order, adj, axis=1)
    return out


def _bh_table(tab_p: np.ndarray, tab_count: np.ndarray, fdr: str, n_weeks: int) -> np.ndarray:
    """BH over keyed tables shaped (n_card, n_weeks, max_N + 1)."""
    if fdr == "none":
        return tab_p
    if fdr == "cube":
        return _bh_weighted(tab_p.reshape(1, -1), tab_count.reshape(1, -1)).reshape(tab_p.shape)
    # per week: families are the week slices
    pv = np.moveaxis(tab_p, 1, 0).reshape(n_weeks, -1)
    cn = np.moveaxis(tab_count, 1, 0).reshape(n_weeks, -1)
    adj = _bh_weighted(pv, cn).reshape(n_weeks, tab_p.shape[0], tab_p.shape[2])
    return np.moveaxis(adj, 0, 1)


def _classes(p_hot, p_cold, p_fdr, levels) -> np.ndarray:
    """-3..3: sign from the smaller tail, level from how many alpha levels p_fdr is below."""
    sign = (p_hot < p_cold).astype(np.int8) - (p_cold < p_hot).astype(np.int8)
    level = (p_fdr < levels[0]).astype(np.int8)
    level += p_fdr < levels[1]
    level += p_fdr < levels[2]
    return sign * level


# --------------------------------------------------------------------------- #
# the statistic                                                                #
# --------------------------------------------------------------------------- #
def gi_star(
    counts,
    spatial,
    time_step: int = 1,
    exposure=None,
    p_method: str = "poisson",
    fdr: str = "cube",
    alpha_levels=DEFAULT_ALPHA_LEVELS,
) -> GiStarResult:
    r"""Space-time Getis-Ord Gi* over a weekly count cube, with calibrated p-values.

    Parameters
    ----------
    counts : array_like, shape (n_cells, n_weeks)
        Events per cell-week (whole numbers >= 0 unless ``p_method="normal"``).
    spatial : scipy.sparse matrix, shape (n_cells, n_cells)
        Binary spatial weights including each cell itself.
    time_step : int, default 1
        Weeks looked back; the neighbourhood of (i, t) covers weeks
        ``t - time_step .. t``.
    exposure : array_like, shape (n_cells, n_weeks) or (n_cells,), optional
        Exposure per cell-week (placement-nights, young people in care near the
        cell); default 1 everywhere.
    p_method : {"poisson", "negbin", "normal"}, default "poisson"
        Null distribution of the neighbourhood sum.
    fdr : {"cube", "week", "none"}, default "cube"
        Benjamini-Hochberg family.
    alpha_levels : tuple of 3 floats, default (0.10, 0.05, 0.01)
        Two-sided levels for classes 1, 2, 3.

    Returns
    -------
    GiStarResult

    Notes
    -----
    With ``x`` the cube flattened over all ``n`` bins, ``xbar`` and ``S`` its
    mean and population standard deviation, ``N_b`` the neighbourhood sum and
    ``W_b`` the number of cell-weeks in it (Ord & Getis 1995, Geographical
    Analysis 27:286-306, eq. for :math:`G_i^*`; esda ``G_Local(star=True,
    transform='B')``; ArcGIS Emerging Hot Spot Analysis, "entire cube" window):

    .. math:: z_b = \frac{N_b - \bar x W_b}{S \sqrt{(n W_b - W_b^2)/(n - 1)}}

    (``z = 0`` where ``S = 0``, e.g. a cube without events.)

    Calibrated null: with ``C_t`` the week's events and ``e`` the exposure,
    each cell-week expects ``m_{j,t} = C_t e_{j,t} / sum_i e_{i,t}`` and
    ``E_b = sum_{j in N(b)} m_j``. ``p_hot = P(X >= N_b)``,
    ``p_cold = P(X <= N_b)`` for ``X ~ Poisson(E_b)``. The ``"negbin"``
    variant estimates NB2 overdispersion ``alpha`` from the whole cube
    (:func:`estimate_nb_overdispersion`), gives the neighbourhood sum
    variance ``V_b = E_b + alpha sum_{j in N(b)} m_j^2`` (independent cells)
    and uses the tails of the NB with that mean and variance
    (size ``E^2/(V-E)``, probability ``E/V``). ``"normal"`` uses ``sf(z)``
    and ``cdf(z)``. Because the week totals are conditioned on, the Poisson
    null is slightly conservative (the conditional law is binomial), and the
    discrete tails are conservative too.

    Multiple testing: Benjamini & Hochberg (1995) on the two-sided ``p``.

    Without exposure, ``E_b`` and ``V_b`` depend on a bin only through its
    cell's neighbour count and its week, so the tails, BH and classes are
    evaluated once per (neighbour count, week, ``N_b``) key and gathered
    (identical to the per-bin computation; tested against it).

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> s = sp.csr_matrix(np.array([[1, 1, 0], [1, 1, 1], [0, 1, 1]]))
    >>> r = gi_star(np.array([[2, 0, 1], [0, 1, 0], [0, 0, 2]]), s, time_step=1)
    >>> r.neighbourhood_sum.astype(int)
    array([[2, 3, 2],
           [2, 3, 4],
           [0, 1, 3]])
    >>> round(float(r.z[0, 1]), 6)   # 1 / sqrt(15)
    0.258199
    """
    if p_method not in P_METHODS:
        raise InvalidInputError(f"p_method must be one of {P_METHODS}; received {p_method!r}.")
    if fdr not in FDR_MODES:
        raise InvalidInputError(f"fdr must be one of {FDR_MODES}; received {fdr!r}.")
    levels = _check_alpha_levels(alpha_levels)
    time_step = _check_time_step(time_step)
    x = _check_counts(counts, p_method)
    n_cells, n_weeks = x.shape
    spatial = _check_spatial(spatial, n_cells)
    e = _check_exposure(exposure, x)

    # ---- Gi* z (ArcGIS / esda), global moments over the whole cube -------- #
    n = x.size
    xbar = float(x.mean())
    sd = float(x.std())  # population SD (ddof=0), as ArcGIS and esda
    nsum = _neighbourhood_sum(spatial, x, time_step, whole=p_method != "normal")
    card = np.asarray(spatial.sum(axis=1)).ravel()
    n_back = np.minimum(np.arange(n_weeks), time_step) + 1.0
    w = card[:, None] * n_back[None, :]
    z = p_norm = None  # computed per key below when the keyed tables apply, else per bin

    # ---- calibrated null ------------------------------------------------- #
    week_total = x.sum(axis=0)
    if e is None:
        m = np.broadcast_to(week_total / n_cells, x.shape)
    else:
        exp_total = e.sum(axis=0)
        rate = np.divide(week_total, exp_total, out=np.zeros(n_weeks), where=exp_total > 0)
        m = e * rate[None, :]
    overdispersion = 0.0
    notes: list[str] = []
    if p_method == "negbin":
        overdispersion = estimate_nb_overdispersion(x, m)
        notes.append(f"NB2 overdispersion alpha = {overdispersion:.4g} (moment estimate over the cube)")

    keyed = None
    if e is None:
        # Without exposure every cell-week of week t expects C_t / n_cells, so E_b
        # (and V_b) depend on the bin only through (cardinality, week): compute
        # the tails once per (cardinality, week, N) key and gather.
        week_mean = week_total / n_cells
        expected = card[:, None] * _window_sum(week_mean[None, :], time_step)
        keyed = _keyed_tables(card, week_mean, nsum, time_step, p_method, overdispersion, n_cells, x.size,
                              zparts=(xbar, sd, n, n_back))
    else:
        expected = _neighbourhood_sum(spatial, np.ascontiguousarray(m), time_step)

    if keyed is not None:
        key, tab_hot, tab_cold, tab_count, tab_z, tab_pn = keyed
        tab_p = np.minimum(1.0, 2.0 * np.minimum(tab_hot, tab_cold))
        tab_fdr = _bh_table(tab_p, tab_count, fdr, n_weeks)
        tab_class = _classes(tab_hot, tab_cold, tab_fdr, levels)
        p_hot, p_cold, p = tab_hot.ravel()[key], tab_cold.ravel()[key], tab_p.ravel()[key]
        p_fdr, gi_class = tab_fdr.ravel()[key], tab_class.ravel()[key]
        z, p_norm = tab_z.ravel()[key], tab_pn.ravel()[key]
    else:
        z, p_norm = _z_and_pnorm(nsum, w, xbar, sd, n)
        if p_method == "poisson":
            p_hot, p_cold = _poisson_tails(nsum, expected)
        elif p_method == "negbin":
            var = expected + overdispersion * _neighbourhood_sum(spatial, np.ascontiguousarray(m * m), time_step)
            p_hot, p_cold = _negbin_tails(nsum, expected, var)
        else:
            p_hot = special.ndtr(-z)
            p_cold = special.ndtr(z)
        p_hot = np.clip(p_hot, 0.0, 1.0)
        p_cold = np.clip(p_cold, 0.0, 1.0)
        p = np.minimum(1.0, 2.0 * np.minimum(p_hot, p_cold))
        p_fdr = benjamini_hochberg(p, fdr)
        gi_class = _classes(p_hot, p_cold, p_fdr, levels)
    if week_total.sum() == 0:
        notes.append("no events in the cube: every z is 0 and every p is 1")

    return GiStarResult(
        z=z,
        neighbourhood_sum=nsum,
        expected=expected,
        weight_sum=w,
        p_hot=p_hot,
        p_cold=p_cold,
        p=p,
        p_norm=p_norm,
        p_fdr=p_fdr,
        gi_class=gi_class,
        time_step=time_step,
        p_method=p_method,
        fdr=fdr,
        alpha_levels=levels,
        overdispersion=overdispersion,
        mean=xbar,
        sd=sd,
        n_bins=int(n),
        notes=tuple(notes),
    )
