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
cumulative sums over the last ``W`` weeks, and Monte Carlo replicates are
processed in batches with one sparse-dense product per batch.
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


def _max_llr_batch(zones, sims_cum, mu, total, min_cases):
    """Max LLR per replicate. ``sims_cum`` is (B, n_cells, W)."""
    b, n_cells, w = sims_cum.shape
    dense = np.ascontiguousarray(sims_cum.transpose(1, 0, 2).reshape(n_cells, b * w), dtype=np.float64)
    cz = (zones @ dense).reshape(zones.shape[0], b, w)
    llr = scan_llr(cz, mu[:, None, :], total, min_cases)
    return llr.max(axis=(0, 2))


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
    events while keeping their cells, i.e. draws a cell × week table with the
    observed margins. Both margins are fixed, so every ``μ_A`` is the same in
    every replicate and only ``c_A`` changes. Only events that land in the last
    ``W`` weeks matter, so a replicate draws a random ordered subset of
    ``Σ_{last W} C_d`` events without replacement and assigns the first
    ``C_T`` to the last week, the next ``C_{T−1}`` to the one before, and so on
    (equivalent to a full permutation). ``p = (1 + #{sim ≥ obs})/(R + 1)``.

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

    # Monte Carlo
    rng = np.random.default_rng(seed)
    llr_sim = np.zeros(int(replicates))
    tail_weeks = week_tot[::-1][:w_max].astype(np.int64)        # C_T, C_{T-1}, ...
    k = int(tail_weeks.sum())
    if replicates and k > 0:
        event_cell = np.repeat(np.arange(n_cells), counts.sum(axis=1))
        slot = np.repeat(np.arange(w_max), tail_weeks)          # 0 = last week
        batch = max(1, _BATCH_ELEMENTS // max(1, n_zones * w_max))
        for start in range(0, int(replicates), batch):
            b = min(batch, int(replicates) - start)
            draws = np.empty((b, k), dtype=np.int64)
            for i in range(b):
                draws[i] = rng.choice(total, size=k, replace=False, shuffle=True)
            key = (np.arange(b)[:, None] * n_cells + event_cell[draws]) * w_max + slot[None, :]
            sims = np.bincount(key.ravel(), minlength=b * n_cells * w_max).reshape(b, n_cells, w_max)
            sims = np.cumsum(sims, axis=2)
            llr_sim[start:start + b] = _max_llr_batch(zones, sims, mu, total, min_cases)
    elif replicates:
        pass  # no events in the last W weeks: every replicate has max LLR 0

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
    tol = 1e-9
    for rank, (z, w) in enumerate(picked):
        members = np.sort(cells[indices[indptr[z]:indptr[z + 1]]])
        c, m, llr = float(c_obs[z, w]), float(mu[z, w]), float(llr_obs[z, w])
        if replicates:
            p = (1 + int(np.sum(llr_sim >= llr - tol * max(1.0, abs(llr))))) / (int(replicates) + 1)
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
