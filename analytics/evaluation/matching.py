"""Control cells matched to the treated cells on their pre-period (the DiD controls and placebos).

Why the neighbourhood matters (issue 15): targets are chosen because they were busy, so
their observed pre-period counts are partly luck. A cell's true rate regresses towards the
mean of places *like it* — for a cell in a busy neighbourhood, towards that neighbourhood's
level. Controls matched on their own noisy counts alone come from anywhere, mostly from
quieter surroundings, so after the start they regress towards a lower mean than the target
cells do, and a null target shows a spurious rise (matched DiD ran +6 % to +28 % on placebo
targets in real data). Matching also on the ring-1 neighbourhood's pre-period level gives
controls whose counts regress towards the same mean as the target's.
"""

from __future__ import annotations

import numpy as np

from analytics.errors import InvalidInputError


def neighbourhood_counts(y: np.ndarray, ring1) -> np.ndarray:
    """Mean weekly count of each unit's ring-1 neighbours (the unit itself left out), per week.

    ``ring1`` is the ring-1 neighbour matrix with its diagonal (e.g.
    :func:`analytics.grid.neighbour_matrix` (cells, 1)); the mean is over the 6 neighbours
    of a hexagon, cells outside the study area counting as empty.

    Examples
    --------
    >>> import numpy as np
    >>> ring = np.array([[1, 1, 0], [1, 1, 1], [0, 1, 1]])
    >>> neighbourhood_counts(np.array([[6.0], [12.0], [0.0]]), ring).ravel().tolist()
    [2.0, 1.0, 2.0]
    """
    y = np.asarray(y, dtype=np.float64)
    return np.asarray(ring1 @ y - y) / 6.0


def match_controls(y_pre: np.ndarray, treated: np.ndarray, pool: np.ndarray, k: int, seed: int = 0,
                   neighbourhood: np.ndarray | None = None) -> np.ndarray:
    """For each treated row, the ``k`` pool rows most alike in pre-period level and trend
    (and, when given, in their neighbourhood's pre-period level).

    Parameters
    ----------
    y_pre : array (n_units, n_pre_weeks)
        Pre-period weekly counts of every unit.
    treated, pool : int arrays
        Row indices of the treated units and of the candidate controls (the caller leaves
        the treated area, the buffer and any guard band out of ``pool``).
    k : int
        Controls per treated unit (without replacement across all treated units).
    neighbourhood : array (n_units, n_pre_weeks), optional
        Pre-period weekly mean count of each unit's ring-1 neighbours
        (:func:`neighbourhood_counts`). When given, its level is a third matching feature,
        so a control's counts regress towards the same mean as its treated cell's (see the
        module notes).

    Returns
    -------
    int array (n_treated, k)
        Column g holds the g-th best match of each treated unit; column g as a whole is a
        control *group* alike the treated area, used as a placebo-in-space.

    Notes
    -----
    Level = √(mean weekly count) and trend = √(mean of the pre-period's second half) −
    √(mean of its first half); neighbourhood level = √(mean weekly count of the
    neighbours). On the square-root scale Poisson noise has a roughly constant variance
    (1/4), so the features share one unit and the distance is plain Euclidean. Treated
    units are matched busiest first (greedy); exact ties (many cells have no events) are
    broken by a seeded random order.
    """
    y_pre = np.asarray(y_pre, dtype=np.float64)
    treated, pool = np.asarray(treated, dtype=np.int64), np.asarray(pool, dtype=np.int64)
    if y_pre.ndim != 2 or y_pre.shape[1] < 4:
        raise InvalidInputError("Matching needs at least 4 pre-period weeks.")
    if k < 1 or len(pool) < k * len(treated):
        raise InvalidInputError(
            f"Not enough candidate control cells: {len(pool)} for {len(treated)} treated cell(s) x {k} matches.")
    if neighbourhood is not None:
        neighbourhood = np.asarray(neighbourhood, dtype=np.float64)
        if neighbourhood.shape != y_pre.shape:
            raise InvalidInputError("The neighbourhood counts must cover the same units and weeks as y_pre.")
    half = y_pre.shape[1] // 2

    def feats(rows):
        sub = y_pre[rows]
        cols = [np.sqrt(sub.mean(1)), np.sqrt(sub[:, half:].mean(1)) - np.sqrt(sub[:, :half].mean(1))]
        if neighbourhood is not None:
            cols.append(np.sqrt(np.clip(neighbourhood[rows].mean(1), 0, None)))
        return np.column_stack(cols)

    return greedy_match(feats(treated), feats(pool), pool, k, seed)


def greedy_match(ft: np.ndarray, fp: np.ndarray, pool: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """Greedy nearest matches without replacement: for each treated feature row of ``ft`` (busiest
    first, by its first feature) the ``k`` unused rows of ``fp`` nearest in Euclidean distance, as
    indices into ``pool``; exact ties broken by a seeded random order (many cells have no events).

    >>> greedy_match(np.array([[2.0], [1.0]]), np.array([[0.9], [2.1], [5.0]]), np.array([7, 8, 9]), 1).tolist()
    [[8], [7]]
    """
    jitter = np.random.default_rng(seed).random(len(pool)) * 1e-9     # seeded tie-break
    used = np.zeros(len(pool), dtype=bool)
    out = np.empty((len(ft), k), dtype=np.int64)
    for i in np.argsort(-ft[:, 0], kind="stable"):
        d = np.sqrt(((fp - ft[i]) ** 2).sum(1)) + jitter
        d[used] = np.inf
        best = np.argpartition(d, k - 1)[:k]
        best = best[np.argsort(d[best], kind="stable")]
        used[best] = True
        out[i] = pool[best]
    return out
