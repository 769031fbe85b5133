"""Control cells matched to the treated cells on their pre-period (the DiD controls and placebos)."""

from __future__ import annotations

import numpy as np

from analytics.errors import InvalidInputError


def match_controls(y_pre: np.ndarray, treated: np.ndarray, pool: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """For each treated row, the ``k`` pool rows most alike in pre-period level and trend.

    Parameters
    ----------
    y_pre : array (n_units, n_pre_weeks)
        Pre-period weekly counts of every unit.
    treated, pool : int arrays
        Row indices of the treated units and of the candidate controls (the caller leaves
        the treated area, the buffer and any guard band out of ``pool``).
    k : int
        Controls per treated unit (without replacement across all treated units).

    Returns
    -------
    int array (n_treated, k)
        Column g holds the g-th best match of each treated unit; column g as a whole is a
        control *group* alike the treated area, used as a placebo-in-space.

    Notes
    -----
    Level = √(mean weekly count) and trend = √(mean of the pre-period's second half) −
    √(mean of its first half): on the square-root scale Poisson noise has a roughly
    constant variance (1/4), so both features share one unit and the distance is plain
    Euclidean. Treated units are matched busiest first (greedy); exact ties (many cells
    have no events) are broken by a seeded random order.
    """
    y_pre = np.asarray(y_pre, dtype=np.float64)
    treated, pool = np.asarray(treated, dtype=np.int64), np.asarray(pool, dtype=np.int64)
    if y_pre.ndim != 2 or y_pre.shape[1] < 4:
        raise InvalidInputError("Matching needs at least 4 pre-period weeks.")
    if k < 1 or len(pool) < k * len(treated):
        raise InvalidInputError(
            f"Not enough candidate control cells: {len(pool)} for {len(treated)} treated cell(s) x {k} matches.")
    half = y_pre.shape[1] // 2

    def feats(rows):
        sub = y_pre[rows]
        return np.column_stack([np.sqrt(sub.mean(1)), np.sqrt(sub[:, half:].mean(1)) - np.sqrt(sub[:, :half].mean(1))])

    ft, fp = feats(treated), feats(pool)
    rng = np.random.default_rng(seed)
    jitter = rng.random(len(pool)) * 1e-9     # seeded tie-break
    used = np.zeros(len(pool), dtype=bool)
    out = np.empty((len(treated), k), dtype=np.int64)
    for i in np.argsort(-ft[:, 0], kind="stable"):
        d = np.hypot(fp[:, 0] - ft[i, 0], fp[:, 1] - ft[i, 1]) + jitter
        d[used] = np.inf
        best = np.argpartition(d, k - 1)[:k]
        best = best[np.argsort(d[best], kind="stable")]
        used[best] = True
        out[i] = pool[best]
    return out
