"""Prospective space-time permutation scan for emerging clusters of rare events.

The scan asks, every week: *is there a group of neighbouring cells where the
last few weeks hold more events than that place's own history and the area's
recent weeks together would lead us to expect?* It finds what is **new** relative
to a place's own history, complementing Gi*, which finds what is high relative to
the area (METHODS §5).

Notation follows Kulldorff et al. (2005):

* ``c_zd`` – events in cell ``z`` in week ``d``; ``C`` – all events;
* ``C_z`` – all events in cell ``z`` (whole history), ``C_d`` – all events in week ``d``;
* ``μ_zd = C_z·C_d / C`` – expected count when space and time do not interact;
* for a cylinder ``A`` (a zone × a window), ``c_A`` and ``μ_A`` are sums over it.

Cylinders are H3 disks ``grid_disk(c, r)`` (restricted to the study cells) for
every study cell ``c`` and ``r = 0 … R``, crossed with windows of ``1 … W``
weeks that end in the last week (prospective surveillance).

Everything is vectorised: zone membership is a sparse matrix, window sums are
cumulative sums over the last ``W`` weeks, Monte Carlo replicates are drawn as
cell × week tables (never event by event, so their cost does not grow with the
number of events) and processed in batches with one sparse-dense product per
batch.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from analytics.errors import InvalidInputError
from analytics.grid import cells_to_hex, hex_to_cells, neighbour_matrix

__all__ = [
    "ScanResult",
    "space_time_permutation_scan",
    "scan_llr",
    "recurrence_interval",
    "track_clusters",
    "CLUSTER_COLUMNS",
]

#: Columns of :attr:`ScanResult.clusters`, in order.
CLUSTER_COLUMNS = [
    "cluster_rank",
    "kind",
    "center_cell",
    "center_hex",
    "radius",
    "n_cells",
    "cells",
    "cells_hex",
    "window_start",
    "window_end",
    "window_weeks",
    "observed",
    "expected",
    "obs_exp",
    "relative_risk",
    "llr",
    "p_value",
    "recurrence_weeks",
    "significant",
]

_BATCH_ELEMENTS = 4_000_000  # zones × windows × replicates per batch (~32 MB of float64)
_TOL = 1e-9                  # relative tolerance when a replicate's max LLR is compared with an observed one
_MVH_MAX_TOTAL = 10**9       # numpy's "marginals" multivariate hypergeometric needs sum(colors) < 10**9
_COUNT_MAX_TOTAL = 2**18     # "count" method (shuffles sum(colors) items) only while that array stays in cache
_COUNT_PER_COLOUR = 64       # ... and is cheaper than one univariate draw per colour


@dataclass(frozen=True)
class ScanResult:
    """Result of :func:`space_time_permutation_scan`.

    Attributes
    ----------
    clusters : pandas.DataFrame
        Primary cluster (``cluster_rank`` 0, ``kind == "primary"``) then
        non-overlapping secondary clusters in decreasing LLR, columns
        :data:`CLUSTER_COLUMNS`. ``cells`` holds tuples of ``uint64`` cell ids
        (inside the product); ``center_hex``/``cells_hex`` are for outputs.
        Empty (same columns) when no cylinder has an excess.
    llr_sim : numpy.ndarray
        Maximum LLR of each Monte Carlo replicate (length ``replicates``).
    n_events : int
        ``C``, the total number of events in the table.
    n_zones : int
        Distinct spatial zones scanned (duplicate cell sets removed).
    n_windows : int
        Temporal windows scanned (``max_window``).
    n_weeks : int
        Weeks in the table; the last one has index ``n_weeks - 1``.
    replicates, seed, alpha, max_radius, max_window, min_cases :
        The parameters used.
    """

    clusters: pd.DataFrame
    llr_sim: np.ndarray = field(repr=False)
    n_events: int
    n_zones: int
    n_windows: int
    n_weeks: int
    replicates: int
    seed: int
    alpha: float
    max_radius: int
    max_window: int
    min_cases: int

    @property
    def primary(self) -> pd.Series | None:
        """The primary (most likely) cluster, or ``None`` when there is none."""
        if self.clusters.empty:
            return None
        return self.clusters.iloc[0]

    @property
    def significant(self) -> pd.DataFrame:
        """Clusters with ``p_value <= alpha``."""
        return self.clusters[self.clusters["significant"]]


# --------------------------------------------------------------------------- formulas


def scan_llr(c, mu, total: float, min_cases: int = 1) -> np.ndarray:
    """Poisson generalised log-likelihood ratio of cylinders (high rates only).

    Parameters
    ----------
    c : array_like
        Observed events in each cylinder, ``c_A``.
    mu : array_like
        Expected events, ``μ_A`` (broadcast against ``c``).
    total : float
        ``C``, all events.
    min_cases : int, default 1
        Cylinders with fewer observed events get LLR 0.

    Returns
    -------
    numpy.ndarray
        ``c ln(c/μ) + (C − c) ln((C − c)/(C − μ))`` where ``c > μ`` and
        ``c >= min_cases``; 0 elsewhere. The second term is 0 when ``c = C``.

    Notes
    -----
    Kulldorff, Heffernan, Hartman, Assunção & Mostashari (2005), "A space-time
    permutation scan statistic for disease outbreak detection", *PLoS Medicine*
    2(3): e59, eq. for the GLR under the Poisson approximation.

    Examples
    --------
    >>> round(float(scan_llr(4, 1.0, 10)), 6)
    3.112387
    """
    c = np.asarray(c, dtype=np.float64)
    mu = np.asarray(mu, dtype=np.float64)
    total = float(total)
    with np.errstate(divide="ignore", invalid="ignore"):
        rest = total - c
        first = c * np.log(c / mu)
        second = np.where(rest > 0, rest * np.log(rest / (total - mu)), 0.0)
        llr = first + second
    keep = (c > mu) & (c >= min_cases)
    return np.where(keep, llr, 0.0)


def recurrence_interval(p, analyses_per_week: float = 1.0) -> np.ndarray:
    """Recurrence interval in weeks, ``RI = 1 / (1 − (1 − p)^(1/I))``.

    Parameters
    ----------
    p : array_like
        Monte Carlo p-values.
    analyses_per_week : float, default 1
        ``I``, analyses per week. The weekly run does one analysis per week, so
        ``I = 1`` and ``RI = 1/p`` weeks: the expected time between false alarms
        at least this strong if nothing unusual were happening.

    Notes
    -----
    Kulldorff (2001), "Prospective time periodic geographical disease
    surveillance using a scan statistic", *JRSS A* 164: 61–72; SaTScan User
    Guide, "Recurrence interval".

    Examples
    --------
    >>> round(float(recurrence_interval(0.001)), 6)
    1000.0
    """
    if not analyses_per_week > 0:
        raise InvalidInputError(f"analyses_per_week must be positive; received {analyses_per_week!r}.")
    p = np.asarray(p, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return 1.0 / -np.expm1(np.log1p(-p) / analyses_per_week)


# --------------------------------------------------------------------------- helpers


def _validate(counts, cells, max_radius, max_window, replicates, alpha, max_secondary, min_cases):
    counts = np.asarray(counts)
    cells = np.asarray(cells)
    if counts.ndim != 2:
        raise InvalidInputError(
            f"counts must be a 2-D array (n_cells, n_weeks); received shape {counts.shape}."
        )
    if cells.ndim != 1 or cells.shape[0] != counts.shape[0]:
        raise InvalidInputError(
            "cells must be 1-D with one entry per row of counts; "
            f"received {cells.shape} cells for counts of shape {counts.shape}."
        )
    if counts.size and (not np.all(np.isfinite(counts)) or np.any(counts < 0)):
        raise InvalidInputError("counts must be finite and non-negative.")
    if counts.size and np.any(counts != np.round(counts)):
        raise InvalidInputError(
            "counts must be whole numbers of events (the permutation scan shuffles events)."
        )
    cells = cells.astype(np.uint64)
    if np.unique(cells).shape[0] != cells.shape[0]:
        raise InvalidInputError("cells must be unique (one row of counts per cell).")
    for name, value, low in (
        ("max_radius", max_radius, 0),
        ("max_window", max_window, 1),
        ("replicates", replicates, 0),
        ("max_secondary", max_secondary, 0),
        ("min_cases", min_cases, 1),
    ):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
            raise InvalidInputError(f"{name} must be an integer >= {low}; received {value!r}.")
    if not 0 < float(alpha) < 1:
        raise InvalidInputError(f"alpha must be between 0 and 1; received {alpha!r}.")
    n_weeks = counts.shape[1]
    if max_window > n_weeks:
        raise InvalidInputError(
            f"max_window ({max_window}) is longer than the history ({n_weeks} weeks); "
            "pass more weeks or a shorter max_window."
        )
    return counts.astype(np.int64), cells


def _zone_matrix(cells: np.ndarray, max_radius: int) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """Sparse zone × cell membership, duplicate cell sets removed.

    Rows are ordered radius-major, so when two (centre, radius) pairs give the
    same cell set (at the study-area edge) the smaller radius is kept.
    """
    n = cells.shape[0]
    blocks = [sp.identity(n, format="csr", dtype=np.float64)]
    for r in range(1, max_radius + 1):
        blocks.append(neighbour_matrix(cells, r).tocsr())
    full = sp.vstack(blocks, format="csr")
    full.sort_indices()
    centre = np.tile(np.arange(n), max_radius + 1)
    radius = np.repeat(np.arange(max_radius + 1), n)
    seen: set[bytes] = set()
    keep = np.zeros(full.shape[0], dtype=bool)
    indptr, indices = full.indptr, full.indices
    for z in range(full.shape[0]):
        key = indices[indptr[z]:indptr[z + 1]].tobytes()
        if key not in seen:
            seen.add(key)
            keep[z] = True
    return full[keep], centre[keep], radius[keep]


def _window_sums(tail: np.ndarray) -> np.ndarray:
    """(n_cells, W) tail, oldest first -> cumulative sums over the last 1..W weeks."""
    return np.cumsum(tail[:, ::-1], axis=1)


@dataclass(frozen=True)
class _LLRKernel:
    """The LLR of every cylinder for integer counts, without a logarithm per cylinder and replicate.

    Why: the Monte Carlo evaluates ``scan_llr`` on zones × windows × replicates (10^8–10^9
    values); its logs and divisions were most of the scan's time. For a cylinder with
    expected ``μ`` and an integer count ``c``,

    ``LLR = c ln(c/μ) + (C−c) ln((C−c)/(C−μ)) = T[c] − c·a − b`` with
    ``T[c] = c ln c + (C−c) ln(1 − c/C)`` (tabulated once for ``c = 0 … k``),
    ``a = ln μ − ln(1 − μ/C)`` and ``b = C ln(1 − μ/C)`` (once per cylinder).

    Using ``log1p`` for ``ln(1 − x/C)`` keeps the second term accurate (it is a small
    difference of large numbers); the result agrees with :func:`scan_llr` to ~1e-11
    relative, far inside the 1e-9 tolerance of the p-value comparison. The candidate mask
    ``c > μ and c >= min_cases`` is ``c > thr`` with ``thr = max(μ, min_cases − 1)``
    because ``c`` is a whole number.
    """

    table: np.ndarray   # T[c], c = 0 … k
    a: np.ndarray       # (n_zones, W)
    b: np.ndarray       # (n_zones, W)
    thr: np.ndarray     # (n_zones, W)

    @classmethod
    def build(cls, mu: np.ndarray, total: int, k: int, min_cases: int) -> "_LLRKernel":
        c = np.arange(k + 1, dtype=np.float64)
        rest = total - c
        with np.errstate(divide="ignore", invalid="ignore"):
            table = (np.where(c > 0, c * np.log(c), 0.0)
                     + np.where(rest > 0, rest * np.log1p(-c / total), 0.0))
            log_out = np.log1p(-mu / total)
            a = np.log(mu) - log_out
        live = mu > 0  # a zone with no events in the whole history can never be a candidate
        return cls(table, np.where(live, a, 0.0), np.where(live, total * log_out, 0.0),
                   np.maximum(mu, min_cases - 1))

    def max_llr(self, cz: np.ndarray) -> np.ndarray:
        """Max LLR per replicate of counts ``cz`` (n_zones, B, W) holding whole numbers."""
        ci = cz.astype(np.intp)
        llr = self.table[ci]
        llr -= ci * self.a[:, None, :]
        llr -= self.b[:, None, :]
        llr[ci <= self.thr[:, None, :]] = 0.0
        return llr.max(axis=0).max(axis=1)

    def min_count(self, level: float) -> np.ndarray:
        """Per cylinder, the smallest whole count whose LLR reaches ``level`` (k + 1 if none does).

        The LLR rises with ``c`` above ``μ``, so a vectorised bisection over ``c`` finds it.
        ``level`` is lowered by a relative 1e-9 so that rounding in the tabulated LLR (~1e-11)
        can never hide a cylinder that reaches ``level`` (see :meth:`max_llr_pruned`).
        """
        target = level - _TOL * max(1.0, abs(level))
        k = self.table.shape[0] - 1
        lo = np.floor(self.thr).astype(np.int64) + 1       # smallest candidate count
        hi = np.full(lo.shape, k + 1, dtype=np.int64)
        lo = np.minimum(lo, hi)
        while np.any(lo < hi):
            mid = (lo + hi) // 2
            ok = self.table[np.minimum(mid, k)] - mid * self.a - self.b >= target
            ok &= mid <= k
            hi = np.where(ok, mid, hi)
            lo = np.where(ok, lo, mid + 1)
        return hi

    def max_llr_pruned(self, cz: np.ndarray, need: np.ndarray, level: float) -> np.ndarray:
        """:meth:`max_llr`, exactly, evaluating the LLR only where ``cz >= need`` (``need = min_count(level)``).

        Why: a replicate's maximum is one of a handful of cylinders; a comparison per cylinder
        is several times cheaper than its LLR. Where the LLR reaches ``level``, ``cz >= need``,
        so a replicate whose pruned maximum reaches ``level`` has its true maximum; the few
        replicates below ``level`` are evaluated in full.
        """
        zi, bi, wi = np.nonzero(cz >= need[:, None, :])
        c = cz[zi, bi, wi].astype(np.float64)
        llr = self.table[c.astype(np.intp)] - c * self.a[zi, wi] - self.b[zi, wi]
        out = np.zeros(cz.shape[1])
        np.maximum.at(out, bi, llr)
        low = out < level
        if low.any():
            out[low] = self.max_llr(cz[:, low, :])
        return out


def _mvh_method(total: int, n_colors: int) -> str:
    """numpy's multivariate hypergeometric algorithm for an urn of ``total`` items in ``n_colors`` colours.

    ``"count"`` shuffles a temporary array of ``total`` items (cheap while it stays in cache);
    ``"marginals"`` makes one univariate hypergeometric draw per colour (``O(n_colors)`` whatever
    ``total`` is, but ~100–200 ns a draw, and it needs ``total < 10**9``). Both are exact, so the
    choice only changes speed; it depends on the data alone, so a seed still fixes the result.
    """
    return "count" if total <= min(_COUNT_MAX_TOTAL, _COUNT_PER_COLOUR * n_colors) else "marginals"


def _replicate_tables(rng: np.random.Generator, cell_tot: np.ndarray, tail_weeks: np.ndarray,
                      b: int) -> np.ndarray:
    """Cell × recent-week tables of ``b`` permutation replicates, drawn without touching single events.

    Parameters
    ----------
    rng : numpy.random.Generator
        The replicate stream (the only source of randomness).
    cell_tot : numpy.ndarray of int64, shape (K,)
        ``C_z`` of each cell (all of them > 0: an empty cell always gets 0).
    tail_weeks : numpy.ndarray of int64, shape (W,)
        ``C_T, C_{T−1}, …``: totals of the last ``W`` weeks, last week first.
    b : int
        Replicates.

    Returns
    -------
    numpy.ndarray of int64, shape (b, K, W)
        ``out[i, z, s]``: events of cell ``z`` in week ``T − s`` in replicate ``i``. Every
        replicate has the observed margins: ``out[i, :, s].sum() == tail_weeks[s]`` and
        ``out[i, z].sum() <= cell_tot[z]`` (the rest of the cell's events fall in earlier weeks).

    Notes
    -----
    Why: the permutation null (Kulldorff et al. 2005) shuffles the week labels of all ``C``
    events, keeping their cells. Shuffling them explicitly costs ``O(C)`` per replicate (15 ms
    at 5 M events); only the table it produces matters, and its exact distribution, the
    multiple hypergeometric distribution of a table with fixed margins, can be drawn in
    ``O(K·W)`` C-level steps:

    1. the ``R = Σ tail_weeks`` recent labels land on a uniformly random ``R``-subset of the
       events, so the number per cell is multivariate hypergeometric with colours ``C_z``
       and ``R`` draws (one batched call for all ``b`` replicates);
    2. given those, the recent labels are a uniformly random arrangement of ``C_T`` labels
       ``T``, ``C_{T−1}`` labels ``T − 1``, … over the ``R`` recent events, so week ``T``'s
       events per cell are multivariate hypergeometric with colours = each cell's recent
       count and ``C_T`` draws; removing them, week ``T − 1`` is drawn from what is left, and
       so on; the oldest of the ``W`` weeks gets what remains.

    Every step is a conditional distribution of the permutation's table, so the product is
    its joint distribution: replicates have the same law as shuffling events, not an
    approximation of it (the random stream differs, so individual replicates differ).
    """
    k, w = cell_tot.shape[0], tail_weeks.shape[0]
    recent = int(tail_weeks.sum())
    out = np.empty((b, k, w), dtype=np.int64)
    rest = rng.multivariate_hypergeometric(cell_tot, recent, size=b,
                                           method=_mvh_method(int(cell_tot.sum()), k))
    split = _mvh_method(recent, k)
    for i in range(b):               # per replicate: W − 1 draws, each O(K) in C
        left = rest[i]
        for s in range(w - 1):
            take = rng.multivariate_hypergeometric(left, int(tail_weeks[s]), method=split)
            out[i, :, s] = take
            left -= take
        out[i, :, w - 1] = left
    return out


def _window_block(tables: np.ndarray, active: np.ndarray, n_cells: int, dtype) -> np.ndarray:
    """Window sums of a batch of replicate tables as one dense (n_cells, B·W) block.

    ``tables`` is :func:`_replicate_tables` output for the cells ``active``; cells with no
    events get zero rows. The block is laid out cell-major so that the zone product needs no
    transpose; the cumulative sum over weeks (last week first) gives windows of 1 … W weeks.
    """
    b, _, w = tables.shape
    dense = np.zeros((n_cells, b, w), dtype=dtype)
    dense[active] = tables.transpose(1, 0, 2)
    for s in range(1, w):            # W vector adds: far faster than cumsum along a short last axis
        dense[:, :, s] += dense[:, :, s - 1]
    return dense.reshape(n_cells, b * w)


def _first_stop(llr_sim: np.ndarray, done: int, llr_top: float, tol: float, stop_after: int) -> bool:
    """Sequential Monte Carlo (Besag & Clifford 1991): stop once the top cluster cannot be significant.

    ``stop_after`` is the number of replicates at or above the top observed LLR at which
    ``p = (1 + g)/(R + 1)`` exceeds alpha whatever the remaining replicates give. Every
    reported cluster's LLR is at most the top one's, so none of them can be significant
    either: the significance of every cluster is exactly that of the full run.
    """
    return int(np.sum(llr_sim[:done] >= llr_top - tol * max(1.0, abs(llr_top)))) >= stop_after


def _stop_count(replicates: int, alpha: float) -> int:
    """Smallest number ``g`` of replicates at or above an observed LLR with ``(1 + g)/(R + 1) > alpha``."""
    g = max(0, int(np.floor(alpha * (replicates + 1))) - 1)
    while (1 + g) / (replicates + 1) <= alpha:
        g += 1
    while g > 0 and g / (replicates + 1) > alpha:
        g -= 1
    return g


def _monte_carlo(counts: np.ndarray, zones: sp.csr_matrix, mu: np.ndarray, total: int, w_max: int,
                 replicates: int, seed: int, min_cases: int, llr_top: float,
                 stop_alpha: float | None) -> np.ndarray:
    """Max LLR of each Monte Carlo replicate (see the Notes of :func:`space_time_permutation_scan`).

    Replicate tables come from :func:`_replicate_tables` (exact permutation null, cost
    independent of the number of events), drawn batch by batch from one generator seeded with
    ``seed``, so a seed gives the same replicates, and a run stopped early holds the first
    replicates of the full run. With ``stop_alpha``, stops after the first batch at which the
    top observed cluster (LLR ``llr_top``) can no longer be significant (:func:`_first_stop`);
    the result then holds only the replicates run.

    Raises
    ------
    InvalidInputError
        ``total >= 10**9`` events (numpy's multivariate hypergeometric sampler needs fewer).
    """
    n_cells = counts.shape[0]
    if stop_alpha is not None and llr_top <= 0:
        return np.zeros(0)          # nothing to test: no replicate is needed
    llr_sim = np.zeros(replicates)
    tail_weeks = counts.sum(axis=0)[::-1][:w_max].astype(np.int64)    # C_T, C_{T-1}, ...
    k = int(tail_weeks.sum())
    if not replicates or k == 0:
        return llr_sim              # no events in the last W weeks: every replicate has max LLR 0
    if total >= _MVH_MAX_TOTAL:
        raise InvalidInputError(
            f"the permutation scan draws replicates for fewer than {_MVH_MAX_TOTAL:,} events; "
            f"received {total:,}. Scan a shorter history or a smaller area."
        )
    rng = np.random.default_rng(seed)
    kernel = _LLRKernel.build(mu, total, k, min_cases)
    # Whole-number sums are exact in float32 below 2^24, and float32 halves the product's memory traffic.
    dtype = np.float32 if k < 2**24 else np.float64
    zones = zones.astype(dtype)
    cell_tot = counts.sum(axis=1)
    active = np.flatnonzero(cell_tot)           # a cell with no events never gets any
    cell_tot = cell_tot[active].astype(np.int64)
    stop_after = _stop_count(replicates, stop_alpha) if stop_alpha is not None else None
    batch = max(1, _BATCH_ELEMENTS // max(1, zones.shape[0] * w_max))
    need = level = None
    for start in range(0, replicates, batch):
        b = min(batch, replicates - start)
        tables = _replicate_tables(rng, cell_tot, tail_weeks, b)
        dense = _window_block(tables, active, n_cells, dtype)
        cz = (zones @ dense).reshape(zones.shape[0], b, w_max)
        if need is None:
            llr_sim[start:start + b] = kernel.max_llr(cz)
            # The first batch's smallest maximum: most later maxima exceed it, so few
            # cylinders per replicate need their LLR evaluated (the rest are evaluated in full).
            level = float(llr_sim[:start + b].min())
            need = kernel.min_count(level).astype(dtype) if level > 0 else None
        else:
            llr_sim[start:start + b] = kernel.max_llr_pruned(cz, need, level)
        if stop_after is not None and _first_stop(llr_sim, start + b, llr_top, _TOL, stop_after):
            return llr_sim[:start + b]
    return llr_sim


# --------------------------------------------------------------------------- the scan


def space_time_permutation_scan(
    counts: np.ndarray,
    cells: np.ndarray,
    max_radius: int = 2,
    max_window: int = 4,
    replicates: int = 999,
    seed: int = 0,
    alpha: float = 0.05,
    max_secondary: int = 10,
    *,
    min_cases: int = 2,
    stop_early: bool = False,
) -> ScanResult:
    """Prospective space-time permutation scan (Kulldorff 2005) on an H3 cube.

    Parameters
    ----------
    counts : numpy.ndarray of int, shape (n_cells, n_weeks)
        Events per cell and week, oldest week first; the last column is the
        current week. The whole history defines the expected counts; only
        windows ending in the last week are scanned.
    cells : numpy.ndarray of uint64, shape (n_cells,)
        H3 cell of each row (unique).
    max_radius : int, default 2
        Zones are ``grid_disk(c, r)`` for ``r = 0 … max_radius`` around every
        study cell, restricted to study cells.
    max_window : int, default 4
        Windows of ``1 … max_window`` weeks ending in the last week.
    replicates : int, default 999
        Monte Carlo replicates (0 skips inference: p-values are NaN).
    seed : int, default 0
        Seed of the permutation generator; the same seed gives the same result.
    alpha : float, default 0.05
        Clusters with ``p <= alpha`` are flagged ``significant``.
    max_secondary : int, default 10
        Maximum number of secondary clusters reported.
    min_cases : int, default 2
        A cylinder needs at least this many events to be a candidate, in the
        observed data and in every replicate (SaTScan's "minimum number of
        cases in a cluster", default 2 for prospective space-time permutation
        analyses). It stops a single event in a quiet cell from being reported
        as an emerging cluster.
    stop_early : bool, default False
        Sequential Monte Carlo (Besag & Clifford 1991): stop the replicates as
        soon as the top cluster cannot reach ``p <= alpha`` any more (checked
        after each batch). Which clusters are significant, and the p-values of
        significant clusters, are exactly those of the full run; a
        non-significant cluster's p-value is then ``(1 + g)/(L + 1)`` over the
        ``L`` replicates run (still > alpha), and ``llr_sim`` holds ``L``
        values. A run with nothing to report (no cylinder with an excess)
        draws no replicates at all.

    Returns
    -------
    ScanResult
        Primary and non-overlapping secondary clusters with observed and
        expected counts, relative risk, LLR, p-value and recurrence interval.

    Raises
    ------
    InvalidInputError
        Bad shapes, negative or fractional counts, duplicate cells, or
        out-of-range parameters.

    Notes
    -----
    *Expected counts.* ``μ_zd = C_z·C_d/C``, so for zone ``Z`` and window
    ``D``: ``μ_A = (Σ_Z C_z)(Σ_D C_d)/C``. The LLR of a cylinder with
    ``c_A > μ_A`` is ``c_A ln(c_A/μ_A) + (C−c_A) ln((C−c_A)/(C−μ_A))``
    (:func:`scan_llr`); the test statistic is the maximum over cylinders.

    *Inference.* Each replicate shuffles the week labels of the individual
    events while keeping their cells (the permutation null of Kulldorff et al.
    2005), i.e. draws a cell × week table with the observed margins. Both
    margins are fixed, so every ``μ_A`` is the same in every replicate and only
    ``c_A`` changes. Only the last ``W`` weeks matter, and their part of the
    shuffled table is drawn exactly without shuffling single events: the
    recent events per cell are multivariate hypergeometric, then split among
    the ``W`` weeks by successive multivariate hypergeometric draws
    (:func:`_replicate_tables`), ``O(cells × W)`` per replicate whatever ``C``.
    ``p = (1 + #{sim ≥ obs})/(R + 1)``. Replicate LLRs use the same formula
    evaluated through a table of ``c ln c`` terms (:class:`_LLRKernel`),
    agreeing to ~1e-11 relative. ``C`` must be below 10⁹ (numpy's sampler).

    *Secondary clusters* are taken greedily in decreasing LLR among cylinders
    sharing no cell with any cluster already reported (all windows end in the
    last week, so they always overlap in time). Each gets its own p-value
    against the same distribution of replicate maxima, as SaTScan does; this
    is conservative for secondary clusters.

    *Relative risk* is ``(c/μ)/((C−c)/(C−μ))``, risk inside against risk
    outside; ``obs_exp`` is ``c/μ``. The *recurrence interval* is
    ``1/(1−(1−p)^(1/I))`` weeks with ``I = 1`` analysis per week, i.e. ``1/p``
    (:func:`recurrence_interval`).

    References: Kulldorff, Heffernan, Hartman, Assunção & Mostashari (2005),
    *PLoS Medicine* 2(3): e59; Kulldorff (2001), *JRSS A* 164: 61–72;
    Kulldorff (1997), *Communications in Statistics* 26: 1481–1496 (secondary
    clusters); SaTScan User Guide v10.

    Examples
    --------
    >>> import h3, numpy as np
    >>> centre = h3.latlng_to_cell(-33.87, 151.21, 9)
    >>> cells = np.array(sorted(h3.str_to_int(c) for c in h3.grid_disk(centre, 3)), dtype=np.uint64)
    >>> rng = np.random.default_rng(1)
    >>> counts = rng.poisson(0.3, (cells.size, 26))
    >>> counts[cells == h3.str_to_int(centre), -2:] += 6
    >>> res = space_time_permutation_scan(counts, cells, replicates=99, seed=0)
    >>> res.primary["center_hex"] == centre or centre in res.primary["cells_hex"]
    True
    >>> bool(res.primary["p_value"] <= 0.01)
    True
    """
    counts, cells = _validate(counts, cells, max_radius, max_window, replicates, alpha, max_secondary, min_cases)
    n_cells, n_weeks = counts.shape
    w_max = int(max_window)
    total = int(counts.sum())

    zones, centre, radius = _zone_matrix(cells, int(max_radius))
    n_zones = zones.shape[0]

    def _empty(llr_sim):
        return ScanResult(
            clusters=pd.DataFrame({c: pd.Series(dtype=object) for c in CLUSTER_COLUMNS}),
            llr_sim=llr_sim, n_events=total, n_zones=n_zones, n_windows=w_max, n_weeks=n_weeks,
            replicates=int(replicates), seed=int(seed), alpha=float(alpha),
            max_radius=int(max_radius), max_window=w_max, min_cases=int(min_cases),
        )

    if total == 0:
        return _empty(np.zeros(int(replicates)))

    cell_tot = counts.sum(axis=1).astype(np.float64)           # C_z
    week_tot = counts.sum(axis=0).astype(np.float64)           # C_d
    cd_cum = np.cumsum(week_tot[::-1][:w_max])                 # Σ C_d over last 1..W weeks
    zone_tot = zones @ cell_tot                                # Σ_Z C_z
    mu = zone_tot[:, None] * cd_cum[None, :] / total           # (n_zones, W)

    # observed
    obs_cum = _window_sums(counts[:, n_weeks - w_max:])         # (n_cells, W)
    c_obs = np.asarray(zones @ obs_cum.astype(np.float64))      # (n_zones, W)
    llr_obs = scan_llr(c_obs, mu, total, min_cases)

    llr_sim = _monte_carlo(counts, zones, mu, total, w_max, int(replicates), seed, min_cases,
                           float(llr_obs.max(initial=0.0)), float(alpha) if stop_early else None)

    # primary + non-overlapping secondary clusters
    flat = llr_obs.ravel()
    cand = np.flatnonzero(flat > 0)
    if cand.size == 0:
        return _empty(llr_sim)
    zi, wi = np.divmod(cand, w_max)
    order = np.lexsort((wi, zi, -flat[cand]))
    used = np.zeros(n_cells, dtype=bool)
    indptr, indices = zones.indptr, zones.indices
    picked: list[tuple[int, int]] = []
    for o in order:
        z, w = int(zi[o]), int(wi[o])
        members = indices[indptr[z]:indptr[z + 1]]
        if used[members].any():
            continue
        used[members] = True
        picked.append((z, w))
        if len(picked) >= 1 + int(max_secondary):
            break

    rows = []
    tol = _TOL
    for rank, (z, w) in enumerate(picked):
        members = np.sort(cells[indices[indptr[z]:indptr[z + 1]]])
        c, m, llr = float(c_obs[z, w]), float(mu[z, w]), float(llr_obs[z, w])
        if replicates:
            p = (1 + int(np.sum(llr_sim >= llr - tol * max(1.0, abs(llr))))) / (len(llr_sim) + 1)
        else:
            p = float("nan")
        rr = (c / m) / ((total - c) / (total - m)) if total > c else float("inf")
        rows.append(
            {
                "cluster_rank": rank,
                "kind": "primary" if rank == 0 else "secondary",
                "center_cell": np.uint64(cells[centre[z]]),
                "center_hex": cells_to_hex(cells[centre[z]:centre[z] + 1])[0],
                "radius": int(radius[z]),
                "n_cells": int(members.size),
                "cells": tuple(int(x) for x in members),
                "cells_hex": tuple(cells_to_hex(members)),
                "window_start": n_weeks - 1 - w,
                "window_end": n_weeks - 1,
                "window_weeks": w + 1,
                "observed": int(round(c)),
                "expected": m,
                "obs_exp": c / m,
                "relative_risk": rr,
                "llr": llr,
                "p_value": p,
                "recurrence_weeks": float(recurrence_interval(p)) if replicates else float("nan"),
                "significant": bool(replicates) and p <= alpha,
            }
        )
    clusters = pd.DataFrame(rows, columns=CLUSTER_COLUMNS)
    clusters["center_cell"] = clusters["center_cell"].astype(np.uint64)
    return ScanResult(
        clusters=clusters, llr_sim=llr_sim, n_events=total, n_zones=n_zones, n_windows=w_max,
        n_weeks=n_weeks, replicates=int(replicates), seed=int(seed), alpha=float(alpha),
        max_radius=int(max_radius), max_window=w_max, min_cases=int(min_cases),
    )


# --------------------------------------------------------------------------- tracking


def _cell_set(value) -> frozenset[int]:
    if value is None:
        return frozenset()
    items = list(value)
    if not items:
        return frozenset()
    if isinstance(items[0], str):
        return frozenset(int(c) for c in hex_to_cells(items))
    return frozenset(int(c) for c in items)


def _new_id(cells: frozenset[int], week) -> str:
    text = ",".join(str(c) for c in sorted(cells)) + f"|{'' if week is None else week}"
    return "stc-" + hashlib.sha1(text.encode()).hexdigest()[:10]


def track_clusters(previous: pd.DataFrame | None, current: pd.DataFrame, week=None) -> pd.DataFrame:
    """Give this week's scan clusters ids, continuing last week's where they overlap.

    Parameters
    ----------
    previous : pandas.DataFrame or None
        Last week's tracked clusters (needs ``cluster_id`` and ``cells``), or
        ``None``/empty for the first run.
    current : pandas.DataFrame
        This week's ``ScanResult.clusters`` (needs ``cells``; tuples of uint64
        cells or of hex strings).
    week : str or int, optional
        Label of the current week (e.g. ``"2025-W14"``), mixed into new ids so
        that a place that clusters again months later gets a fresh id.

    Returns
    -------
    pandas.DataFrame
        ``current`` plus ``cluster_id`` (str), ``status`` (``"new"`` or
        ``"ongoing"``) and ``previous_cluster_id`` (the overlapped previous id,
        or ``None``).

    Notes
    -----
    A current cluster is *ongoing* when its cells overlap a previous week's
    cluster. Ids are matched one-to-one, greedily by the number of shared cells
    (ties: current rank, then previous id), so the current cluster sharing most
    cells keeps the id. If a previous cluster split into several current ones,
    the others are still ``ongoing`` (``previous_cluster_id`` says which), but
    get their own id so ids stay unique within a week. New ids are
    ``"stc-"`` + the first 10 hex digits of SHA-1 of the sorted cells and
    ``week``: deterministic, independent of run order.

    Examples
    --------
    >>> cur = pd.DataFrame({"cells": [(1, 2, 3)]})
    >>> first = track_clusters(None, cur, week="2025-W01")
    >>> first["status"].tolist()
    ['new']
    >>> again = track_clusters(first, pd.DataFrame({"cells": [(3, 4)]}), week="2025-W02")
    >>> again["status"].tolist(), bool(again["cluster_id"][0] == first["cluster_id"][0])
    (['ongoing'], True)
    """
    if "cells" not in current.columns:
        raise InvalidInputError("current clusters need a 'cells' column.")
    out = current.copy().reset_index(drop=True)
    cur_sets = [_cell_set(v) for v in out["cells"]]
    prev_sets: list[frozenset[int]] = []
    prev_ids: list[str] = []
    if previous is not None and len(previous):
        missing = {"cluster_id", "cells"} - set(previous.columns)
        if missing:
            raise InvalidInputError(f"previous clusters lack column(s) {sorted(missing)}.")
        prev_sets = [_cell_set(v) for v in previous["cells"]]
        prev_ids = [str(v) for v in previous["cluster_id"]]

    pairs = []
    best_prev: list[str | None] = [None] * len(cur_sets)
    for i, cs in enumerate(cur_sets):
        best = (0, "")
        for j, ps in enumerate(prev_sets):
            shared = len(cs & ps)
            if shared:
                pairs.append((-shared, i, prev_ids[j]))
                if shared > best[0] or (shared == best[0] and prev_ids[j] < best[1]):
                    best = (shared, prev_ids[j])
        if best[0]:
            best_prev[i] = best[1]
    pairs.sort()
    assigned: dict[int, str] = {}
    taken: set[str] = set()
    for _, i, pid in pairs:
        if i in assigned or pid in taken:
            continue
        assigned[i] = pid
        taken.add(pid)

    ids, status = [], []
    for i, cs in enumerate(cur_sets):
        if i in assigned:
            ids.append(assigned[i])
        else:
            new = _new_id(cs, week)
            while new in taken:  # practically never; keeps ids unique
                new = _new_id(cs | {len(taken)}, week)
            taken.add(new)
            ids.append(new)
        status.append("ongoing" if best_prev[i] is not None else "new")
    out["cluster_id"] = pd.Series(ids, dtype=object)
    out["status"] = pd.Series(status, dtype=object)
    out["previous_cluster_id"] = pd.Series(
        [assigned.get(i, best_prev[i]) for i in range(len(cur_sets))], dtype=object
    )
    return out
