"""Area layers: ``hotspots ingest areas`` (GeoJSON, GeoPackage, zipped shapefile, projected CRS, guessed
columns, bad files, replacing a layer), events counted by their own point, and ``--units areas``."""

from __future__ import annotations

import json
import zipfile
from datetime import date
from pathlib import Path

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import pytest
from markupsafe import escape
from shapely.geometry import Point, Polygon, box

from analytics import grid
from analytics.errors import InvalidInputError, RefusedFileError
from pipelines import cube as cube_mod
from pipelines import store as store_mod
from pipelines.area_hotspots import area_counts
from pipelines.areas import AREA_COLUMNS, area_layers, load_areas
from pipelines.column_mapping import from_options
from pipelines.ingest import ingest_file
from pipelines.layout import file_path
from tests.conftest import REPORT_HEADER, TEST_KEY, report, write_csv
from tests.pipelines.test_cli import run
from tests.pipelines.tiny_store import daily, tiny_store

#: Four beats over the tiny store's Sydney CBD square (tests.pipelines.tiny_store.SQUARE), 2 x 2.
X0, X1, XM = 151.19, 151.22, 151.205
Y0, Y1, YM = -33.89, -33.86, -33.875
BEATS = gpd.GeoDataFrame(
    {"BEAT_NO": [11, 12, 21, 22], "Beat Name": ["Harbour", "Market", "Park", "Station"],
     "NOTES": ["x", "y", "z", "w"]},
    geometry=[box(X0, YM, XM, Y1), box(XM, YM, X1, Y1), box(X0, Y0, XM, YM), box(XM, Y0, X1, YM)], crs=4326)


def _areas(store, path: Path, layer_name: str | None, **options):
    layer = options.pop("layer", None)
    return ingest_file(store, "areas", path, TEST_KEY, mapping=from_options(None, None, None, layer),
                       area_options={"layer_name": layer_name, **options})


def _zip_shapefile(frame: gpd.GeoDataFrame, folder: Path, name: str) -> Path:
    shp = folder / "shp"
    shp.mkdir()
    frame.to_file(shp / f"{name}.shp")
    path = folder / f"{name}.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for part in sorted(shp.iterdir()):
            archive.write(part, part.name)
    return path


def _geojson(path: Path, features: list[dict]) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def _feature(geometry, **props) -> dict:
    return {"type": "Feature", "properties": props,
            "geometry": None if geometry is None else geometry.__geo_interface__}


# ------------------------------------------------------------------------------------------ ingest
def test_geojson_layer_with_guessed_columns_reported(store, tmp_path):
    path = tmp_path / "beats_2024_export.geojson"
    BEATS.to_file(path, driver="GeoJSON")
    result = _areas(store, path, "beats")
    assert (result.kind, result.read, result.accepted, result.rejected) == ("areas", 4, 4, 0)
    hint = " ".join(result.hints)
    assert "ids from column beat_no (guessed" in hint and "names from column beat_name (guessed" in hint
    areas = load_areas(store.con)
    assert list(areas.columns) == AREA_COLUMNS and areas.crs.to_epsg() == 4326
    assert areas["area_name"].tolist() == ["Harbour", "Market", "Park", "Station"]
    assert areas["area_id"].tolist() == ["11", "12", "21", "22"] and set(areas["layer"]) == {"beats"}
    assert area_layers(store.con) == ["beats"]  # the user's name, never the file's
    stored = {r[0] for r in store.con.execute("select column_name from information_schema.columns "
                                              "where table_name = 'areas'").fetchall()}
    assert "notes" not in stored  # other columns are never stored


