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

Method
------
*Expected counts.* ``μ_zd = C_z·C_d/C``, so for zone ``Z`` and window
``D``: ``μ_A = (Σ_Z C_z)(Σ_D C_d)/C``. The LLR of a cylinder with
``c_A > μ_A`` is ``c_A ln(c_A/μ_A) + (C−c_A) ln((C−c_A)/(C−μ_A))``
(:func:`scan_llr`); the test statistic is the maximum over cylinders. A
cylinder needs at least ``min_cases`` events to be a candidate, in the
observed data and in every replicate (SaTScan's "minimum number of cases in
a cluster", default 2 for prospective space-time permutation analyses): a
single event in a quiet cell is never reported as an emerging cluster.

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

*Stopping early* (``stop_early``; sequential Monte Carlo, Besag & Clifford
1991): the replicates stop as soon as the top cluster cannot reach
``p <= alpha`` any more (checked after each batch). Which clusters are
significant, and the p-values of significant clusters, are exactly those of
the full run; a non-significant cluster's p-value is then ``(1 + g)/(L + 1)``
over the ``L`` replicates run (still > alpha), and ``llr_sim`` holds ``L``
values. A run with nothing to report (no cylinder with an excess) draws no
replicates at all.

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

This module holds the scan itself and its Monte Carlo core; the formulas (``scan_llr``,
``recurrence_interval``, the tabulated LLR kernel) are in :mod:`analytics.scan.llr`, the input
checks and zones in :mod:`analytics.scan.zones`, the result in :mod:`analytics.scan.result` and
the week-to-week cluster ids in :mod:`analytics.scan.tracking`; every public name is importable
from ``analytics.scan``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from analytics.errors import InvalidInputError
from analytics.grid import cells_to_hex
from analytics.scan.llr import _TOL, _LLRKernel, recurrence_interval, scan_llr
from analytics.scan.result import CLUSTER_COLUMNS, ScanResult
from analytics.scan.tracking import track_clusters
from analytics.scan.zones import _validate, _window_sums, _zone_matrix

__all__ = [
    "ScanResult",
    "space_time_permutation_scan",
    "scan_llr",
    "recurrence_interval",
    "track_clusters",
    "CLUSTER_COLUMNS",
]


_BATCH_ELEMENTS = 4_000_000  # zones × windows × replicates per batch (~32 MB of float64)
_MVH_MAX_TOTAL = 10**9       # numpy's "marginals" multivariate hypergeometric needs sum(colors) < 10**9
_COUNT_MAX_TOTAL = 2**18     # "count" method (shuffles sum(colors) items) only while that array stays in cache
_COUNT_PER_COLOUR = 64       # ... and is cheaper than one univariate draw per colour


# --------------------------------------------------------------------------- Monte Carlo core


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
    """Max LLR of each Monte Carlo replicate (module docstring, *Inference*).

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
    """Prospective space-time permutation scan (Kulldorff 2005) on an H3 cube (method: module docstring).

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
        Fewest events a cylinder needs to be a candidate (observed and in
        every replicate).
    stop_early : bool, default False
        Stop the replicates once the top cluster cannot be significant
        (module docstring, *Stopping early*).

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

    Examples
    --------
    >>> import h3.api.numpy_int as h3n, numpy as np
    >>> centre = h3n.latlng_to_cell(-33.87, 151.21, 9)
    >>> cells = np.sort(h3n.grid_disk(centre, 3))
    >>> rng = np.random.default_rng(1)
    >>> counts = rng.poisson(0.3, (cells.size, 26))
    >>> counts[cells == centre, -2:] += 6
    >>> res = space_time_permutation_scan(counts, cells, replicates=99, seed=0)
    >>> bool(res.primary["center_cell"] == centre) or centre in res.primary["cells"]
    True
    >>> bool(res.primary["p_value"] <= 0.01)
    True
    """
    counts, cells = _validate(counts, cells, max_radius, max_window, replicates, alpha, max_secondary, min_cases)
    n_cells, n_weeks = counts.shape
    w_max, total = int(max_window), int(counts.sum())
    zones, centre, radius = _zone_matrix(cells, int(max_radius))

    def result(clusters: pd.DataFrame, llr_sim: np.ndarray) -> ScanResult:
        return ScanResult(
            clusters=clusters, llr_sim=llr_sim, n_events=total, n_zones=zones.shape[0], n_windows=w_max,
            n_weeks=n_weeks, replicates=int(replicates), seed=int(seed), alpha=float(alpha),
            max_radius=int(max_radius), max_window=w_max, min_cases=int(min_cases),
        )

    if total == 0:
        return result(_no_clusters(), np.zeros(int(replicates)))
    mu = _expected(counts, zones, w_max, total)                 # μ_A: (n_zones, W)
    obs_cum = _window_sums(counts[:, n_weeks - w_max:])         # (n_cells, W)
    c_obs = np.asarray(zones @ obs_cum.astype(np.float64))      # c_A: (n_zones, W)
    llr_obs = scan_llr(c_obs, mu, total, min_cases)
    llr_sim = _monte_carlo(counts, zones, mu, total, w_max, int(replicates), seed, min_cases,
                           float(llr_obs.max(initial=0.0)), float(alpha) if stop_early else None)
    picked = _pick_clusters(llr_obs, zones, n_cells, w_max, int(max_secondary))
    if not picked:
        return result(_no_clusters(), llr_sim)
    rows = [_cluster_row(rank, z, w, cells, zones, centre, radius, c_obs, mu, llr_obs, llr_sim, total, n_weeks,
                         int(replicates), alpha)
            for rank, (z, w) in enumerate(picked)]
    clusters = pd.DataFrame(rows, columns=CLUSTER_COLUMNS)
    clusters["center_cell"] = clusters["center_cell"].astype(np.uint64)
    return result(clusters, llr_sim)


def _no_clusters() -> pd.DataFrame:
    """The cluster table of a scan that found nothing."""
    return pd.DataFrame({c: pd.Series(dtype=object) for c in CLUSTER_COLUMNS})


def _expected(counts: np.ndarray, zones: sp.csr_matrix, w_max: int, total: int) -> np.ndarray:
    """``μ_A = (Σ_Z C_z)(Σ_D C_d)/C`` of every zone × window ending in the last week, shape (n_zones, W)."""
    cell_tot = counts.sum(axis=1).astype(np.float64)           # C_z
    week_tot = counts.sum(axis=0).astype(np.float64)           # C_d
    cd_cum = np.cumsum(week_tot[::-1][:w_max])                 # Σ C_d over last 1..W weeks
    zone_tot = zones @ cell_tot                                # Σ_Z C_z
    return zone_tot[:, None] * cd_cum[None, :] / total


def _pick_clusters(llr_obs: np.ndarray, zones: sp.csr_matrix, n_cells: int, w_max: int,
                   max_secondary: int) -> list[tuple[int, int]]:
    """(zone, window) of the primary cluster and of the secondary ones: in decreasing LLR (ties by zone,
    then window), each sharing no cell with a cluster already taken; at most ``1 + max_secondary``."""
    flat = llr_obs.ravel()
    cand = np.flatnonzero(flat > 0)
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
        if len(picked) >= 1 + max_secondary:
            break
    return picked


def _cluster_row(rank: int, z: int, w: int, cells: np.ndarray, zones: sp.csr_matrix, centre: np.ndarray,
                 radius: np.ndarray, c_obs: np.ndarray, mu: np.ndarray, llr_obs: np.ndarray, llr_sim: np.ndarray,
                 total: int, n_weeks: int, replicates: int, alpha: float) -> dict:
    """One row of the cluster table (:data:`CLUSTER_COLUMNS`): zone ``z`` over the last ``w + 1`` weeks."""
    members = np.sort(cells[zones.indices[zones.indptr[z]:zones.indptr[z + 1]]])
    c, m, llr = float(c_obs[z, w]), float(mu[z, w]), float(llr_obs[z, w])
    if replicates:
        p = (1 + int(np.sum(llr_sim >= llr - _TOL * max(1.0, abs(llr))))) / (len(llr_sim) + 1)
    else:
        p = float("nan")
    rr = (c / m) / ((total - c) / (total - m)) if total > c else float("inf")
    return {
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
