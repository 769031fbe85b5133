"""Point-level space-time clusters: ST-DBSCAN via scikit-learn, hulls, Knox test.

Two events are neighbours when they are within ``eps_space_m`` metres **and**
``eps_time_days`` days of each other (Birant & Kut 2007, without the optional
non-spatial attribute). We build that sparse neighbour graph ourselves and hand it
to ``sklearn.cluster.DBSCAN(metric="precomputed")``.

Ties matter here: events snapped to cells and binned to days or weeks often share
a point and a timestamp. A distance of exactly 0 must stay a neighbour, so every
stored distance is clamped to a tiny positive value before it reaches
scikit-learn (an explicit 0 in a sparse matrix can be pruned by
``eliminate_zeros`` and then silently stop counting as a neighbour).
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import scipy.sparse as sp
from scipy.spatial import cKDTree
from scipy.stats import poisson
import shapely
from sklearn.cluster import DBSCAN
from sklearn.neighbors import KDTree

from analytics.errors import InvalidInputError
from analytics.places import choose_projected_crs

__all__ = [
    "st_neighbour_graph",
    "st_dbscan",
    "cluster_summaries",
    "KnoxResult",
    "knox_test",
    "SUMMARY_COLUMNS",
]

#: Columns of :func:`cluster_summaries` (plus ``geometry``).
SUMMARY_COLUMNS = ["label", "n_events", "n_young_people", "first_t", "last_t", "area_m2"]

_HULL_BUFFER_M = 25.0  # hull buffer when a cluster has only 1-2 distinct points (or is collinear)


def _as_float(name: str, values) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).ravel()
    if not np.all(np.isfinite(arr)):
        raise InvalidInputError(f"{name} contains NaN or infinite values.")
    return arr


def _check_xyt(x_m, y_m, t_days):
    x = _as_float("x_m", x_m)
    y = _as_float("y_m", y_m)
    t = _as_float("t_days", t_days)
    if not (x.shape == y.shape == t.shape):
        raise InvalidInputError(
            f"x_m, y_m and t_days must have the same length; received {x.size}, {y.size}, {t.size}."
        )
    return x, y, t


_QUERY_CHUNK = 20_000  # query points per KD-tree call: bounds the candidate lists' memory


def st_neighbour_graph(x_m, y_m, t_days, eps_space_m: float, eps_time_days: float) -> sp.csr_matrix:
    """Sparse ST-DBSCAN neighbour graph with every neighbour stored explicitly.

    Parameters
    ----------
    x_m, y_m : array_like
        Projected coordinates in metres.
    t_days : array_like
        Event times in days (any origin).
    eps_space_m, eps_time_days : float
        Neighbours iff Euclidean distance ≤ ``eps_space_m`` and
        ``|Δt| ≤ eps_time_days``.

    Returns
    -------
    scipy.sparse.csr_matrix
        ``G[i, j] = max(d_ij, tiny)`` for every neighbour pair, including
        ``i = j``; ``tiny = eps_space_m·1e-9``, so zero distances stay stored
        and still compare ≤ ``eps_space_m``.

    Notes
    -----
    Candidates come from one KD-tree over (x, y, t·eps_space/eps_time): both limits
    hold only inside the 3-D ball of radius √2·eps_space, so a radius query on it
    returns every neighbour pair (and some extra) without first listing all spatial
    pairs across the whole period, which is quadratic at busy places. The exact space
    and time limits are then applied to the candidates. Queries run in chunks so
    memory stays proportional to the number of neighbour pairs.
    """
    x, y, t = _check_xyt(x_m, y_m, t_days)
    n = x.size
    if n == 0:
        return sp.csr_matrix((0, 0))
    eps_s, eps_t = float(eps_space_m), float(eps_time_days)
    scale = eps_s / eps_t if eps_t > 0 else 0.0
    tree = KDTree(np.column_stack([x, y, t * scale]))
    radius = eps_s * np.sqrt(2.0) * (1 + 1e-12)
    parts_r, parts_c, parts_d = [], [], []
    for lo in range(0, n, _QUERY_CHUNK):
        hi = min(n, lo + _QUERY_CHUNK)
        ind = tree.query_radius(np.column_stack([x[lo:hi], y[lo:hi], t[lo:hi] * scale]), r=radius)
        counts = np.fromiter((a.size for a in ind), dtype=np.int64, count=hi - lo)
        rows = np.repeat(np.arange(lo, hi), counts)
        cols = np.concatenate(ind).astype(np.int64) if len(ind) else np.empty(0, dtype=np.int64)
        d = np.hypot(x[rows] - x[cols], y[rows] - y[cols])
        keep = (d <= eps_s) & (np.abs(t[rows] - t[cols]) <= eps_t)
        parts_r.append(rows[keep])
        parts_c.append(cols[keep])
        parts_d.append(d[keep])
    rows, cols, d = np.concatenate(parts_r), np.concatenate(parts_c), np.concatenate(parts_d)
    d = np.maximum(d, eps_s * 1e-9)
    return sp.csr_matrix((d, (rows, cols)), shape=(n, n))


def st_dbscan(
    x_m,
    y_m,
    t_days,
    eps_space_m: float = 300,
    eps_time_days: float = 14,
    min_samples: int = 4,
) -> np.ndarray:
    """ST-DBSCAN cluster labels (−1 = noise).

    Parameters
    ----------
    x_m, y_m : array_like
        Projected coordinates in metres (see
        :func:`analytics.places.choose_projected_crs`).
    t_days : array_like
        Event times in days.
    eps_space_m : float, default 300
        Spatial radius ε₁ in metres (> 0).
    eps_time_days : float, default 14
        Temporal radius ε₂ in days (≥ 0).
    min_samples : int, default 4
        Neighbours (the event itself included) an event needs to be a core
        event, as in scikit-learn's DBSCAN.

    Returns
    -------
    numpy.ndarray of int
        Cluster label per event, ``-1`` for noise. Labels are scikit-learn's
        (numbered in order of discovery, deterministic for a given input order).

    Notes
    -----
    Birant & Kut (2007), "ST-DBSCAN: An algorithm for clustering
    spatial–temporal data", *Data & Knowledge Engineering* 60: 208–221. An
    event's neighbourhood is the set of events within ε₁ in space and ε₂ in
    time; clusters are then grown exactly as in DBSCAN (Ester et al. 1996).
    The optional non-spatial attribute threshold Δε of Birant & Kut is not
    used. Core and noise events are uniquely defined; a border event reachable
    from two clusters goes to whichever scikit-learn reaches first.

    Examples
    --------
    >>> x = [0, 5, 10, 5, 1000, 1005, 1010, 1005, 5000]
    >>> y = [0, 5, 0, 10, 0, 5, 0, 10, 0]
    >>> st_dbscan(x, y, [0] * 9, 50, 1, 3).tolist()
    [0, 0, 0, 0, 1, 1, 1, 1, -1]
    """
    if not np.isfinite(eps_space_m) or eps_space_m <= 0:
        raise InvalidInputError(f"eps_space_m must be a positive number of metres; received {eps_space_m!r}.")
    if not np.isfinite(eps_time_days) or eps_time_days < 0:
        raise InvalidInputError(f"eps_time_days must be a non-negative number of days; received {eps_time_days!r}.")
    if not isinstance(min_samples, (int, np.integer)) or isinstance(min_samples, bool) or min_samples < 1:
        raise InvalidInputError(f"min_samples must be an integer >= 1; received {min_samples!r}.")
    graph = st_neighbour_graph(x_m, y_m, t_days, eps_space_m, eps_time_days)
    if graph.shape[0] == 0:
        return np.empty(0, dtype=np.int64)
    model = DBSCAN(eps=float(eps_space_m), min_samples=int(min_samples), metric="precomputed")
    return model.fit_predict(graph).astype(np.int64)


def _cluster_stats(labels: np.ndarray, t: pd.Series, persons: pd.Series) -> pd.DataFrame:
    """Per cluster label (sorted): events, distinct young people, first and last time.

    One grouped pass instead of a boolean mask per cluster (thousands of clusters on a
    busy week made that quadratic).
    """
    frame = pd.DataFrame({"label": labels, "t": t.to_numpy(), "person": persons.to_numpy()})
    grouped = frame.groupby("label", sort=True)
    out = pd.DataFrame({
        "n_events": grouped.size(),
        "n_young_people": grouped["person"].nunique(dropna=True),
        "first_t": grouped["t"].min(),
        "last_t": grouped["t"].max(),
    })
    out = out.reset_index()
    out["label"] = out["label"].astype(int)
    return out.astype({"n_events": int, "n_young_people": int})


def _cluster_hulls(labels: np.ndarray, x: np.ndarray, y: np.ndarray, buffer_m: float) -> np.ndarray:
    """Convex hull of each cluster's distinct points (sorted by label), in one vectorised GEOS call.

    Hulls of fewer than 3 distinct points or of collinear points (no area) are buffered by
    ``buffer_m``. Points are de-duplicated and ordered as ``np.unique`` orders them, per cluster.
    """
    pts = np.unique(np.column_stack([labels.astype(np.float64), x, y]), axis=0)
    lab = pts[:, 0].astype(np.int64)
    _, index, n_distinct = np.unique(lab, return_inverse=True, return_counts=True)
    hulls = shapely.convex_hull(shapely.multipoints(pts[:, 1:], indices=index))
    thin = (n_distinct < 3) | (shapely.area(hulls) == 0)
    hulls[thin] = shapely.buffer(hulls[thin], buffer_m, quad_segs=16)  # as Geometry.buffer
    return hulls


def cluster_summaries(
    points: pd.DataFrame,
    labels,
    crs=None,
    *,
    t: str = "t",
    person_key: str = "person_key",
    buffer_m: float = _HULL_BUFFER_M,
) -> gpd.GeoDataFrame:
    """One row per cluster: hull polygon (EPSG:4326), time span, events, young people.

    Parameters
    ----------
    points : pandas.DataFrame
        One row per event with either ``x``/``y`` (projected metres, CRS
        ``crs``) or ``lon``/``lat`` (degrees), a time column ``t`` (datetimes
        or numbers) and a ``person_key`` column.
    labels : array_like of int
        Labels from :func:`st_dbscan`, aligned with ``points``; −1 is noise.
    crs : pyproj.CRS or str, optional
        CRS of ``x``/``y``; required with ``x``/``y``. Ignored with
        ``lon``/``lat``, which are projected to the UTM zone of their centroid.
    t, person_key : str
        Column names.
    buffer_m : float, default 25
        Hulls are buffered by this many metres when the cluster's distinct
        points are fewer than 3 or collinear (a point or a line has no area).

    Returns
    -------
    geopandas.GeoDataFrame
        Columns :data:`SUMMARY_COLUMNS` + ``geometry`` (EPSG:4326), one row
        per cluster label ≥ 0, ordered by label. ``n_young_people`` is the
        number of distinct ``person_key`` values; it is an unsuppressed count
        for the analyst view (``analytics.privacy`` suppresses small counts in
        shared outputs). No person keys are returned.

    Notes
    -----
    The hull is the convex hull of the cluster's events computed in metres
    (shapely/GEOS), so ``area_m2`` is a true area. Cluster hulls follow
    METHODS §6.
    """
    labels = np.asarray(labels).ravel()
    if labels.size != len(points):
        raise InvalidInputError(f"labels has {labels.size} entries but points has {len(points)} rows.")
    for col in (t, person_key):
        if col not in points.columns:
            raise InvalidInputError(f"points lacks column {col!r}.")
    if {"x", "y"} <= set(points.columns):
        if crs is None:
            raise InvalidInputError("points has x/y columns; pass their crs (a projected CRS in metres).")
        proj = pyproj.CRS.from_user_input(crs)
        if not proj.is_projected:
            raise InvalidInputError(f"crs {proj.to_string()} is not projected; x/y must be in metres.")
        x = _as_float("x", points["x"])
        y = _as_float("y", points["y"])
    elif {"lon", "lat"} <= set(points.columns):
        lon = _as_float("lon", points["lon"])
        lat = _as_float("lat", points["lat"])
        proj = choose_projected_crs(lon, lat)
        x, y = pyproj.Transformer.from_crs("EPSG:4326", proj, always_xy=True).transform(lon, lat)
        x, y = np.asarray(x), np.asarray(y)
    else:
        raise InvalidInputError("points needs x/y (with crs) or lon/lat columns.")

    keep = labels >= 0
    if not keep.any():
        return gpd.GeoDataFrame({c: [] for c in SUMMARY_COLUMNS}, geometry=[], crs="EPSG:4326")
    rows = _cluster_stats(labels[keep], points[t][keep], points[person_key][keep])
    geoms = _cluster_hulls(labels[keep], x[keep], y[keep], buffer_m)
    rows["area_m2"] = shapely.area(geoms)
    out = gpd.GeoDataFrame(rows[SUMMARY_COLUMNS], geometry=geoms, crs=proj)
    return out.to_crs("EPSG:4326")


@dataclass(frozen=True)
class KnoxResult:
    """Knox test of space-time interaction.

    Attributes
    ----------
    statistic : int
        ``NST``, pairs close in space (d ≤ δ) and in time (|Δt| ≤ τ).
    expected : float
        ``NS·NT / (n(n−1)/2)``, the expected ``NST`` without interaction.
    ns, nt, pairs : int
        Pairs close in space, close in time, and all pairs.
    p_sim : float
        Permutation p-value ``(1 + #{sim ≥ obs})/(permutations + 1)``
        (NaN when ``permutations == 0``).
    p_poisson : float
        ``P(Poisson(expected) ≥ statistic)``.
    sim : numpy.ndarray
        ``NST`` of each permutation.
    """

    statistic: int
    expected: float
    ns: int
    nt: int
    pairs: int
    p_sim: float
    p_poisson: float
    sim: np.ndarray

    @property
    def ratio(self) -> float:
        """Observed over expected close pairs (> 1 suggests space-time interaction)."""
        return self.statistic / self.expected if self.expected > 0 else float("nan")


def knox_test(
    x,
    y,
    t,
    delta_m: float,
    tau_days: float,
    permutations: int = 999,
    seed: int = 0,
) -> KnoxResult:
    """Knox (1964) test: are events close in space also close in time?

    Parameters
    ----------
    x, y : array_like
        Projected coordinates in metres.
    t : array_like
        Times in days.
    delta_m, tau_days : float
        Closeness bands: ``d ≤ delta_m`` and ``|Δt| ≤ tau_days``.
    permutations : int, default 999
        Random reassignments of times to events.
    seed : int, default 0
        Seed of the permutation generator.

    Returns
    -------
    KnoxResult

    Notes
    -----
    Knox (1964), "The detection of space-time interactions", *JRSS C* 13: 25–30;
    Rogerson (2001), *Statistical Methods for Geography*. The statistic and
    expected count match pointpats ``spacetime.Knox`` (same ≤ bands). The
    permutation keeps locations and shuffles times, so only the close-in-space
    pairs (found once with a KD-tree) need re-testing in each permutation.
    pointpats' ``p_poisson`` is ``1 − F(NST)`` = P(X > NST); ours is
    P(X ≥ NST), the usual one-sided tail. Useful for choosing ST-DBSCAN bands:
    try several (δ, τ) and look for the ratio NST/E well above 1.

    Examples
    --------
    >>> k = knox_test([0, 10, 20, 5000], [0, 0, 0, 0], [0, 1, 2, 50], 50, 3, permutations=0)
    >>> k.statistic, round(k.expected, 3)
    (3, 1.5)
    """
    x, y, tt = _check_xyt(x, y, t)
    if not isinstance(permutations, (int, np.integer)) or permutations < 0:
        raise InvalidInputError(f"permutations must be an integer >= 0; received {permutations!r}.")
    if delta_m < 0 or tau_days < 0:
        raise InvalidInputError("delta_m and tau_days must be non-negative.")
    n = x.size
    pairs_all = n * (n - 1) // 2
    sp_pairs = cKDTree(np.column_stack([x, y])).query_pairs(float(delta_m), output_type="ndarray")
    i, j = sp_pairs[:, 0], sp_pairs[:, 1]
    ns = int(i.size)
    st = int(np.sum(np.abs(tt[i] - tt[j]) <= tau_days))
    ts = np.sort(tt)
    # pairs close in time: for each event, later-sorted events within tau
    nt = int(np.sum(np.searchsorted(ts, ts + tau_days, side="right") - np.arange(n) - 1))
    expected = ns * nt / pairs_all if pairs_all else float("nan")
    rng = np.random.default_rng(seed)
    sim = np.empty(int(permutations))
    for k in range(int(permutations)):
        tp = tt[rng.permutation(n)]
        sim[k] = np.sum(np.abs(tp[i] - tp[j]) <= tau_days)
    p_sim = (1 + int(np.sum(sim >= st))) / (permutations + 1) if permutations else float("nan")
    p_pois = float(poisson.sf(st - 1, expected)) if pairs_all and expected > 0 else float("nan")
    return KnoxResult(
        statistic=st, expected=float(expected), ns=ns, nt=nt, pairs=int(pairs_all),
        p_sim=float(p_sim), p_poisson=p_pois, sim=sim,
    )
