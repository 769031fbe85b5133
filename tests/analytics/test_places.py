"""Tests for attributing cells to nearby places."""

from __future__ import annotations

import geopandas as gpd
import h3
import numpy as np
import pyproj
import pytest
from shapely.geometry import Point, Polygon

from analytics.errors import InvalidInputError
from analytics.grid import cell_boundary_lonlat
from analytics.places import PLACE_COLUMNS, choose_projected_crs, nearest_places, places_text

GEOD = pyproj.Geod(ellps="WGS84")
UTM56S = pyproj.CRS.from_epsg(32756)
TO_UTM = pyproj.Transformer.from_crs("EPSG:4326", UTM56S, always_xy=True)
TO_LL = pyproj.Transformer.from_crs(UTM56S, "EPSG:4326", always_xy=True)

CELL_HEX = h3.latlng_to_cell(-33.8688, 151.2093, 9)
CELL = np.uint64(h3.str_to_int(CELL_HEX))
LAT0, LON0 = h3.cell_to_latlng(CELL_HEX)


def east_of_centre(metres: float) -> tuple[float, float]:
    x, y = TO_UTM.transform(LON0, LAT0)
    return TO_LL.transform(x + metres, y)


def places(rows, crs="EPSG:4326"):
    return gpd.GeoDataFrame(
        {"place_id": [r[0] for r in rows], "name": [r[1] for r in rows], "category": [r[2] for r in rows]},
        geometry=[r[3] for r in rows],
        crs=crs,
    )


def geodesic_edge_distance(lon, lat, cell) -> float:
    """Independent check: min geodesic distance to a densified cell boundary."""
    ring = cell_boundary_lonlat(int(cell))
    pts = []
    for (x0, y0), (x1, y1) in zip(ring[:-1], ring[1:]):
        s = np.linspace(0, 1, 400)
        pts.append(np.column_stack([x0 + s * (x1 - x0), y0 + s * (y1 - y0)]))
    pts = np.vstack(pts)
    _, _, d = GEOD.inv(np.full(len(pts), lon), np.full(len(pts), lat), pts[:, 0], pts[:, 1])
    return float(d.min())


@pytest.mark.parametrize(
    "lon, lat, epsg",
    [([151.2093], [-33.8688], 32756), ([-0.1276], [51.5072], 32630), ([5.3], [60.4], 32632), ([-74.0], [40.7], 32618)],
)
def test_choose_projected_crs(lon, lat, epsg):
    assert choose_projected_crs(lon, lat).to_epsg() == epsg


def test_choose_projected_crs_sydney_data_and_antimeridian():
    rng = np.random.default_rng(0)
    lon = 151.2 + rng.normal(0, 0.1, 500)
    lat = -33.87 + rng.normal(0, 0.1, 500)
    assert choose_projected_crs(lon, lat).to_epsg() == 32756
    # data straddling 180°: circular mean, not 0° (which would give zone 31)
    assert choose_projected_crs([179.9, -179.9], [-17.0, -17.0]).to_epsg() in (32701, 32760)
    with pytest.raises(InvalidInputError, match="projected"):
        choose_projected_crs([334000.0], [6252000.0])


def test_place_100_m_east_of_centre():
    lon, lat = east_of_centre(100.0)
    _, _, geodesic = GEOD.inv(LON0, LAT0, lon, lat)
    assert geodesic == pytest.approx(100.0, abs=0.1)
    pl = places([("s12", "Station 12", "train_station", Point(lon, lat))])
    centre = nearest_places(np.array([CELL]), pl, measure="centre")
    assert centre.loc[0, "distance_m"] == pytest.approx(100.0, abs=1e-6)   # exact in the UTM CRS
    # a res-9 cell's inradius is ~150 m, so the place is inside the cell: 0 m from it
    edge = nearest_places(np.array([CELL]), pl)
    assert edge.loc[0, "distance_m"] == 0.0


@pytest.mark.parametrize("metres", [250.0, 390.0])
def test_edge_distance_matches_geodesic(metres):
    lon, lat = east_of_centre(metres)
    pl = places([("p", "Park 03", "park", Point(lon, lat))])
    out = nearest_places(np.array([CELL]), pl, radius_m=400)
    expected = geodesic_edge_distance(lon, lat, CELL)
    assert 0 < expected < metres
    assert out.loc[0, "distance_m"] == pytest.approx(expected, abs=0.5)


