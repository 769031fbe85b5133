"""Geographic context and the analyst map's interface, read from the page text (no browser).

Areas (outlines, names, one layer per area layer), place labels, offline MBTiles tiles,
the click chart's weekly series, the legend's layer sections and the search index.
The same pages are driven in Chromium by tests/browser/test_map_interaction.py.
"""

from __future__ import annotations

import gzip
import json
import re
import sqlite3
import struct
import zlib
from pathlib import Path

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, box

from analytics.errors import InvalidInputError
from analytics.patrol import PatrolParams, patrol_plan
from pipelines.render import tiles as tiles_mod
from pipelines.render.analyst_map import analyst_map
from pipelines.render.context import AREA_LABEL_ZOOM, PLACE_LABEL_ZOOM, map_notes
from pipelines.render.map_parts import render_html
from pipelines.render.patrol_map import patrol_map
from pipelines.render.pmtiles import zxy_to_tileid
from pipelines.render.tiles import check_tiles, offline_tiles
from pipelines.weekly import validate_config
from tests.analytics.test_maps import _features, _hotspots, _page_without_leaflet

WEEKS = [f"2025-W{w:02d}" for w in range(1, 31)]


def context_layers(n: int = 60) -> dict:
    """Hotspots, places, two area layers and 30 weeks of history around one Sydney cell."""
    hs = _hotspots(n)
    cells = hs["cell"].to_numpy()
    lat, lon = zip(*[h3.cell_to_latlng(h3.int_to_str(int(c))) for c in cells[:6]])
    places = gpd.GeoDataFrame(
        {"name": ["Central <Station>", "Hyde Park", "Burger & Co", "Town Hall", "Park {{ 7*7 }}", "Kiosk"],
         "category": ["train_station", "park", "fast_food"] * 2},
        geometry=[Point(x, y) for x, y in zip(lon, lat)], crs="EPSG:4326")
    la, lo = np.array(lat), np.array(lon)
    mid = float(np.median(lo))
    areas = gpd.GeoDataFrame(
        {"layer": ["beats", "beats", "wards"], "area_id": ["B1", "B2", "W1"],
         "area_name": ["Five Points", "Capitol <Hill>", "Ward One"], "reason": ["Rising for 4 weeks", "", ""]},
        geometry=[box(lo.min() - 0.01, la.min() - 0.01, mid, la.max() + 0.01),
                  box(mid, la.min() - 0.01, lo.max() + 0.01, la.max() + 0.01),
                  box(lo.min() - 0.02, la.min() - 0.02, lo.max() + 0.02, la.max() + 0.02)], crs="EPSG:4326")
    history = pd.DataFrame({"cell": np.repeat(cells, len(WEEKS)), "week": WEEKS * n,
                            "count": (np.arange(n * len(WEEKS)) * 7) % 5})
    area_history = pd.DataFrame({"area_id": ["B1"] * len(WEEKS), "week": WEEKS, "count": range(len(WEEKS))})
    return dict(hotspots=hs, places=places, areas=areas, history=history, area_history=area_history)


@pytest.fixture(scope="module")
def ctx():
    return context_layers()


@pytest.fixture(scope="module")
def page(ctx):
    return render_html(analyst_map(**ctx, synthetic=True))


def _page_data(html: str, needle: str) -> list:
    """Every ``var page_script_<id>_data = {...}`` whose JSON contains ``needle``."""
    dec = json.JSONDecoder()
    out = []
    for m in re.finditer(r"var page_script_\w+_data = ", html):
        value = dec.raw_decode(html, m.end())[0]
        if needle in json.dumps(value):
            out.append(value)
    return out


def _series(html: str) -> dict:
    """The page's weekly series (``var hs_series = page_script_<id>_data``)."""
    name = re.search(r"var hs_series = (\w+);", html).group(1)
    return json.JSONDecoder().raw_decode(html, re.search(rf"var {name} = ", html).end())[0]


# ------------------------------------------------------------------------------------ areas and places
def test_area_outlines_one_layer_per_area_layer_first_shown(ctx, page):
    feats = _features(page, "area")
    assert sorted(f["properties"]["area_name"] for f in feats) == ["Capitol &lt;Hill&gt;", "Five Points", "Ward One"]
    assert "Areas: beats" in page and "Areas: wards" in page
    # the first area layer is on, the others start off (folium writes .addTo(map) only for shown groups)
    groups = dict(re.findall(r'"(Areas: \w+)" : (feature_group_\w+)', page))
    assert len(groups) == 2
    assert f"{groups['Areas: beats']}.addTo(" in page and f"{groups['Areas: wards']}.addTo(" not in page


