"""H3 grid helpers: vectorised paths equal the plain h3 loops; study-area cover; clear errors."""

from __future__ import annotations

import h3
import numpy as np
import pytest
import scipy.sparse as sp
import shapely.geometry as geom

from analytics import grid
from analytics.errors import InvalidInputError


def _disk(k: int = 6) -> np.ndarray:
    centre = h3.latlng_to_cell(-33.87, 151.2, 9)
    return np.array([h3.str_to_int(c) for c in h3.grid_disk(centre, k)], dtype=np.uint64)


def test_vectorised_indexing_equals_h3_loop_including_the_threaded_path(monkeypatch):
    rng = np.random.default_rng(1)
    lat, lon = rng.uniform(-34.1, -33.5, 5000), rng.uniform(150.6, 151.3, 5000)
    expected = [h3.str_to_int(h3.latlng_to_cell(a, b, 9)) for a, b in zip(lat, lon)]
    assert list(grid.latlng_to_cells(lat, lon, 9)) == expected
    monkeypatch.setattr(grid, "_CHUNK", 700)  # force the multi-threaded chunking
    assert list(grid.latlng_to_cells(lat, lon, 9)) == expected


def _neighbour_matrix_loop(cells: np.ndarray, k: int):
    """Reference: W[i, j] = 1 iff cell j is in h3.grid_disk(cell i, k), one h3 call per cell."""
    pos = {int(c): j for j, c in enumerate(cells)}
    w = sp.lil_matrix((len(cells), len(cells)))
    for i, c in enumerate(cells):
        for h in h3.grid_disk(h3.int_to_str(int(c)), k):
            if h3.str_to_int(h) in pos:
                w[i, pos[h3.str_to_int(h)]] = 1.0
    return w.tocsr()


def test_neighbour_matrix_vectorised_equals_loop():
    cells = np.random.default_rng(2).permutation(_disk())[:100]
    fast = grid.neighbour_matrix(cells, 1)
    slow = _neighbour_matrix_loop(cells, 1)
    assert (fast != slow).nnz == 0
    assert np.all(fast.diagonal() == 1)


def test_neighbour_matrix_known_counts():
    # 19 cells (k=2 disk): centre and ring-1 cells see all 7 of their disk; on ring 2 the
    # 6 corner cells see 4 (self, 1 ring-1, 2 ring-2) and the 6 edge cells 5 (self, 2 + 2).
    w = grid.neighbour_matrix(_disk(2), 1)
    degrees = np.sort(np.asarray(w.sum(axis=1)).ravel())
    assert degrees.tolist() == [4] * 6 + [5] * 6 + [7] * 7
    assert w.nnz == 7 * 7 + 6 * 4 + 6 * 5


def test_polygon_cover_contains_every_inside_point():
    poly = geom.box(151.15, -33.90, 151.25, -33.85)
    cells = set(grid.polygon_to_cells(poly, 9).tolist())
    rng = np.random.default_rng(3)
    lat, lon = rng.uniform(-33.90, -33.85, 2000), rng.uniform(151.15, 151.25, 2000)
    assert set(grid.latlng_to_cells(lat, lon, 9).tolist()) <= cells


def test_hex_round_trip_and_errors():
    cells = _disk(1)
    assert (grid.hex_to_cells(grid.cells_to_hex(cells)) == cells).all()
    with pytest.raises(InvalidInputError, match="Not a valid H3 cell: 'nothex'"):
        grid.hex_to_cells(["nothex"])
    with pytest.raises(InvalidInputError, match="resolution must be an integer from 0 to 15"):
        grid.latlng_to_cells(np.array([0.0]), np.array([0.0]), 16)
    with pytest.raises(InvalidInputError, match="NaN"):
        grid.latlng_to_cells(np.array([np.nan]), np.array([0.0]), 9)
