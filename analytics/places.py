"""Attribute hotspot cells to nearby places of interest.

A commander reads "Station 12 (train_station, 80 m)" more easily than an H3 id.
Distances are measured in metres in a projected CRS chosen for the data (the UTM
zone of the data's centroid), never in degrees, and from the **edge** of the cell
polygon: a place inside or touching a cell is at 0 m.

:func:`choose_projected_crs` lives here and is imported by
:mod:`analytics.clusters`.
"""

from __future__ import annotations

import math
from itertools import chain

import geopandas as gpd
import h3.api.numpy_int as h3n
import numpy as np
import pandas as pd
import pyproj
import shapely

from analytics.errors import InvalidInputError
from analytics.grid import cells_to_latlng

__all__ = ["choose_projected_crs", "cells_to_polygons", "cell_rings", "nearest_places", "places_text",
           "PLACE_COLUMNS"]

#: Columns of :func:`nearest_places`' result, in order.
PLACE_COLUMNS = ["cell", "place_id", "name", "category", "distance_m", "rank"]


def choose_projected_crs(lon, lat) -> pyproj.CRS:
    """UTM zone (WGS 84) of the data's centroid, for measuring in metres.

    Parameters
    ----------
    lon, lat : array_like
        Coordinates in degrees (EPSG:4326). NaNs are ignored.

    Returns
    -------
    pyproj.CRS
        ``EPSG:326zz`` north of the equator, ``EPSG:327zz`` south of it.

    Raises
    ------
    InvalidInputError
        No finite coordinates, or coordinates out of range.

    Notes
    -----
    Zone ``zz = floor((λ + 180)/6) + 1`` of the centroid longitude λ (a circular
    mean, so data straddling ±180° is handled), with the standard exceptions for
    south-west Norway (zone 32V) and Svalbard (31X–37X). UTM distortion stays
    below 0.1 % within a zone, far less than the size of an H3 cell at the
    resolutions we use. Reference: Snyder (1987), *Map Projections — A Working
    Manual*, USGS PP 1395, pp. 57–64; NGA.SIG.0012 (UTM zone exceptions).

    Examples
    --------
    >>> choose_projected_crs([151.21], [-33.87]).to_epsg()
    32756
    """
    lon = np.asarray(lon, dtype=np.float64).ravel()
    lat = np.asarray(lat, dtype=np.float64).ravel()
    ok = np.isfinite(lon) & np.isfinite(lat)
    if lon.shape != lat.shape or not ok.any():
        raise InvalidInputError("choose_projected_crs needs matching lon/lat arrays with finite values.")
    lon, lat = lon[ok], lat[ok]
    if np.any(np.abs(lat) > 90) or np.any(np.abs(lon) > 180):
        raise InvalidInputError(
            "Coordinates are out of range for degrees (|lat| <= 90, |lon| <= 180); "
            "are they already projected?"
        )
    rad = np.radians(lon)
    clon = math.degrees(math.atan2(np.sin(rad).mean(), np.cos(rad).mean()))
    clat = float(lat.mean())
    zone = int((clon + 180.0) // 6.0) + 1
    zone = min(max(zone, 1), 60)
    if 56.0 <= clat < 64.0 and 3.0 <= clon < 12.0:
        zone = 32
    if 72.0 <= clat < 84.0 and clon >= 0.0:
        if clon < 9.0:
            zone = 31
        elif clon < 21.0:
            zone = 33
        elif clon < 33.0:
            zone = 35
        elif clon < 42.0:
            zone = 37
    return pyproj.CRS.from_epsg((32600 if clat >= 0 else 32700) + zone)


def cell_rings(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Closed boundary rings of many cells: all (lon, lat) vertices in one array, and each ring's length.

    The same vertices as :func:`analytics.grid.cell_boundary_lonlat` (one h3 call per
    cell), gathered once so that rounding, polygons and bounds are array operations
    instead of Python work per vertex. Rings have 7 points (6 for pentagons; more for
    the few cells that cross an icosahedron edge).
    """
    bounds = [h3n.cell_to_boundary(int(c)) for c in np.asarray(cells, dtype=np.uint64)]
    sizes = np.fromiter((len(b) + 1 for b in bounds), dtype=np.int64, count=len(bounds))
    latlon = np.fromiter(chain.from_iterable(chain.from_iterable(b + b[:1] for b in bounds)),
                         dtype=np.float64, count=2 * int(sizes.sum()))
    return latlon.reshape(-1, 2)[:, ::-1].copy(), sizes


def cells_to_polygons(cells: np.ndarray) -> gpd.GeoSeries:
    """H3 cells (uint64) as polygons in EPSG:4326 (built in one vectorised shapely call)."""
    lonlat, sizes = cell_rings(cells)
    if len(sizes) == 0:
        return gpd.GeoSeries([], crs="EPSG:4326")
    rings = shapely.linearrings(lonlat, indices=np.repeat(np.arange(len(sizes)), sizes))
    return gpd.GeoSeries(shapely.polygons(rings), crs="EPSG:4326")


def nearest_places(
    cells: np.ndarray,
    places: gpd.GeoDataFrame,
    radius_m: float = 400,
    max_places: int = 3,
    *,
    measure: str = "edge",
) -> pd.DataFrame:
    """Up to ``max_places`` places within ``radius_m`` of each cell, nearest first.

    Parameters
    ----------
    cells : numpy.ndarray of uint64
        H3 cells to describe.
    places : geopandas.GeoDataFrame
        Columns ``place_id``, ``name``, ``category`` and point or polygon
        geometry, with a CRS (normally EPSG:4326).
    radius_m : float, default 400
        Search distance from the cell's edge, in metres.
    max_places : int, default 3
        Places kept per cell.
    measure : {"edge", "centre"}, default "edge"
        Measure from the cell polygon (a place inside the cell is at 0 m) or
        from the cell centre.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`PLACE_COLUMNS`: ``cell`` (uint64), ``place_id``,
        ``name``, ``category``, ``distance_m`` (float, metres from the cell
        polygon's edge, 0 when the place is inside or touches the cell; or
        from the centre with ``measure="centre"``) and
        ``rank`` (1 = nearest). Cells with no place in range have no rows.

    Raises
    ------
    InvalidInputError
        Missing columns, no CRS on ``places``, or bad parameters.

    Notes
    -----
    Both layers are projected to the UTM zone of the cells' centroid
    (:func:`choose_projected_crs`). Candidates come from a spatial-index join
    ``sjoin(cells, places, predicate="dwithin", distance=radius_m)``; exact
    polygon-to-geometry distances are then computed with shapely (GEOS), and
    each cell keeps its ``max_places`` nearest (ties broken by ``place_id``).
    We use the cell polygon rather than its centre because a place anywhere in
    a cell is "at" that cell; ``sjoin_nearest`` was not used because it returns
    only the single nearest place (plus exact ties).

    Examples
    --------
    >>> import h3.api.numpy_int as h3n
    >>> from shapely.geometry import Point
    >>> cell = h3n.latlng_to_cell(-33.8688, 151.2093, 9)
    >>> lat, lon = h3n.cell_to_latlng(cell)
    >>> pl = gpd.GeoDataFrame({"place_id": ["p1"], "name": ["Station 12"],
    ...     "category": ["train_station"]}, geometry=[Point(lon, lat)], crs="EPSG:4326")
    >>> nearest_places(np.array([cell], dtype=np.uint64), pl)[["name", "distance_m", "rank"]].values.tolist()
    [['Station 12', 0.0, 1]]
    """
    if not isinstance(places, gpd.GeoDataFrame):
        raise InvalidInputError("places must be a GeoDataFrame with place_id, name, category and geometry.")
    missing = {"place_id", "name", "category"} - set(places.columns)
    if missing:
        raise InvalidInputError(
            f"places lacks column(s) {sorted(missing)}; expected place_id, name, category, geometry."
        )
    if places.crs is None:
        raise InvalidInputError("places has no CRS; set it (normally EPSG:4326) before calling nearest_places.")
    if not np.isfinite(radius_m) or radius_m < 0:
        raise InvalidInputError(f"radius_m must be a non-negative number of metres; received {radius_m!r}.")
    if measure not in ("edge", "centre"):
        raise InvalidInputError(f"measure must be 'edge' or 'centre'; received {measure!r}.")
    if not isinstance(max_places, (int, np.integer)) or max_places < 1:
        raise InvalidInputError(f"max_places must be an integer >= 1; received {max_places!r}.")

    cells = np.unique(np.asarray(cells, dtype=np.uint64))
    empty = pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(
        PLACE_COLUMNS, [np.uint64, object, object, object, np.float64, np.int64])})
    places = places[places.geometry.notna() & ~places.geometry.is_empty]
    if cells.size == 0 or len(places) == 0:
        return empty

    cell_geo = cells_to_polygons(cells)
    lat, lon = cells_to_latlng(cells)
    crs = choose_projected_crs(lon, lat)
    if measure == "centre":
        cell_geo = gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs="EPSG:4326")
    left = gpd.GeoDataFrame({"cell": cells}, geometry=cell_geo.to_crs(crs).values, crs=crs)
    right = places[["place_id", "name", "category", "geometry"]].to_crs(crs).reset_index(drop=True)
    joined = gpd.sjoin(left, right, how="inner", predicate="dwithin", distance=float(radius_m))
    if joined.empty:
        return empty
    pidx = joined["index_right"].to_numpy()
    dist = joined.geometry.distance(gpd.GeoSeries(right.geometry.values[pidx], crs=crs, index=joined.index))
    out = pd.DataFrame(
        {
            "cell": joined["cell"].to_numpy(dtype=np.uint64),
            "place_id": right["place_id"].to_numpy()[pidx],
            "name": right["name"].to_numpy()[pidx],
            "category": right["category"].to_numpy()[pidx],
            "distance_m": dist.to_numpy(dtype=np.float64),
        }
    )
    out = out[out["distance_m"] <= float(radius_m)]
    out["_pid"] = out["place_id"].astype(str)
    out = out.sort_values(["cell", "distance_m", "_pid"], kind="mergesort").drop(columns="_pid")
    out = out.drop_duplicates(["cell", "place_id"])
    out["rank"] = out.groupby("cell").cumcount().astype(np.int64) + 1
    out = out[out["rank"] <= max_places].reset_index(drop=True)
    out["cell"] = out["cell"].astype(np.uint64)
    return out[PLACE_COLUMNS]


def _metres_text(d: float) -> str:
    if d < 10:
        return f"{d:.0f} m"
    return f"{int(round(d / 10.0)) * 10} m"


def places_text(df: pd.DataFrame) -> dict[int, str]:
    """One line per cell naming its nearby places.

    Parameters
    ----------
    df : pandas.DataFrame
        Output of :func:`nearest_places`.

    Returns
    -------
    dict[int, str]
        ``{cell: "Station 12 (train_station, 80 m); Park 03 (park, 210 m)"}``
        in rank order. Distances of 10 m or more are rounded to the nearest
        10 m (more precision would be false: distances are to a cell's edge).

    Examples
    --------
    >>> df = pd.DataFrame({"cell": [7, 7], "place_id": ["a", "b"], "name": ["Station 12", "Park 03"],
    ...     "category": ["train_station", "park"], "distance_m": [81.2, 207.0], "rank": [1, 2]})
    >>> places_text(df)
    {7: 'Station 12 (train_station, 80 m); Park 03 (park, 210 m)'}
    """
    missing = {"cell", "name", "category", "distance_m"} - set(df.columns)
    if missing:
        raise InvalidInputError(f"places_text needs the output of nearest_places; missing {sorted(missing)}.")
    out: dict[int, str] = {}
    order = ["cell", "rank"] if "rank" in df.columns else ["cell", "distance_m"]
    for cell, grp in df.sort_values(order, kind="mergesort").groupby("cell", sort=True):
        out[int(cell)] = "; ".join(
            f"{n} ({c}, {_metres_text(float(d))})"
            for n, c, d in zip(grp["name"], grp["category"], grp["distance_m"])
        )
    return out