def test_area_and_place_names_are_labels_from_their_zoom(ctx, page):
    areas = _page_data(page, "hs-area-label")
    assert [d["min_zoom"] for d in areas] == [AREA_LABEL_ZOOM] * 2
    assert sorted(sorted(lab[2] for lab in d["labels"]) for d in areas) == [
        ["Capitol &lt;Hill&gt;", "Five Points"], ["Ward One"]]
    places = _page_data(page, "hs-place-label")
    assert len(places) == 3 and {d["min_zoom"] for d in places} == {PLACE_LABEL_ZOOM}
    names = {lab[2] for d in places for lab in d["labels"]}
    assert names == {"Central &lt;Station&gt;", "Hyde Park", "Burger &amp; Co", "Town Hall", "Park {{ 7*7 }}", "Kiosk"}
    assert {d["dir"] for d in places} == {"right"} and {d["dir"] for d in areas} == {"center"}


def test_places_layers_are_on_by_default(ctx, page):
    names = re.findall(r'"(Places: [\w ]+)" : (feature_group_\w+)', page)
    assert len(names) == 3
    assert all(f"{var}.addTo(" in page for _, var in names)


def test_areas_need_their_columns(ctx):
    with pytest.raises(InvalidInputError, match="areas lacks column"):
        analyst_map(ctx["hotspots"], areas=ctx["areas"].drop(columns="area_name"))


def test_text_from_area_names_never_runs(ctx):
    areas = ctx["areas"].assign(area_name=["</script><script>alert(1)</script>", "{{ 7*7 }}", "<img src=x onerror=alert(1)>"])
    html = render_html(analyst_map(ctx["hotspots"], areas=areas, places=ctx["places"]))
    page = _page_without_leaflet(html)
    assert "<script>alert(1)" not in page and "<img src=x" not in page
    names = {f["properties"]["area_name"] for f in _features(html, "area")}
    assert names == {"&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;", "{{ 7*7 }}",  # data, never compiled
                     "&lt;img src=x onerror=alert(1)&gt;"}


# ------------------------------------------------------------------------------------ chart, legend, search
def test_click_chart_series_match_the_history(ctx, page):
    series = _series(page)
    cells = series["cells"]
    assert cells["weeks"] == WEEKS[-26:]
    feats = _features(page, "emerging")
    assert all("s" in f["properties"] for f in feats)
    hist = ctx["history"]
    for f in feats[:5]:
        cell = h3.str_to_int(f["id"])
        want = hist[hist["cell"] == cell].set_index("week")["count"].reindex(WEEKS[-26:]).tolist()
        assert cells["values"][f["properties"]["s"]] == want
    assert series["areas"]["values"] == [list(range(4, 30))]
    assert [f["properties"].get("s") for f in _features(page, "area") if f["properties"]["area_id"] == "B1"] == [0]
    assert page.count(".bindPopup(function (layer)") >= 3  # emerging + two area layers


def test_no_series_without_history(ctx):
    html = render_html(analyst_map(ctx["hotspots"]))
    assert "var hs_series" not in html
    assert all("s" not in f["properties"] for f in _features(html, "emerging"))


def test_legend_sections_name_their_layers(page):
    sections = re.findall(r'<section class="hs-leg-sec" data-layer="(\w+)">', page)
    assert sections[:2] == ["emerging", "emerging"]
    assert {"gistar", "areas", "places", "study"} <= set(sections)


def test_search_index_holds_places_and_areas_escaped(page):
    (ui,) = _page_data(page, "search")
    names = {s[1] for s in ui["search"]}
    assert {"Five Points", "Capitol &lt;Hill&gt;", "Ward One", "Central &lt;Station&gt;", "Burger &amp; Co"} <= names
    assert all(len(s) in (4, 6) and all(isinstance(v, float) for v in s[2:]) for s in ui["search"])


# ------------------------------------------------------------------------------------ patrol sheet
@pytest.fixture(scope="module")
def sheet(ctx):
    hs = ctx["hotspots"]
    plan = patrol_plan(hs, pd.DataFrame({"cell": hs["cell"].repeat(2).to_numpy(),
                                         "hour_of_week": [4 * 24 + 22, 4 * 24 + 23] * len(hs)}),
                       params=PatrolParams(n_cells=8))
    return render_html(patrol_map(plan, places=ctx["places"], areas=ctx["areas"], synthetic=True))