def test_radius_filter_ranking_and_max_places():
    rows = [
        ("far", "Hotel 9", "hotel", Point(*east_of_centre(900))),
        ("p2", "Park 03", "park", Point(*east_of_centre(350))),
        ("p1", "Station 12", "train_station", Point(*east_of_centre(0))),
        ("p3", "Mall 1", "shopping_centre", Point(*east_of_centre(-400))),
        ("p4", "Food 7", "fast_food", Point(*east_of_centre(300))),
    ]
    out = nearest_places(np.array([CELL]), places(rows), radius_m=400)
    assert list(out.columns) == PLACE_COLUMNS
    assert "far" not in set(out["place_id"])
    assert out["place_id"].tolist() == ["p1", "p4", "p2"]     # 3 nearest of the 4 within range
    assert out["rank"].tolist() == [1, 2, 3]
    assert out["distance_m"].is_monotonic_increasing
    assert (out["distance_m"] <= 400).all()
    assert out["cell"].dtype == np.uint64
    one = nearest_places(np.array([CELL]), places(rows), radius_m=400, max_places=1)
    assert one["place_id"].tolist() == ["p1"]
    assert nearest_places(np.array([CELL]), places(rows), radius_m=50)["place_id"].tolist() == ["p1"]


def test_polygon_places_and_other_crs():
    x, y = TO_UTM.transform(LON0, LAT0)
    square = Polygon([(x + 500, y - 50), (x + 600, y - 50), (x + 600, y + 50), (x + 500, y + 50)])
    overlapping = Polygon([(x - 20, y - 20), (x + 20, y - 20), (x + 20, y + 20), (x - 20, y + 20)])
    pl = places([("sq", "Plaza", "other", square), ("ov", "Park 01", "park", overlapping)], crs=UTM56S)
    out = nearest_places(np.array([CELL]), pl, radius_m=600)
    assert out["place_id"].tolist() == ["ov", "sq"]
    assert out.loc[0, "distance_m"] == 0.0
    assert 280 < out.loc[1, "distance_m"] < 360      # 500 m minus the cell's half-width (150-200 m)


def test_several_cells_and_places_text():
    neighbour = np.uint64(h3.str_to_int(h3.grid_ring(CELL_HEX, 3)[0]))
    rows = [("s12", "Station 12", "train_station", Point(*east_of_centre(0))),
            ("p3", "Park 03", "park", Point(*east_of_centre(380)))]
    out = nearest_places(np.array([neighbour, CELL]), places(rows), radius_m=400)
    text = places_text(out)
    assert int(CELL) in text
    assert text[int(CELL)].startswith("Station 12 (train_station, 0 m); Park 03 (park, ")
    assert text[int(CELL)].endswith(" m)")
    assert set(text) <= {int(CELL), int(neighbour)}


def test_places_text_format():
    import pandas as pd

    df = pd.DataFrame({"cell": np.array([7, 7, 9], dtype=np.uint64), "place_id": ["a", "b", "c"],
                       "name": ["Station 12", "Park 03", "Hotel 1"],
                       "category": ["train_station", "park", "hotel"],
                       "distance_m": [81.0, 207.4, 4.2], "rank": [1, 2, 1]})
    assert places_text(df) == {
        7: "Station 12 (train_station, 80 m); Park 03 (park, 210 m)",
        9: "Hotel 1 (hotel, 4 m)",
    }


def test_invalid_inputs():
    pl = places([("p", "P", "park", Point(LON0, LAT0))])
    with pytest.raises(InvalidInputError, match="no CRS"):
        nearest_places(np.array([CELL]), pl.set_crs(None, allow_override=True))
    with pytest.raises(InvalidInputError, match="category"):
        nearest_places(np.array([CELL]), pl.drop(columns="category"))
    with pytest.raises(InvalidInputError, match="radius_m"):
        nearest_places(np.array([CELL]), pl, radius_m=-1)
    empty = nearest_places(np.array([], dtype=np.uint64), pl)
    assert empty.empty and list(empty.columns) == PLACE_COLUMNS