def test_geopackage_layer_chosen_with_layer_and_projected_crs(store, tmp_path):
    path = tmp_path / "council.gpkg"
    BEATS.to_crs(3857).to_file(path, layer="beats", driver="GPKG")
    wards = gpd.GeoDataFrame({"ward": ["North", "South"]}, geometry=[box(X0, YM, X1, Y1), box(X0, Y0, X1, YM)],
                             crs=4326)
    wards.to_crs(3857).to_file(path, layer="wards", driver="GPKG")
    with pytest.raises(RefusedFileError, match="has 2 layers; choose one with --layer"):
        _areas(store, path, "wards")
    result = _areas(store, path, "wards", layer="wards", name_column="ward")
    assert result.accepted == 2
    areas = load_areas(store.con, "wards")
    assert areas["area_name"].tolist() == ["North", "South"]
    assert areas.geometry.iloc[0].equals_exact(box(X0, YM, X1, Y1), tolerance=1e-7)  # back in degrees


def test_zipped_shapefile_in_a_projected_crs_with_named_columns(store, tmp_path):
    path = _zip_shapefile(BEATS.to_crs(28356), tmp_path, "police_beats")  # GDA94 / MGA zone 56, metres
    result = _areas(store, path, "police beats", name_column="Beat Name", id_column="BEAT_NO")
    assert result.accepted == 4 and not any("guessed" in h for h in result.hints)
    areas = load_areas(store.con, "police beats")
    for got, want in zip(areas.geometry, BEATS.geometry):
        assert got.normalize().equals_exact(want.normalize(), tolerance=1e-7)


def test_several_layers_and_replacing_one_says_so(store, tmp_path):
    beats = tmp_path / "a.geojson"
    BEATS.to_file(beats, driver="GeoJSON")
    halves = _geojson(tmp_path / "b.geojson", [_feature(box(X0, Y0, XM, Y1), district="District 1"),
                                               _feature(box(XM, Y0, X1, Y1), district="District 2")])
    _areas(store, beats, "beats")
    _areas(store, halves, "districts")
    assert area_layers(store.con) == ["beats", "districts"]
    smaller = _geojson(tmp_path / "c.geojson", [_feature(box(X0, Y0, X1, Y1), name="Whole")])
    replaced = _areas(store, smaller, "beats")
    assert (replaced.updated, replaced.accepted) == (1, 0)
    assert replaced.warnings == ["Replaced area layer 'beats' (4 area(s) from batch B000001) with these 1 area(s)."]
    assert load_areas(store.con, "beats")["area_name"].tolist() == ["Whole"]
    assert area_layers(store.con) == ["beats", "districts"]  # the layer keeps its place
    again = _areas(store, smaller, "beats")
    assert (again.duplicate, again.updated, again.warnings) == (1, 0, [])
    with pytest.raises(InvalidInputError, match="No area layer 'wards'; the stored layers are: beats, districts"):
        load_areas(store.con, "wards")


def test_ids_fall_back_to_row_order_and_names_to_ids(store, tmp_path):
    path = _geojson(tmp_path / "x.geojson", [_feature(box(0, 0, 1, 1), colour="red"),
                                             _feature(box(1, 0, 2, 1), colour="blue")])
    result = _areas(store, path, "zones")
    hint = " ".join(result.hints)
    assert "ids are the feature numbers" in hint and "names are the ids" in hint
    areas = load_areas(store.con)
    assert areas["area_id"].tolist() == ["1", "2"] and areas["area_name"].tolist() == ["1", "2"]


def test_null_and_non_polygon_features_are_quarantined_and_accounted(store, tmp_path):
    path = _geojson(tmp_path / "mixed.geojson", [
        _feature(box(0, 0, 1, 1), name="A"), _feature(None, name="B"), _feature(Point(3, 3), name="C"),
        _feature(box(1, 0, 2, 1), name="D")])
    result = _areas(store, path, "mixed")
    assert (result.read, result.accepted, result.rejected) == (4, 2, 2) and result.balanced()
    assert result.reasons == {"missing_required:geometry": 1, "not_a_polygon": 1}
    rows = store.con.execute("select kind, row_number, reason, detail from quarantine order by row_number").fetchall()
    assert rows == [("areas", 2, "missing_required:geometry", None), ("areas", 3, "not_a_polygon", "Point")]


