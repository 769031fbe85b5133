"""Pieces of the rolling-origin accuracy backtest (hit rate, PAI and PEI* come from :mod:`analytics.accuracy`)."""

from __future__ import annotations

import math

import numpy as np

from analytics.accuracy import hit_rate, max_capture, pai, pei_star


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
