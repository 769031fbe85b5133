"""Analyst and patrol maps: offline HTML, layers, legend, privacy, size.

Folium output is tested by rendering to a string and checking key substrings
and the embedded GeoJSON; the real-browser checks live in tests/browser/.
"""

from __future__ import annotations

import json
import re

import folium
import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import pytest
from branca.element import JavascriptLink
from shapely.geometry import Point

from analytics.errors import InvalidInputError
from pipelines.render.analyst_map import analyst_map
from pipelines.render.map_parts import CATEGORIES, CATEGORY_COLOURS, render_html
from pipelines.render.offline import LEAFLET_VERSION, find_urls, leaflet_assets, offline_html
from pipelines.render.patrol_map import patrol_map
from analytics.patrol import PatrolParams, patrol_plan

TILES = "https://tiles.example.org/{z}/{x}/{y}.png"
_ADD_RE = re.compile(r"geo_json_\w+_add\(")


def _disk_cells(n: int) -> np.ndarray:
    centre = h3.latlng_to_cell(-33.8688, 151.2093, 9)
    k = 0
    while 3 * k * (k + 1) + 1 < n:
        k += 1
    return np.array([h3.str_to_int(c) for c in sorted(h3.grid_disk(centre, k))[:n]], dtype=np.uint64)


