"""Statistics on area units (police beats, wards, suburbs, neighbourhoods) instead of H3 cells.

The same chain as the cells -- space-time Gi* (:mod:`analytics.gistar`), Mann-Kendall on each
area's z series (:mod:`analytics.trend`) and the emerging categories (:mod:`analytics.emerging`)
-- on a ``(n_areas, n_weeks)`` cube, with

* **queen contiguity** as the spatial neighbourhood: areas ``i`` and ``j`` are neighbours when
  their polygons share at least one boundary point (an edge or a corner), as
  ``libpysal.weights.Queen`` on polygons that share vertices; the Gi* neighbourhood is that
  matrix plus each area itself (binary, "star");
* **area size** (km², on the WGS 84 ellipsoid) as the exposure of the calibrated null: a week's
  events are expected in proportion to each area's size (a large suburb is not "hot" just for
  being large); the Gi* z itself is the unweighted esda / ArcGIS statistic;
* **events counted by their own point** (:func:`points_to_areas`), never by the centre of the
  cell they fall in: an event a few metres inside a boundary counts in its own area.

Pure computation: geometries in, arrays out; no files, no store.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
import pyproj
import scipy.sparse as sp
import shapely

from analytics.emerging import EmergingParams, classify_emerging
from analytics.errors import InvalidInputError
from analytics.gistar import GiStarResult, gi_star
from analytics.trend import MKResult, mann_kendall

__all__ = ["queen_contiguity", "star_weights", "areas_km2", "points_to_areas", "area_week_counts",
           "AreaStatistics", "area_statistics"]

_GEOD = pyproj.Geod(ellps="WGS84")


def _geometries(geometries: Sequence) -> np.ndarray:
    geoms = np.asarray(list(geometries), dtype=object)
    if geoms.size and not all(isinstance(g, shapely.Geometry) for g in geoms):
        raise InvalidInputError("areas must be shapely geometries (polygons in EPSG:4326).")
    return geoms


def queen_contiguity(geometries: Sequence) -> sp.csr_matrix:
    """Binary queen contiguity of polygons: 1 where two areas share a boundary point, else 0.

    Parameters
    ----------
    geometries : sequence of shapely (Multi)Polygons
        The areas, in the order of the rows of the result.

    Returns
    -------
    scipy.sparse.csr_matrix, shape (n, n)
        Symmetric, zero diagonal (an area is not its own neighbour; see :func:`star_weights`).

    Notes
    -----
    Neighbours are pairs whose polygons intersect (share an edge or a corner; overlapping
    polygons count too). On polygons that share vertices this is ``libpysal.weights.Queen``;
    it also joins neighbours whose common border has a vertex on one side only (a "T" junction),
    which a vertex-based queen rule misses. An area with no neighbour (an island) keeps only
    itself in the Gi* neighbourhood.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> queen_contiguity([box(0, 0, 1, 1), box(1, 1, 2, 2), box(3, 0, 4, 1)]).toarray()
    array([[0, 1, 0],
           [1, 0, 0],
           [0, 0, 0]], dtype=int8)
    """
    geoms = _geometries(geometries)
    n = len(geoms)
    if n == 0:
        return sp.csr_matrix((0, 0), dtype=np.int8)
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="intersects")
    keep = left != right
    left, right = left[keep], right[keep]
    w = sp.csr_matrix((np.ones(len(left), dtype=np.int8), (left, right)), shape=(n, n))
    w = ((w + w.T) > 0).astype(np.int8)  # symmetric even where the predicate is not (floating point)
    return w.tocsr()


def star_weights(contiguity: sp.spmatrix) -> sp.csr_matrix:
    """The Gi* ("star") neighbourhood: the binary contiguity plus each area itself."""
    w = sp.csr_matrix(contiguity, dtype=float)
    w = ((w + sp.identity(w.shape[0], format="csr")) > 0).astype(float)
    return w.tocsr()


def areas_km2(geometries: Sequence) -> np.ndarray:
    """Area of each polygon in km², on the WGS 84 ellipsoid (coordinates in EPSG:4326)."""
    geoms = _geometries(geometries)
    return np.array([abs(_GEOD.geometry_area_perimeter(g)[0]) / 1e6 for g in geoms], dtype=float)


def points_to_areas(lon, lat, geometries: Sequence) -> np.ndarray:
    """Index of the area holding each point, by the point itself (-1 when in no area).

    A point on a shared border, or inside two overlapping areas, goes to the first of them
    in ``geometries`` order (each event counts once). Points with a missing coordinate get -1.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> points_to_areas([0.5, 1.5, 5.0], [0.5, 0.5, 5.0], [box(0, 0, 1, 1), box(1, 0, 2, 1)]).tolist()
    [0, 1, -1]
    """
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    if lon.shape != lat.shape:
        raise InvalidInputError(f"lon and lat differ in length ({lon.size} vs {lat.size}).")
    geoms = _geometries(geometries)
    out = np.full(lon.shape[0], -1, dtype=np.int64)
    ok = np.isfinite(lon) & np.isfinite(lat)
    if not ok.any() or len(geoms) == 0:
        return out
    idx = np.flatnonzero(ok)
    points = shapely.points(lon[idx], lat[idx])
    tree = shapely.STRtree(geoms)
    p, a = tree.query(points, predicate="intersects")
    if len(p):
        pairs = pd.DataFrame({"p": p, "a": a}).groupby("p", sort=False)["a"].min()
        out[idx[pairs.index.to_numpy()]] = pairs.to_numpy()
    return out


def area_week_counts(area_index, week_index, n_areas: int, n_weeks: int) -> np.ndarray:
    """Events per (area, week) from each event's area and week index; events with -1 or outside
    ``0..n_weeks-1`` are left out (the caller reports how many)."""
    a, t = np.asarray(area_index, dtype=np.int64), np.asarray(week_index, dtype=np.int64)
    keep = (a >= 0) & (a < n_areas) & (t >= 0) & (t < n_weeks)
    flat = np.bincount(a[keep] * n_weeks + t[keep], minlength=n_areas * n_weeks)
    return flat.reshape(n_areas, n_weeks).astype(np.int64)


@dataclass(frozen=True, eq=False)
class AreaStatistics:
    """Gi*, trend and emerging categories of every area (rows in the areas' order)."""

    gi: GiStarResult
    mk: MKResult
    emerging: pd.DataFrame
    spatial: sp.csr_matrix      #: the Gi* neighbourhood (queen contiguity + self)
    exposure: np.ndarray | None  #: area size (km²) used as exposure, or None (uniform)


def area_statistics(counts, contiguity: sp.spmatrix, exposure=None, time_step: int = 1,
                    p_method: str = "poisson", fdr: str = "cube", trend_method: str = "original",
                    emerging: EmergingParams = EmergingParams(), share_basis: str = "uncorrected",
                    ) -> AreaStatistics:
    """Space-time Gi* -> Mann-Kendall -> emerging categories on an area cube.

    Parameters
    ----------
    counts : array_like, shape (n_areas, n_weeks)
        Events per area and week (:func:`area_week_counts`).
    contiguity : scipy.sparse matrix, shape (n_areas, n_areas)
        Binary contiguity without self (:func:`queen_contiguity`); self is added here.
    exposure : array_like, shape (n_areas,), optional
        Area sizes (:func:`areas_km2`); default uniform.
    time_step, p_method, fdr
        As :func:`analytics.gistar.gi_star`.
    trend_method
        As :func:`analytics.trend.mann_kendall`.
    emerging, share_basis
        The emerging rules (:class:`analytics.emerging.EmergingParams`) and what the "90 % of
        weeks" share counts: ``"uncorrected"`` (each week's own test) or ``"fdr"``.
    """
    x = np.asarray(counts)
    if x.ndim != 2 or x.shape[0] != contiguity.shape[0]:
        raise InvalidInputError(f"counts must be (n_areas, n_weeks) with n_areas = {contiguity.shape[0]}; "
                                f"received shape {x.shape}.")
    if share_basis not in ("uncorrected", "fdr"):
        raise InvalidInputError(f"share_basis must be uncorrected or fdr; received {share_basis!r}.")
    spatial = star_weights(contiguity)
    e = None
    if exposure is not None:
        e = np.asarray(exposure, dtype=float)
        if e.shape != (x.shape[0],) or not np.all(np.isfinite(e)) or np.any(e <= 0):
            raise InvalidInputError("exposure must be one positive number per area (its size in km²).")
    gi = gi_star(x, spatial, time_step, e, p_method, fdr)
    mk = mann_kendall(gi.z, method=trend_method)
    share = gi.uncorrected_class if share_basis == "uncorrected" else None
    categories = classify_emerging(gi.gi_class, mk, x, emerging, spatial=spatial, share_class=share)
    return AreaStatistics(gi, mk, categories, spatial, e)
