"""Rise-evidence features of the forecast (issue 14): trend, recent excess and local Gi* of the last weeks.

Each function takes the cube (cells × weeks) and origin week indices and returns an array
(cells × origins) computed from weeks ``<= origin`` only. They describe the "disk" of a cell:
the cell and its ring-1 neighbours (``ring1`` is :func:`analytics.grid.neighbour_matrix` with
k = 1, diagonal included), because single res-9 cells hold mostly 0 and 1 per week.

* :func:`kendall_tau` — Kendall's tau-a of the disk's weekly counts over the last ``window``
  weeks: ``S / (pairs)`` with ``S = Σ_{i<j} sgn(x_j − x_i)``, the Mann–Kendall statistic of
  :func:`analytics.trend.mann_kendall` (emerging hot spot analysis runs it on Gi* z series).
  Here it runs on counts for every (cell, origin) at once with one prefix sum per lag instead
  of one window per series (``window − 1`` passes over the cube, no cells × origins × window
  array).
* :func:`recent_excess` — events in the disk over the last ``recent`` weeks minus the number
  expected from the disk's rate over the ``window − recent`` weeks before them, positive part
  (a rise in events, in events: it adds to an additive intensity).
* :func:`gi_star` — Getis–Ord Gi* z of the last ``recent`` weeks' counts with the ring-1 disk
  as binary weights (Getis & Ord 1995; what the weekly job's hot spots use): local excess over
  the study area's mean in that window.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

#: Names and order of the rise features in the forecast's feature list.
RISE_FEATURES = ("rise_tau26", "rise_excess4", "gi_w4")


def _window_sums(c: np.ndarray, origins: np.ndarray, w: int) -> np.ndarray:
    """Σ of ``c`` over weeks ``origin − w + 1 .. origin`` (clipped at week 0), cells × origins."""
    cs = np.concatenate([np.zeros((c.shape[0], 1)), np.cumsum(c, axis=1)], axis=1)
    lo = np.maximum(origins - w + 1, 0)
    return cs[:, origins + 1] - cs[:, lo]


def kendall_tau(x: np.ndarray, origins: np.ndarray, window: int = 26) -> np.ndarray:
    """Kendall's tau-a of each row of ``x`` (series × weeks) over weeks ``o − window + 1 .. o`` per origin ``o``.

    Pairs with a week before 0 are left out (short histories use the pairs they have); 0 when
    fewer than 2 weeks are available.
    """
    x = np.asarray(x, dtype=np.float64)
    origins = np.asarray(origins, dtype=np.int64)
    n, T = x.shape
    s = np.zeros((n, origins.size))
    pairs = np.zeros(origins.size)
    for lag in range(1, window):
        # p[:, t] = sgn(x_t − x_{t−lag}) for t >= lag; a pair (t − lag, t) is in the window of o
        # when o − window + 1 <= t − lag and t <= o, i.e. t in [o − window + 1 + lag, o]
        p = np.zeros((n, T + 1))
        p[:, lag + 1:] = np.cumsum(np.sign(x[:, lag:] - x[:, :-lag]), axis=1)
        lo = np.maximum(origins - window + 1 + lag, lag)
        ok = lo <= origins
        s[:, ok] += p[:, origins[ok] + 1] - p[:, lo[ok]]
        pairs[ok] += origins[ok] + 1 - lo[ok]
    return np.divide(s, pairs, out=np.zeros_like(s), where=pairs > 0)


def recent_excess(c: np.ndarray, origins: np.ndarray, ring1: sp.spmatrix, recent: int = 4,
                  window: int = 26) -> np.ndarray:
    """Disk events in the last ``recent`` weeks minus those expected from the ``window − recent`` weeks before.

    The expected count is ``recent × (events in the earlier weeks) / (earlier weeks available)``;
    with no earlier week it is 0. Positive part.
    """
    disk = ring1 @ np.asarray(c, dtype=np.float64)
    origins = np.asarray(origins, dtype=np.int64)
    last = _window_sums(disk, origins, recent)
    before = _window_sums(disk, origins, window) - last
    weeks_before = np.clip(origins + 1 - recent, 0, window - recent).astype(np.float64)
    rate = np.divide(before, weeks_before, out=np.zeros_like(before), where=weeks_before > 0)
    return np.maximum(last - recent * rate, 0.0)


def gi_star(c: np.ndarray, origins: np.ndarray, ring1: sp.spmatrix, recent: int = 4) -> np.ndarray:
    """Getis–Ord Gi* z of the counts over the last ``recent`` weeks, ring-1 disk as binary weights.

    ``z_i = (Σ_j w_ij x_j − x̄ W_i) / (s √((n Σ_j w_ij² − W_i²) / (n − 1)))`` with ``W_i = Σ_j w_ij``,
    ``x̄`` and ``s`` (population) over the study area's cells; 0 where ``s = 0``.
    """
    x = _window_sums(np.asarray(c, dtype=np.float64), np.asarray(origins, dtype=np.int64), recent)
    n = x.shape[0]
    if n < 2:
        return np.zeros_like(x)
    wi = np.asarray(ring1.sum(axis=1)).ravel()[:, None]  # binary weights: Σ w² = Σ w = W_i
    mean = x.mean(axis=0, keepdims=True)
    sd = x.std(axis=0, keepdims=True)
    den = sd * np.sqrt(np.maximum(n * wi - wi ** 2, 0.0) / (n - 1))
    num = ring1 @ x - mean * wi
    return np.divide(num, den, out=np.zeros_like(x), where=den > 0)