BOWTIE = Polygon([(0, 0), (1, 1), (1, 0), (0, 1), (0, 0)])


@pytest.mark.parametrize("features, options, message", [
    ([_feature(box(0, 0, 1, 1), name="A"), _feature(BOWTIE, name="Bow")], {},
     r"bad\.geojson: feature 2 \(area 'Bow'\) has an invalid polygon \(Self-intersection"),
    ([_feature(Point(0, 0), name="A"), _feature(Point(1, 1), name="B")], {},
     r"bad\.geojson: no polygon among its 2 feature\(s\) \(geometry types: Point\)"),
    ([], {}, r"bad\.geojson: the file holds no features"),
    ([_feature(box(0, 0, 1, 1), name="A")], {"name_column": "NOPE"},
     r"bad\.geojson: no column 'NOPE' for --name-column; its columns are: name"),
    ([_feature(box(0, 0, 1, 1), code="7"), _feature(box(1, 0, 2, 1), code="7")], {"id_column": "code"},
     r"bad\.geojson: feature 2 repeats area id '7' of feature 1 \(column code\)"),
])
def test_bad_area_files_are_refused_whole_naming_row_and_problem(store, tmp_path, features, options, message):
    path = _geojson(tmp_path / "bad.geojson", features)
    with pytest.raises(RefusedFileError, match=message):
        _areas(store, path, "beats", **options)
    assert len(load_areas(store.con)) == 0
    assert store.con.execute("select count(*) from batches").fetchone()[0] == 0


def test_cli_ingest_areas_reports_guesses_and_refuses_in_one_line(monkeypatch, capsys, tmp_path, db_path, key_env):
    path = tmp_path / "beats.geojson"
    BEATS.to_file(path, driver="GeoJSON")
    code, out, err = run(monkeypatch, capsys, "ingest", "areas", str(path), "--db", str(db_path))
    assert code == 1 and err.strip().splitlines() == [
        "Error: ingest areas needs --layer-name NAME (e.g. beats, wards, neighbourhoods): the name the layer is "
        "stored and shown under."]
    code, out, err = run(monkeypatch, capsys, "ingest", "areas", str(path), "--layer-name", "beats", "--db",
                         str(db_path))
    assert code == 0, err
    assert "names from column beat_name (guessed" in " ".join(out.split())
    code, out, err = run(monkeypatch, capsys, "ingest", "reports", str(path), "--layer-name", "beats", "--db",
                         str(db_path))
    assert code == 1 and err.startswith("Error: --layer-name: for ingest areas only.")
    code, out, err = run(monkeypatch, capsys, "ingest", "areas", str(path), "--layer-name", "../etc", "--db",
                         str(db_path))
    assert code == 1 and "is not allowed" in err and len(err.strip().splitlines()) == 1


# ------------------------------------------------------------------------------- counting by point
def _point_whose_cell_centre_is_across(border_lon: float, lat: float, res: int) -> tuple[float, float]:
    """A point just east of ``border_lon`` (near ``lat``) whose H3 cell's centre lies west of it."""
    for dlat in range(200):
        for step in range(1, 5):
            y, x = lat + dlat * 1e-4, border_lon + step * 1e-5
            if h3.cell_to_latlng(h3.latlng_to_cell(y, x, res))[1] < border_lon:
                return y, x
    raise AssertionError("no such point found")


