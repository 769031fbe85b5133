"""Area statistics: queen contiguity (vs libpysal), Gi* on area counts (vs esda), sizes, point-in-polygon,
and naming cells / plan entries after their areas."""

from __future__ import annotations

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from shapely.geometry import Polygon, box

from analytics import grid
from analytics.area_names import cells_to_area_names, name_plan_areas
from analytics.area_stats import (area_statistics, area_week_counts, areas_km2, points_to_areas, queen_contiguity,
                                  star_weights)
from analytics.errors import InvalidInputError
from analytics.gistar import gi_star


def _grid_areas(nx: int = 6, ny: int = 5, size: float = 0.01, x0: float = 151.19, y0: float = -33.89):
    """nx * ny square areas sharing edges and corners (lon/lat), row-major."""
    return [box(x0 + i * size, y0 + j * size, x0 + (i + 1) * size, y0 + (j + 1) * size)
            for j in range(ny) for i in range(nx)]


def _libpysal_queen(geoms):
    from libpysal.weights import Queen
    return Queen.from_dataframe(gpd.GeoDataFrame(geometry=list(geoms), crs=4326), use_index=False,
                                silence_warnings=True)


def test_queen_contiguity_matches_libpysal_on_a_grid():
    geoms = _grid_areas()
    ours = queen_contiguity(geoms)
    theirs = _libpysal_queen(geoms).sparse
    assert (ours != (theirs > 0).astype(np.int8)).nnz == 0
    # a corner square has 3 queen neighbours, an inner one 8, and nobody is their own neighbour
    degree = np.asarray(ours.sum(axis=1)).ravel()
    assert degree[0] == 3 and degree[7] == 8 and ours.diagonal().sum() == 0


def test_queen_joins_t_junction_and_keeps_islands_alone():
    left = box(0, 0, 1, 2)
    top_right, bottom_right = box(1, 1, 2, 2), box(1, 0, 2, 1)   # left has no vertex at (1, 1)
    island = box(5, 5, 6, 6)
    w = queen_contiguity([left, top_right, bottom_right, island]).toarray()
    assert w[0, 1] == w[0, 2] == w[1, 2] == 1
    assert w[3].sum() == 0
    star = star_weights(w).toarray()
    assert star[3, 3] == 1 and star[3].sum() == 1


def _esda_zs(values, w):
    from esda.getisord import G_Local
    return G_Local(values.astype(float), w, transform="B", star=True, permutations=0).Zs


def test_gi_star_on_area_counts_equals_esda_on_the_same_queen_weights():
    geoms = _grid_areas()
    rng = np.random.default_rng(11)
    counts = rng.poisson(2.0, (len(geoms), 1))
    counts[7, 0] += 9  # a hot area among its eight neighbours
    gi = gi_star(counts, star_weights(queen_contiguity(geoms)), time_step=0)  # the weights area_statistics uses
    assert_allclose(gi.z[:, 0], _esda_zs(counts[:, 0], _libpysal_queen(geoms)), rtol=0, atol=1e-10)
    assert gi.z[7, 0] > 1  # the planted area stands out


def test_area_size_is_the_exposure_of_the_null_not_of_z():
    geoms = _grid_areas(3, 1) + [box(151.22, -33.89, 151.24, -33.87)]  # a 4x larger area on the right
    counts = np.tile(np.array([[2], [2], [2], [8]]), (1, 12))
    km2 = areas_km2(geoms)
    with_size = area_statistics(counts, queen_contiguity(geoms), km2)
    uniform = area_statistics(counts, queen_contiguity(geoms))
    assert_allclose(with_size.gi.z, uniform.gi.z)      # z is the unweighted esda statistic
    # per km² the big area is as busy as the others: expected follows size, so it is not called hot
    assert with_size.gi.expected[3, -1] > uniform.gi.expected[3, -1]
    assert with_size.gi.gi_class[3, -1] <= uniform.gi.gi_class[3, -1]
    with pytest.raises(InvalidInputError, match="positive"):
        area_statistics(counts, queen_contiguity(geoms), np.array([1.0, 0.0, 1.0, 1.0]))