def test_patrol_sheet_names_areas_and_places_without_markers(sheet):
    assert {f["properties"]["area_name"] for f in _features(sheet, "area")} >= {"Five Points", "Capitol &lt;Hill&gt;"}
    places = [lab[2] for d in _page_data(sheet, "hs-sheet-place") for lab in d["labels"]]
    assert 0 < len(places) <= 6 and "Central &lt;Station&gt;" in places
    assert "areas: beats<br>" in sheet  # the legend names the area layer drawn (the first; others start off)
    page = _page_without_leaflet(sheet)
    for marker in ("L.marker(", "L.circleMarker(", "pointToLayer", "L.circle("):
        assert marker not in page, marker


# ------------------------------------------------------------------------------------ offline tiles
def _png(rgb: tuple[int, int, int]) -> bytes:
    """A 4×4 PNG of one colour (standard library only)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + bytes(rgb) * 4 for _ in range(4))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def make_mbtiles(path: Path, lat: float, lon: float, zooms=range(10, 18), fmt: str = "png") -> Path:
    """An MBTiles file with one small tile per zoom on a 5×5 block around (lat, lon) (TMS rows)."""
    con = sqlite3.connect(path)
    con.execute("create table metadata (name text, value text)")
    con.execute("create table tiles (zoom_level integer, tile_column integer, tile_row integer, tile_data blob)")
    con.executemany("insert into metadata values (?, ?)",
                    [("name", "test"), ("format", fmt), ("attribution", "© <b>Test</b> https://tiles.example")])
    for z in zooms:
        x, y = tiles_mod._tile_xy(lat, lon, z)
        for dx in range(-2, 3):
            for dy in range(-2, 3):
                con.execute("insert into tiles values (?, ?, ?, ?)",
                            (z, x + dx, 2 ** z - 1 - (y + dy), _png((z * 20 % 255, 120, 200))))
    con.commit()
    con.close()
    return path


@pytest.fixture(scope="module")
def mbtiles(ctx, tmp_path_factory):
    lat, lon = h3.cell_to_latlng(h3.int_to_str(int(ctx["hotspots"]["cell"].iloc[0])))
    return make_mbtiles(tmp_path_factory.mktemp("tiles") / "city.mbtiles", lat, lon)


def test_mbtiles_embedded_as_data_uris_and_nothing_fetched(ctx, mbtiles):
    m = analyst_map(ctx["hotspots"], tiles=str(mbtiles))
    html = render_html(m)
    (data,) = [d for d in _page_data(html, "min_zoom") if "tiles" in d]
    assert data["tiles"] and all(v.startswith("data:image/png;base64,") for v in data["tiles"].values())
    zooms = sorted({int(k.split("/")[0]) for k in data["tiles"]})
    assert zooms == list(range(data["min_zoom"], data["max_zoom"] + 1)) and data["max_zoom"] == 17
    assert "http://" not in html and "https://" not in html  # the attribution's URL is escaped too
    assert "&lt;b&gt;Test&lt;/b&gt;" in data["attribution"]
    (note,) = map_notes(m)
    assert "city.mbtiles" in note and f"zoom {data['min_zoom']}–17" in note and "cap" in note


def test_mbtiles_cap_bounds_the_zooms(ctx, mbtiles, monkeypatch):
    lat, lon = h3.cell_to_latlng(h3.int_to_str(int(ctx["hotspots"]["cell"].iloc[0])))
    bounds = [[lat - 0.01, lon - 0.01], [lat + 0.01, lon + 0.01]]
    full = offline_tiles(mbtiles, bounds)
    small = offline_tiles(mbtiles, bounds, cap_bytes=full["bytes"] // 2)
    assert small["bytes"] <= full["bytes"] // 2 and small["max_zoom"] < full["max_zoom"]
    assert small["min_zoom"] == full["min_zoom"]
    assert offline_tiles(mbtiles, bounds, cap_bytes=10)["tiles"] == {}


def test_tile_settings_checked(tmp_path, mbtiles):
    assert check_tiles(None) is None and check_tiles(str(mbtiles)) is None
    assert "does not exist" in check_tiles(str(tmp_path / "missing.mbtiles"))
    assert "does not exist" in check_tiles(str(tmp_path / "missing.pmtiles"))
    assert "tiles must be a URL template" in check_tiles("city.geojson")
    assert validate_config({"tiles": str(mbtiles)})["tiles"] == str(mbtiles)
    with pytest.raises(InvalidInputError, match="tiles must be a URL template"):
        validate_config({"tiles": "city.geojson"})
    vector = make_mbtiles(tmp_path / "vector.mbtiles", 0.0, 0.0, zooms=[3], fmt="pbf")
    with pytest.raises(InvalidInputError, match="not a raster format"):
        offline_tiles(vector, [[-1, -1], [1, 1]])
    (tmp_path / "junk.mbtiles").write_text("not sqlite")
    with pytest.raises(InvalidInputError, match="not an MBTiles"):
        offline_tiles(tmp_path / "junk.mbtiles", [[-1, -1], [1, 1]])


def test_tiny_p_values_read_as_below_a_threshold(ctx):
    hs = ctx["hotspots"].assign(p_fdr=[0.0, 0.0004, 0.012345] + [0.5] * (len(ctx["hotspots"]) - 3))
    feats = {f["id"]: f["properties"]["p_fdr"] for f in _features(render_html(analyst_map(hs)), "emerging")}
    cells = [h3.int_to_str(int(c)) for c in hs["cell"].iloc[:3]]
    assert [feats[c] for c in cells] == ["&lt; 0.001", "&lt; 0.001", 0.0123]  # the first three are patterned


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def make_pmtiles(path: Path, tiles: dict[tuple[int, int, int], bytes], leaf: bool = False) -> Path:
    """A PMTiles v3 file as the specification lays it out (gzip directories, uncompressed png tiles).

    ``leaf``: put the entries in a leaf directory that the root points to (run length 0).
    """
    entries, data, offset = [], b"", 0
    for (z, x, y), blob in sorted(tiles.items(), key=lambda kv: zxy_to_tileid(*kv[0])):
        entries.append((zxy_to_tileid(z, x, y), offset, len(blob), 1))
        data += blob
        offset += len(blob)

    def directory(rows) -> bytes:
        out, last = [_varint(len(rows))], 0
        for tid, *_ in rows:
            out.append(_varint(tid - last))
            last = tid
        out += [_varint(r[3]) for r in rows] + [_varint(r[2]) for r in rows] + [_varint(r[1] + 1) for r in rows]
        return gzip.compress(b"".join(out))

    leaf_dir = directory(entries) if leaf else b""
    root = directory([(entries[0][0], 0, len(leaf_dir), 0)]) if leaf else directory(entries)
    meta = gzip.compress(json.dumps({"attribution": "© PM <Test>"}).encode())
    zooms = [z for z, _, _ in tiles]
    root_off = 127
    meta_off = root_off + len(root)
    leaf_off = meta_off + len(meta)
    data_off = leaf_off + len(leaf_dir)
    header = struct.pack("<7sB" + "Q" * 11 + "BBBBBBiiiiBii", b"PMTiles", 3, root_off, len(root), meta_off, len(meta),
                         leaf_off, len(leaf_dir), data_off, len(data), len(entries), len(entries), len(entries),
                         1, 2, 1, 2, min(zooms), max(zooms), -1800000000, -850000000, 1800000000, 850000000, 0, 0, 0)
    path.write_bytes(header + root + meta + leaf_dir + data)
    return path


@pytest.mark.parametrize("leaf", [False, True])
def test_pmtiles_read_as_mbtiles_are(ctx, mbtiles, tmp_path, leaf):
    """The same tiles in a PMTiles file embed exactly as from the MBTiles file (root or leaf directory)."""
    con = sqlite3.connect(mbtiles)
    rows = con.execute("select zoom_level, tile_column, tile_row, tile_data from tiles").fetchall()
    con.close()
    pm = make_pmtiles(tmp_path / "city.pmtiles", {(z, x, 2 ** z - 1 - r): d for z, x, r, d in rows}, leaf=leaf)
    lat, lon = h3.cell_to_latlng(h3.int_to_str(int(ctx["hotspots"]["cell"].iloc[0])))
    bounds = [[lat - 0.01, lon - 0.01], [lat + 0.01, lon + 0.01]]
    a, b = offline_tiles(mbtiles, bounds), offline_tiles(pm, bounds)
    assert b["tiles"] == a["tiles"] and b["tiles"] and (b["min_zoom"], b["max_zoom"]) == (a["min_zoom"], a["max_zoom"])
    assert b["attribution"] == "© PM &lt;Test&gt;"
    html = render_html(analyst_map(ctx["hotspots"], tiles=str(pm)))
    assert "http://" not in html and "https://" not in html and "data:image/png;base64," in html


def test_not_a_pmtiles_file_is_refused(tmp_path):
    (tmp_path / "junk.pmtiles").write_bytes(b"not a pmtiles archive" * 10)
    with pytest.raises(InvalidInputError, match="not a PMTiles file"):
        offline_tiles(tmp_path / "junk.pmtiles", [[-1, -1], [1, 1]])
