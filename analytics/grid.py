"""H3 grid: vectorised indexing, study areas, neighbourhoods and sparse weights.

Cells are ``uint64`` everywhere inside the product; hex strings appear only at the
edges (maps, reports, exports) through :func:`cells_to_hex` / :func:`hex_to_cells`. H3 calls
on cells go through ``h3.api.numpy_int`` (integers in, integers / uint64 arrays out), never
through a hex-string round trip.

Indexing uses h3ronpy (Arrow, releases the GIL, split over threads); the plain loop over
``h3.latlng_to_cell`` (:func:`latlng_to_cells_loop`) is kept as the reference the tests and
benchmarks compare it with (identical cells).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import h3
import h3.api.numpy_int as h3n
import numpy as np
import pyarrow as pa
import scipy.sparse as sp
from h3ronpy import grid_disk as _h3ronpy_grid_disk
from h3ronpy.vector import coordinates_to_cells as _h3ronpy_coordinates_to_cells

from analytics.errors import InvalidInputError

DEFAULT_RESOLUTION = 9
_CHUNK = 1 << 20  # most rows per thread task (bounds the Arrow copies of one task)
_MIN_CHUNK = 1 << 16  # fewest rows per thread task: amortises the per-call Arrow overhead
_TASKS_PER_THREAD = 4  # several tasks per thread: a core busy elsewhere does not hold back the end


def chunk_rows(n: int, threads: int) -> int:
    """Rows per thread task: ~n / (threads * 4), clipped to [_MIN_CHUNK, _CHUNK].

    >>> chunk_rows(1_000, 2), chunk_rows(10_000_000, 2), chunk_rows(2_000_000, 2)
    (65536, 1048576, 250000)
    """
    return int(min(_CHUNK, max(_MIN_CHUNK, -(-n // (threads * _TASKS_PER_THREAD)))))


def check_resolution(resolution: int) -> int:
    """The H3 resolution as an int, or :class:`InvalidInputError` when it is not 0-15.

    >>> check_resolution(9)
    9
    >>> check_resolution(16)
    Traceback (most recent call last):
    ...
    analytics.errors.InvalidInputError: H3 resolution must be an integer from 0 to 15; received 16.
    """
    if not isinstance(resolution, (int, np.integer)) or not 0 <= int(resolution) <= 15:
        raise InvalidInputError(
            f"H3 resolution must be an integer from 0 to 15; received {resolution!r}."
        )
    return int(resolution)


def latlng_to_cells_loop(lat: np.ndarray, lon: np.ndarray, resolution: int) -> np.ndarray:
    """Reference path: one ``h3.latlng_to_cell`` call per point (slow, always available)."""
    resolution = check_resolution(resolution)
    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)
    out = np.empty(lat.shape[0], dtype=np.uint64)
    for i in range(lat.shape[0]):
        out[i] = h3n.latlng_to_cell(lat[i], lon[i], resolution)
    return out


def latlng_to_cells_h3ronpy(lat: np.ndarray, lon: np.ndarray, resolution: int) -> np.ndarray:
    """One h3ronpy call on the calling thread (what :func:`latlng_to_cells` runs per chunk)."""
    cells = _h3ronpy_coordinates_to_cells(pa.array(lat), pa.array(lon), resolution)
    return np.asarray(cells.to_numpy(), dtype=np.uint64)


def latlng_to_cells(
    lat: np.ndarray, lon: np.ndarray, resolution: int = DEFAULT_RESOLUTION, threads: int | None = None
) -> np.ndarray:
    """Index points to H3 cells (``uint64``), vectorised and multi-threaded.

    Coordinates must already be valid (finite, lat in [-90, 90], lon in [-180, 180]);
    validation happens at ingest, where a bad row is quarantined with its reason.
    """
    resolution = check_resolution(resolution)
    lat = np.ascontiguousarray(lat, dtype=np.float64)
    lon = np.ascontiguousarray(lon, dtype=np.float64)
    if lat.shape != lon.shape:
        raise InvalidInputError(f"lat and lon differ in length: {lat.shape[0]} vs {lon.shape[0]}.")
    n = lat.shape[0]
    if n == 0:
        return np.empty(0, dtype=np.uint64)
    if not (np.isfinite(lat).all() and np.isfinite(lon).all()):
        raise InvalidInputError("lat/lon contain NaN or infinite values; validate before indexing.")
    threads = threads or min(os.cpu_count() or 1, 8)
    chunk = chunk_rows(n, threads)
    if threads == 1 or n <= chunk:
        return latlng_to_cells_h3ronpy(lat, lon, resolution)
    bounds = list(range(0, n, chunk)) + [n]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        parts = pool.map(
            lambda ab: latlng_to_cells_h3ronpy(lat[ab[0]:ab[1]], lon[ab[0]:ab[1]], resolution),
            zip(bounds[:-1], bounds[1:]),
        )
        return np.concatenate(list(parts))


def cells_to_hex(cells: np.ndarray) -> list[str]:
    """uint64 cells to H3 hex strings (for maps, reports and exports)."""
    return [h3.int_to_str(int(c)) for c in np.asarray(cells, dtype=np.uint64)]


def hex_to_cells(hexes) -> np.ndarray:
    """H3 hex strings to uint64 cells; raises InvalidInputError naming the first bad value."""
    out = np.empty(len(hexes), dtype=np.uint64)
    for i, value in enumerate(hexes):
        text = str(value).strip().lower()
        if not h3.is_valid_cell(text):
            raise InvalidInputError(f"Not a valid H3 cell: {value!r} (position {i}).")
        out[i] = h3.str_to_int(text)
    return out


def cells_from_any(values, what: str = "cells") -> np.ndarray:
    """Cells given as uint64 ints or H3 hex strings -> uint64; the error names ``what`` and the row."""
    vals = list(values)
    if vals and isinstance(vals[0], str):
        out = np.empty(len(vals), dtype=np.uint64)
        for i, v in enumerate(vals):
            if not h3.is_valid_cell(v):
                raise InvalidInputError(f"{what}: {v!r} (row {i}) is not a valid H3 cell.")
            out[i] = h3.str_to_int(v)
        return out
    try:
        return np.asarray(vals, dtype=np.uint64)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidInputError(f"{what}: 'cell' must hold uint64 H3 cells or hex strings ({exc}).") from exc


def cell_area_km2(cells: np.ndarray) -> np.ndarray:
    """Area of each uint64 cell in km² (H3's exact cell area; res-9 cells are 0.1-0.13 km²).

    >>> cell_area_km2(latlng_to_cells([-33.87], [151.21], 9)).round(3)
    array([0.127])
    """
    return np.array([h3n.cell_area(int(c), unit="km^2") for c in np.asarray(cells, dtype=np.uint64)],
                    dtype=np.float64)


def cells_to_latlng(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cell centres as (lat, lon) arrays."""
    cells = np.asarray(cells, dtype=np.uint64)
    lat = np.empty(cells.shape[0])
    lon = np.empty(cells.shape[0])
    for i, c in enumerate(cells):
        lat[i], lon[i] = h3n.cell_to_latlng(int(c))
    return lat, lon


def cell_boundary_lonlat(cell: int) -> list[tuple[float, float]]:
    """Closed polygon ring of one cell as (lon, lat) pairs, GeoJSON order."""
    ring = [(lon, lat) for lat, lon in h3n.cell_to_boundary(int(cell))]
    return ring + ring[:1]


def grid_disk_cells(cells: np.ndarray, k: int) -> np.ndarray:
    """Sorted unique cells within ``k`` rings of any of ``cells`` (the cells included)."""
    if k < 0:
        raise InvalidInputError(f"Ring distance k must be >= 0; received {k}.")
    unique = np.unique(np.asarray(cells, dtype=np.uint64))
    if not len(unique):
        return np.empty(0, dtype=np.uint64)
    return np.unique(_disks(unique, k)[1])  # vectorised (h3ronpy), sorted unique


def _disks(cells: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """grid_disk of every (non-empty) cells array as (owner index per member, member cells), vectorised."""
    lists = pa.array(_h3ronpy_grid_disk(pa.array(cells, type=pa.uint64()), k))
    offsets = np.asarray(lists.offsets.to_numpy(zero_copy_only=False), dtype=np.int64)
    members = np.asarray(lists.values.to_numpy(zero_copy_only=False), dtype=np.uint64)
    owners = np.repeat(np.arange(len(cells)), np.diff(offsets))
    return owners, members


def neighbour_matrix(cells: np.ndarray, k: int = 1) -> sp.csr_matrix:
    """Binary spatial weights: W[i, j] = 1 iff cell j is in ``grid_disk(cell i, k)``.

    Includes the diagonal (Gi* counts the cell itself). Neighbours outside ``cells``
    are ignored, so the study area's edge cells simply have fewer neighbours.
    """
    cells = np.asarray(cells, dtype=np.uint64)
    if k < 0:
        raise InvalidInputError(f"Ring distance k must be >= 0; received {k}.")
    order = np.argsort(cells, kind="stable")
    sorted_cells = cells[order]
    if sorted_cells.size and np.any(sorted_cells[1:] == sorted_cells[:-1]):
        raise InvalidInputError("Cells passed to neighbour_matrix must be unique.")
    n = cells.shape[0]
    if n == 0:
        return sp.csr_matrix((0, 0))
    owners, members = _disks(cells, k)
    pos = np.clip(np.searchsorted(sorted_cells, members), 0, n - 1)
    hit = sorted_cells[pos] == members
    rows, cols = owners[hit], order[pos[hit]]
    data = np.ones(rows.shape[0], dtype=np.float64)
    return sp.csr_matrix((data, (rows, cols)), shape=(n, n))


def polygon_to_cells(geometry, resolution: int = DEFAULT_RESOLUTION) -> np.ndarray:
    """Cells overlapping a shapely (Multi)Polygon in lon/lat (EPSG:4326).

    Uses overlap containment so that every point inside the polygon falls in a
    returned cell: a point is "outside the study area" exactly when its cell is not
    in this set.
    """
    resolution = check_resolution(resolution)
    polys = list(geometry.geoms) if hasattr(geometry, "geoms") else [geometry]
    out: list[np.ndarray] = []
    for poly in polys:
        if poly.is_empty:
            continue
        outer = [(lat, lon) for lon, lat in poly.exterior.coords]
        holes = [[(lat, lon) for lon, lat in ring.coords] for ring in poly.interiors]
        shape = h3.LatLngPoly(outer, *holes)
        out.append(np.asarray(h3n.h3shape_to_cells_experimental(shape, resolution, contain="overlap"), dtype=np.uint64))
    cells = np.unique(np.concatenate(out)) if out else np.empty(0, dtype=np.uint64)  # sorted, unique
    if not len(cells):
        raise InvalidInputError("The boundary polygon covers no H3 cells; is it empty or in the wrong CRS?")
    return cells