def test_areas_km2_on_the_ellipsoid():
    # 0.01° x 0.01° at Sydney: 1.1132 km (lon, x cos 33.88°) x 1.109 km (lat) ~ 1.0245 km²
    km2 = areas_km2([box(151.19, -33.89, 151.20, -33.88)])
    assert km2[0] == pytest.approx(1.0245, rel=2e-3)


def test_points_to_areas_first_area_on_a_border_and_missing_coordinates():
    a, b = box(0, 0, 1, 1), box(1, 0, 2, 1)
    got = points_to_areas([0.5, 1.0, 1.5, 3.0, np.nan], [0.5, 0.5, 0.5, 0.5, 0.5], [a, b])
    assert got.tolist() == [0, 0, 1, -1, -1]


def test_area_week_counts_leaves_out_unplaced_events():
    counts = area_week_counts([0, 0, 1, -1, 1], [0, 0, 2, 1, 5], n_areas=2, n_weeks=3)
    assert counts.tolist() == [[2, 0, 0], [0, 0, 1]]


def test_emerging_categories_on_areas():
    geoms = _grid_areas(4, 4)
    rng = np.random.default_rng(5)
    counts = rng.poisson(1.0, (len(geoms), 20))
    counts[5, :] += 40  # always far above the rest
    stats = area_statistics(counts, queen_contiguity(geoms), areas_km2(geoms))
    assert stats.emerging.loc[5, "category"] == "persistent_hot"
    assert len(stats.emerging) == len(geoms) and stats.mk.tau.shape == (len(geoms),)


# ----------------------------------------------------------------------------------------- naming
def _areas_frame():
    west = box(151.19, -33.89, 151.205, -33.86)
    east = box(151.205, -33.89, 151.22, -33.86)
    district = box(151.18, -33.90, 151.23, -33.85)
    return gpd.GeoDataFrame({"layer": ["suburbs", "suburbs", "districts"], "area_id": ["1", "2", "D2"],
                             "area_name": ["West", "East", "District 2"]},
                            geometry=[west, east, district], crs=4326)


def test_cells_are_named_one_area_per_layer():
    areas = _areas_frame()
    cells = grid.latlng_to_cells(np.array([-33.875, -33.875, -33.70]), np.array([151.195, 151.215, 151.0]), 9)
    assert cells_to_area_names(cells, areas) == ["West · District 2", "East · District 2", ""]
    assert cells_to_area_names(cells, None) == ["", "", ""]


def test_edge_cell_takes_the_area_it_overlaps_most():
    # a cell whose centre lies just outside the only area, but whose hexagon mostly overlaps it
    cell = int(grid.latlng_to_cells(np.array([-33.875]), np.array([151.2]), 9)[0])
    lat, lon = h3.cell_to_latlng(h3.int_to_str(cell))
    area = box(lon + 0.00005, lat - 0.01, lon + 0.01, lat + 0.01)   # the centre is 5e-5° west of it
    areas = gpd.GeoDataFrame({"layer": ["beats"], "area_id": ["7"], "area_name": ["Beat 7"]}, geometry=[area], crs=4326)
    assert cells_to_area_names(np.array([cell], dtype=np.uint64), areas) == ["Beat 7"]


def test_plan_entries_name_every_area_they_cross():
    areas = _areas_frame()
    west = grid.latlng_to_cells(np.array([-33.875, -33.876]), np.array([151.195, 151.196]), 9)
    east = grid.latlng_to_cells(np.array([-33.875]), np.array([151.215]), 9)
    cells = ";".join(grid.cells_to_hex(np.concatenate([west, east])))
    plan = pd.DataFrame({"rank": [1, 2], "area_name": ["", ""],
                         "cells": [cells, grid.cells_to_hex(east)[0]]})
    named = name_plan_areas(plan, areas)
    assert named["area_name"].tolist() == ["West / East · District 2", "East · District 2"]
    assert name_plan_areas(plan, None) is plan


def test_polygon_type_is_checked():
    with pytest.raises(InvalidInputError):
        queen_contiguity([Polygon([(0, 0), (1, 0), (1, 1)]), "not a polygon"])