def test_events_are_counted_in_their_own_area_not_their_cells_centre(store, tmp_path):
    lat, lon = _point_whose_cell_centre_is_across(XM, -33.87, store.resolution)
    rows = [report(report_id="EDGE", lat=f"{lat:.7f}", lon=f"{lon:.7f}", observed_at="2025-03-04T20:00:00+11:00"),
            report(report_id="WEST", lat="-33.8700", lon="151.1950", observed_at="2025-03-04T21:00:00+11:00")]
    ingest_file(store, "reports", write_csv(tmp_path / "r.csv", REPORT_HEADER, rows), TEST_KEY)
    path = tmp_path / "beats.geojson"
    BEATS.to_file(path, driver="GeoJSON")
    _areas(store, path, "beats")
    cube_mod.prepare_events(store)
    areas = load_areas(store.con)
    counts, read, outside = area_counts(store.con, areas, [date(2025, 3, 3)], "reports")
    assert (read, outside) == (2, 0)
    assert counts[:, 0].tolist() == [1, 1, 0, 0]  # Harbour (west) has WEST, Market (east) has the edge event
    from pipelines.areas import area_names_for_cells
    cell = grid.latlng_to_cells(np.array([lat]), np.array([lon]), store.resolution)
    assert area_names_for_cells(store.con, cell) == ["Harbour"]  # the cell itself is named by its centre


# ----------------------------------------------------------------------------------- --units areas
@pytest.fixture(scope="module")
def tiny_with_beats(tmp_path_factory):
    folder = tmp_path_factory.mktemp("areas_weekly")
    db = tiny_store(folder, daily(date(2025, 1, 6), date(2025, 4, 6)), per_day=3)
    path = folder / "beats.geojson"
    BEATS.to_file(path, driver="GeoJSON")
    with store_mod.opened(db) as st:
        _areas(st, path, "beats")
    return folder, db


def test_weekly_units_areas_writes_one_row_per_area_and_names_cells_and_plan(tiny_with_beats):
    from pipelines.weekly import run_weekly
    folder, db = tiny_with_beats
    with store_mod.opened(db, read_only=True) as st:
        run = run_weekly(st, "2025-W14", folder / "out",
                         config={"hotspots": {"scan_replicates": 9, "units": "areas"}})
    assert not run.privacy_findings
    from pipelines.area_hotspots import read_area_hotspots
    area = read_area_hotspots(run.out_dir)
    assert read_area_hotspots(folder) is None  # not a run folder made with --units areas
    assert area["area_id"].tolist() == ["11", "12", "21", "22"]
    assert area["area_name"].tolist() == ["Harbour", "Market", "Park", "Station"]
    for col in ("z", "p", "p_fdr", "gi_class", "category", "reason", "mk_tau", "mk_p", "area_km2", "count"):
        assert col in area.columns
    assert area["neighbours"].tolist() == [3, 3, 3, 3] and area.crs.to_epsg() == 4326
    # reports sit at four spots; the areas' weekly totals add up to the reports of the week
    assert int(area["count"].sum()) == run.summary["areas"]["events_in_week"] == 21
    meta = json.loads(file_path(run.out_dir, "run.json").read_text())
    assert meta["outputs"]["area_hotspots_parquet"].endswith("analyst/area_hotspots.parquet")
    assert meta["parameters"]["units"] == "areas" and meta["summary"]["areas"]["layer"] == "beats"
    cells = pd.read_parquet(file_path(run.out_dir, "hotspots.parquet"))
    assert set(cells["area_name"]) <= {"Harbour", "Market", "Park", "Station", ""}
    assert (cells["area_name"] != "").any()
    plan = pd.read_csv(file_path(run.out_dir, "patrol_plan.csv"), dtype=str, keep_default_na=False)
    assert len(plan) and (plan["area_name"] != "").all()
    # the area results feed the report (hot areas under section 2) and the analyst map (category, reason, chart)
    report = file_path(run.out_dir, "report.html").read_text()
    assert 'id="area-hotspots"' in report and "Hot spots by area (beats)" in report
    section2 = report[report.index('id="top-hotspots"'):report.index('id="area-hotspots"')]
    for name in plan["area_name"].head(10):  # the top list follows the plan and names each entry's area
        assert f"<b>{escape(name)}</b>" in section2
    hot = area[area["category"].str.endswith("_hot") & (area["category"] != "historical_hot")]
    for name in hot["area_name"]:
        assert f"<td>{name}</td>" in report
    amap = file_path(run.out_dir, "analyst_map.html").read_text()
    name = amap.split("var hs_series = ", 1)[1].split(";", 1)[0]  # the page script's data variable
    data_at = amap.index(f"var {name} = ") + len(f"var {name} = ")
    series = json.JSONDecoder().raw_decode(amap[data_at:])[0]
    assert len(series["areas"]["values"]) == 4  # one weekly chart per area of the analysed layer
    assert sum(v[-1] for v in series["areas"]["values"]) == 21  # this week's column: the week's reports
    for reason in area["reason"]:
        shown = json.dumps(str(escape(reason)))[1:-1]  # escaped as HTML, then as script-safe JSON
        shown = shown.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
        assert shown in amap  # each area's reason reaches its popup