def _hotspots(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cells = _disk_cells(n)
    cats = np.array(CATEGORIES)[np.arange(n) % len(CATEGORIES)]  # every category, no_pattern 1 in 17
    return pd.DataFrame({
        "cell": cells, "category": cats, "gi_class": rng.integers(-3, 4, n), "count": rng.poisson(3, n),
        "expected": rng.gamma(2.0, 1.0, n), "z": rng.normal(0, 2, n), "p_fdr": rng.uniform(0, 1, n),
        "reason": [f"Reason {i}: hot in 9 of the last 10 weeks, trend rising" for i in range(n)],
        "places": ["Station 12 (train_station, 80 m); Park 03 (park, 210 m)"] * n,
    })


def _geojson_blobs(html: str) -> list[dict]:
    """Every GeoJSON FeatureCollection embedded by folium (geo_json_*_add({...}))."""
    dec = json.JSONDecoder()
    return [dec.raw_decode(html, m.end())[0] for m in _ADD_RE.finditer(html)]


def _ring_table(html: str) -> list:
    """The page's shared hexagon rings (``var hs_rings = [...]``), or [] when it has none."""
    m = re.search(r"var hs_rings = ", html)
    return json.JSONDecoder().raw_decode(html, m.end())[0] if m else []


def _features(html: str, layer: str) -> list[dict]:
    """Features of ``layer``, with hexagons' Polygons restored from the ring table as the page does."""
    rings = _ring_table(html)
    feats = [f for blob in _geojson_blobs(html) for f in blob["features"] if f["properties"].get("layer") == layer]
    for f in feats:
        if f.get("geometry") is None and "ring" in f:
            f["geometry"] = {"type": "Polygon", "coordinates": [rings[f["ring"]]]}
    return feats


def _page_without_leaflet(html: str) -> str:
    js, css = leaflet_assets()
    return html.replace(js, "").replace(css, "")


@pytest.fixture(scope="module")
def layers():
    hs = _hotspots(60)
    cells = hs["cell"].to_numpy()
    lat, lon = zip(*[h3.cell_to_latlng(h3.int_to_str(int(c))) for c in cells[:6]])
    places = gpd.GeoDataFrame(
        {"place_id": list("abcdef"), "name": [f"Place {i}" for i in range(6)],
         "category": ["train_station", "park", "fast_food"] * 2},
        geometry=[Point(x, y) for x, y in zip(lon, lat)], crs="EPSG:4326")
    conv = pd.DataFrame({"cell": cells[:2], "n_young_people": [3, 6], "n_placements": [2, 5], "rank": [1, 2]})
    scan = pd.DataFrame({"cluster_rank": [1], "kind": ["primary"], "cells": [tuple(cells[:7])],
                         "observed": [12], "expected": [3.1], "p_value": [0.01]})
    st = gpd.GeoDataFrame({"label": [0], "n_events": [9], "n_young_people": [2]},
                          geometry=[Point(lon[0], lat[0]).buffer(0.002)], crs="EPSG:4326")
    weeks = pd.DataFrame({"cell": np.tile(cells[:10], 3), "week": np.repeat(["2025-W05", "2025-W06", "2025-W07"], 10),
                          "count": np.arange(1, 31)})
    return dict(hotspots=hs, places=places, scan_clusters=scan, st_clusters=st, convergence=conv, recent_weeks=weeks)


@pytest.fixture(scope="module")
def analyst_html(layers):
    return render_html(analyst_map(**layers, synthetic=True))


@pytest.fixture(scope="module")
def plan():
    hs = _hotspots(60).assign(person_ref="CHILD-REF-0001", episode_id="EP-777", n_young_people=4242,
                              placement_lat=-33.123456, placement_lon=151.654321)
    ev = pd.DataFrame({"cell": hs["cell"].repeat(2).to_numpy(), "hour_of_week": [4 * 24 + 22, 4 * 24 + 23] * 60,
                       "person_ref": "CHILD-REF-0001"})
    return patrol_plan(hs, ev, params=PatrolParams(n_cells=10))


@pytest.fixture(scope="module")
def patrol_html(plan):
    return render_html(patrol_map(plan, synthetic=True))


# ---------------------------------------------------------------- offline
@pytest.mark.parametrize("which", ["analyst_html", "patrol_html"])
def test_no_external_urls_and_leaflet_inlined(which, request):
    html = request.getfixturevalue(which)
    assert "http://" not in html and "https://" not in html
    assert "<script src" not in html and "<link " not in html
    assert "L.map(" in html  # folium's map creation
    assert f'"{LEAFLET_VERSION}"' in html or f"version=\"{LEAFLET_VERSION}\"" in html or LEAFLET_VERSION in html
    assert "Leaflet 1.9.3" in html  # licence header of the inlined file
    assert "jquery" not in html.lower() and "bootstrap" not in html.lower() and "font-awesome" not in html.lower()
    assert "sourceMappingURL" not in html


def test_configured_tiles_are_the_only_url(layers):
    html = render_html(analyst_map(layers["hotspots"], tiles=TILES))
    assert TILES in html
    assert find_urls(html, [TILES]) == []
    assert "https://" not in html.replace(TILES, "")


def test_offline_refuses_leftover_external_assets():
    m = folium.Map(tiles=None)
    m.get_root().header.add_child(JavascriptLink("https://cdn.example.org/x.js"))
    with pytest.raises(InvalidInputError, match="cdn.example.org"):
        offline_html(m)


def test_offline_does_not_touch_folium_class_defaults():
    before = list(folium.Map.default_js)
    offline_html(folium.Map(tiles=None))
    assert folium.Map.default_js == before and any("leaflet" in n for n, _ in before)


# ---------------------------------------------------------------- analyst map content
def test_legend_layer_control_scale_and_banner(analyst_html):
    assert 'id="hs-legend"' in analyst_html and "Legend" in analyst_html
    assert "L.control.layers(" in analyst_html
    assert "L.control.scale(" in analyst_html
    assert 'id="hs-synthetic"' in analyst_html and "SYNTHETIC DATA" in analyst_html
    assert "fitBounds" in analyst_html
    for name in ("Study area", "Emerging hot and cold spots", "Gi* hot/cold spots", "Scan clusters",
                 "ST-DBSCAN clusters", "Convergence sites", "Places: train station", "Week 2025-W07"):
        assert name in analyst_html, name
    for colour in (CATEGORY_COLOURS["intensifying_hot"], CATEGORY_COLOURS["intensifying_cold"]):
        assert colour in analyst_html


def test_no_banner_unless_synthetic(layers):
    html = render_html(analyst_map(layers["hotspots"]))
    assert 'id="hs-synthetic"' not in html and "NOT REAL YOUNG PEOPLE" not in html


def test_category_layer_has_one_hexagon_per_patterned_cell(layers, analyst_html):
    hs = layers["hotspots"]
    feats = _features(analyst_html, "emerging")
    assert len(feats) == int((hs["category"] != "no_pattern").sum())
    assert {f["properties"]["category"] for f in feats} == set(CATEGORIES) - {"no_pattern"}
    for f in feats:
        ring = f["geometry"]["coordinates"][0]
        assert f["geometry"]["type"] == "Polygon" and len(ring) == 7 and ring[0] == ring[-1]
        assert all(len(str(v).split(".")[-1]) <= 5 for pt in ring for v in pt)  # ≤ 5 dp
    study = _features(analyst_html, "study")
    assert len(study) == 1  # no_pattern cells stay on the dissolved study-area outline


def test_each_cell_ring_is_written_once(layers, analyst_html):
    # emerging, Gi*, convergence and week layers share one ring per cell
    rings = _ring_table(analyst_html)
    used = {f["ring"] for layer in ("emerging", "gistar", "convergence", "week") for f in _features(analyst_html, layer)}
    assert len(rings) == len(used) <= len(layers["hotspots"])
    assert len({json.dumps(r) for r in rings}) == len(rings)


def test_show_no_pattern_draws_every_cell(layers):
    html = render_html(analyst_map(layers["hotspots"], show_no_pattern=True))
    assert len(_features(html, "emerging")) == len(layers["hotspots"])


def test_tooltips_carry_reasons_counts_and_category(layers, analyst_html):
    hs = layers["hotspots"]
    for reason in hs.loc[hs["category"] != "no_pattern", "reason"]:
        assert reason in analyst_html
    assert {f["properties"]["reason"] for f in _features(analyst_html, "emerging")} == set(
        hs.loc[hs["category"] != "no_pattern", "reason"])
    assert re.search(r'fields = \["label", "count", "z", "p_fdr", "reason", "places"\]', analyst_html)
    assert "Intensifying hot spot" in analyst_html


def test_style_is_shared_not_per_cell(analyst_html):
    # one styler per layer keyed on the category: each style object appears once in the switch
    colour = CATEGORY_COLOURS["new_hot"]
    assert analyst_html.count(f'"fillColor": "{colour}"') <= 3


def test_small_counts_suppressed_in_tooltips(analyst_html):
    conv = _features(analyst_html, "convergence")
    assert [f["properties"]["n_young_people"] for f in conv] == ["&lt;5", "6"]
    assert [f["properties"]["n_placements"] for f in conv] == ["&lt;5", "5"]
    st = _features(analyst_html, "st")
    assert st[0]["properties"]["n_young_people"] == "&lt;5"


def test_text_from_data_is_escaped(layers):
    hs = layers["hotspots"].copy()
    hs.loc[0, "places"] = '<img src=x onerror=alert(1)>'
    html = render_html(analyst_map(hs))
    assert "<img src=x" not in html
    assert _features(html, "emerging")[0]["properties"]["places"].startswith("&lt;img")


def test_analyst_map_rejects_bad_input(layers):
    with pytest.raises(InvalidInputError, match="unknown category"):
        analyst_map(layers["hotspots"].assign(category="scorching_hot"))
    with pytest.raises(InvalidInputError, match="category"):
        analyst_map(layers["hotspots"].drop(columns="category"))
    with pytest.raises(InvalidInputError, match="one row per cell"):
        analyst_map(pd.concat([layers["hotspots"], layers["hotspots"].iloc[:1]]))


def test_hex_string_cells_accepted(layers):
    hs = layers["hotspots"].copy()
    hs["cell"] = [h3.int_to_str(int(c)) for c in hs["cell"]]
    html = render_html(analyst_map(hs))
    assert len(_features(html, "emerging")) == int((hs["category"] != "no_pattern").sum())


# ---------------------------------------------------------------- patrol map
def test_patrol_map_content(plan, patrol_html):
    feats = _features(patrol_html, "patrol")
    assert len(feats) == len(plan) == 10
    assert [f["properties"]["priority"] for f in feats] == plan["priority"].tolist()
    assert all(f["geometry"]["type"] == "Polygon" for f in feats)
    assert "@page { size: A4 landscape" in patrol_html
    assert 'id="hs-legend"' in patrol_html and 'id="hs-plan"' in patrol_html
    assert "L.control.layers(" in patrol_html and "L.control.scale(" in patrol_html
    assert 'id="hs-synthetic"' in patrol_html
    assert "Fri 22:00–24:00" in patrol_html
    assert "10–15 minutes" in patrol_html
    for place in plan["places"]:
        assert place in patrol_html


def test_patrol_map_has_no_people_counts_refs_or_markers(plan, patrol_html):
    page = _page_without_leaflet(patrol_html)
    for leak in ("CHILD-REF", "EP-777", "4242", "person_ref", "episode", "n_young_people", "placement_lat",
                 "-33.123456", "151.654321", "-33.12346"):
        assert leak not in patrol_html, leak
    for marker in ("L.marker(", "L.circleMarker(", "pointToLayer", "L.circle("):
        assert marker not in page, marker
    # even a plan frame carrying extra columns cannot leak them: only PATROL_FIELDS are read
    dirty = plan.assign(person_ref="CHILD-REF-0001", n_young_people=4242, count=4242)
    html = render_html(patrol_map(dirty))
    assert "CHILD-REF" not in html and "4242" not in html
    props = {k for f in _features(html, "patrol") for k in f["properties"]}
    assert props == {"layer", "rank", "priority", "kind", "cells", "places", "windows", "dose", "reason",
                     "label_dx", "label_dy", "label_edge"}


def test_patrol_map_rejects_bad_plan(plan):
    with pytest.raises(InvalidInputError, match="lacks column"):
        patrol_map(plan.drop(columns="priority"))
    with pytest.raises(InvalidInputError, match="priority"):
        patrol_map(plan.assign(priority=7))


# ---------------------------------------------------------------- size
def test_html_sizes():
    hs = _hotspots(5000, seed=1)
    hs["category"] = np.where(np.arange(5000) % 2 == 0, hs["category"], "new_hot")  # mostly patterned: worst case
    html = render_html(analyst_map(hs))
    n_feats = len(_features(html, "emerging"))
    assert n_feats > 4500
    size_mb = len(html.encode("utf-8")) / 1e6
    assert size_mb <= 10, f"analyst map for 5,000 cells is {size_mb:.2f} MB"
    plan = patrol_plan(hs.assign(expected=0.0), params=PatrolParams(n_cells=10))
    psize = len(render_html(patrol_map(plan)).encode("utf-8")) / 1e6
    assert psize <= 2, f"patrol map is {psize:.2f} MB"
    print(f"\nanalyst map 5,000 cells: {size_mb:.2f} MB ({n_feats} hexagons); patrol map: {psize:.3f} MB")