def test_units_areas_without_a_layer_refuses_before_the_run(monkeypatch, capsys, tmp_path, key_env):
    db = tiny_store(tmp_path, daily(date(2025, 1, 6), date(2025, 2, 9)))
    code, out, err = run(monkeypatch, capsys, "hotspots", "--db", str(db), "--units", "areas", "--out",
                         str(tmp_path / "o"))
    assert code == 1 and err.strip() == ("Error: --units areas needs an area layer; load one first with hotspots "
                                         "ingest areas FILE --layer-name NAME.")
    assert not (tmp_path / "o").exists()


# ------------------------------------------------------------------------------------ real: Denver
SHARED_DENVER = Path(__file__).resolve().parents[3] / "shared" / "data" / "real" / "denver"
NEIGHBOURHOODS = SHARED_DENVER / "statistical_neighborhoods.geojson"
EXCERPT = Path(__file__).resolve().parents[1] / "data" / "real_excerpt" / "denver_offenses_excerpt.csv.gz"


@pytest.mark.skipif(not NEIGHBOURHOODS.is_file(), reason=f"Denver neighbourhoods not found ({NEIGHBOURHOODS}); "
                                                          "real data lives in ../shared/data/real")
def test_denver_neighbourhoods_with_denver_incidents(monkeypatch, capsys, tmp_path, key_env):
    """Denver's 78 statistical neighbourhoods with the 300-row incident excerpt: the CLI as in the README,
    each incident in its own neighbourhood (as Denver itself attributes it), queen weights as libpysal's,
    Gi* as esda's."""
    from esda.getisord import G_Local
    from libpysal.weights import Queen

    from analytics.area_stats import queen_contiguity, star_weights
    from analytics.gistar import gi_star

    db = tmp_path / "denver.duckdb"
    assert run(monkeypatch, capsys, "init", "--db", str(db), "--tz", "America/Denver")[0] == 0
    code, out, err = run(monkeypatch, capsys, "ingest", "areas", str(NEIGHBOURHOODS), "--layer-name",
                         "neighbourhoods", "--db", str(db))
    assert code == 0, err
    assert "78 area(s); ids from column nbhd_id (guessed" in " ".join(out.split())
    code, out, err = run(monkeypatch, capsys, "ingest", "reports", str(EXCERPT), "--db", str(db), "--columns",
                         "report_id=OFFENSE_ID,observed_at=FIRST_OCCURRENCE_DATE,lat=GEO_LAT,lon=GEO_LON",
                         "--date-format", "%m/%d/%Y %I:%M:%S %p", "--set", "source=police")
    assert code == 0, err
    with store_mod.opened(db, read_only=True) as st:
        areas = load_areas(st.con, "neighbourhoods")
        cube_mod.prepare_events(st)
        first, last = st.con.execute("select min(week_start), max(week_start) from int_cell_events").fetchone()
        weeks = [first + pd.Timedelta(weeks=i) for i in range((last - first).days // 7 + 1)]
        counts, read, outside = area_counts(st.con, areas, weeks, "reports")
    assert len(areas) == 78 and read > 200 and outside < 5     # 260 rows with coordinates, 20 of them at 0,0
    # own point in polygon agrees with Denver's own NEIGHBORHOOD_ID for the incidents with coordinates
    raw = pd.read_csv(EXCERPT, usecols=["GEO_LAT", "GEO_LON", "NEIGHBORHOOD_ID"]).dropna()
    raw = raw[raw["GEO_LAT"].abs() > 1]
    from analytics.area_stats import points_to_areas
    idx = points_to_areas(raw["GEO_LON"], raw["GEO_LAT"], areas.geometry.to_numpy())
    slug = areas["area_name"].str.lower().str.replace(r"[^a-z]+", "-", regex=True).str.strip("-").to_numpy()
    agree = np.mean([i >= 0 and slug[i] == n for i, n in zip(idx, raw["NEIGHBORHOOD_ID"])])
    assert agree > 0.95
    # queen contiguity as libpysal's, and Gi* on the neighbourhood totals as esda's on those weights
    theirs = Queen.from_dataframe(areas, use_index=False, silence_warnings=True)
    ours = queen_contiguity(areas.geometry.to_numpy())
    assert (ours != (theirs.sparse > 0).astype(np.int8)).nnz == 0
    totals = counts.sum(axis=1, keepdims=True)
    z = gi_star(totals, star_weights(ours), time_step=0).z[:, 0]
    np.testing.assert_allclose(z, G_Local(totals[:, 0].astype(float), theirs, transform="B", star=True,
                                          permutations=0).Zs, rtol=0, atol=1e-10)


def test_area_names_from_a_file_stay_data_in_the_plan_csv(store, tmp_path):
    """A name that is a spreadsheet formula or markup is stored as written and cannot run in the plan CSV."""
    from pipelines.areas import name_plan_areas
    from pipelines.csv_out import write_csv as write_plan_csv
    evil = '=HYPERLINK("http://x","y")'
    path = _geojson(tmp_path / "evil.geojson", [_feature(box(X0, Y0, X1, Y1), name=evil),
                                                _feature(box(X1, Y0, X1 + 0.01, Y1), name="<script>alert(1)</script>")])
    _areas(store, path, "beats")
    areas = load_areas(store.con)
    assert areas["area_name"].tolist() == [evil, "<script>alert(1)</script>"]
    cell = grid.cells_to_hex(grid.latlng_to_cells(np.array([-33.87]), np.array([151.2]), 9))[0]
    plan = name_plan_areas(pd.DataFrame({"rank": [1], "area_name": [""], "cells": [cell]}), areas)
    write_plan_csv(plan, tmp_path / "plan.csv")
    text = (tmp_path / "plan.csv").read_text()
    assert "'=HYPERLINK" in text and ",=HYPERLINK" not in text


@pytest.mark.parametrize("columns, want_id, want_name", [
    ({"OBJECTID": [1, 2], "BEAT_NUM": ["0111", "0112"], "DISTRICT": ["1", "1"]}, "beat_num", None),
    ({"objectid": [1, 2], "ward": ["North", "South"]}, "objectid", None),
    ({"NBHD_ID": [2, 21], "NBHD_NAME": ["Auraria", "Baker"], "NOTES": ["", ""]}, "nbhd_id", "nbhd_name"),
    ({"id": [1, 1], "label": ["A", "B"], "contact_name": ["x", "y"]}, None, "label"),  # ids repeat; a person's name
    ({"valid": [1, 2], "Name": ["A", "B"]}, None, "name"),
])
def test_column_guesses(columns, want_id, want_name):
    from analytics.contracts import normalise_column_name
    from pipelines.areas import guess_id_column, guess_name_column
    frame = gpd.GeoDataFrame({normalise_column_name(k): v for k, v in columns.items()},
                             geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)], crs=4326)
    got_id = guess_id_column(frame)
    assert (got_id, guess_name_column(frame, got_id)) == (want_id, want_name)
