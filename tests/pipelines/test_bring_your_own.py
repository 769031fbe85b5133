"""Bring your own files (issue 13, item 2): column mapping, date formats, constants, .csv.gz and
point files in any CRS -- on the vendored excerpts of real public data (always) and on the
full files in ../shared/data/real (when present; skipped with the reason otherwise).

Expected values are computed from the files themselves with the standard library / pandas /
pyproj, independently of the DuckDB path under test.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import LineString, Point

from analytics.errors import InvalidInputError, RefusedFileError
from analytics.privacy import key_fingerprint
from pipelines import column_mapping
from pipelines import store as store_mod
from pipelines.column_mapping import ColumnMapping
from pipelines.ingest import ingest_file
from pipelines.weekly import load_config, validate_config
from tests.conftest import TEST_KEY, write_csv
from tests.conftest import run_cli as _run

EXCERPT = Path(__file__).resolve().parents[1] / "data" / "real_excerpt"
REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real"
needs_real = pytest.mark.skipif(not REAL.is_dir(), reason=f"real data not found at {REAL} (CI clones it beside the repo)")

DENVER_COLUMNS = "report_id=OFFENSE_ID,observed_at=FIRST_OCCURRENCE_DATE,lat=GEO_LAT,lon=GEO_LON"
DENVER_FORMAT = "%m/%d/%Y %I:%M:%S %p"
DENVER = column_mapping.from_options(DENVER_COLUMNS, DENVER_FORMAT, ["source=police"], None)


def _store(tmp_path: Path, tz: str):
    path = tmp_path / "s.duckdb"
    store_mod.init_store(path, tz=tz, key_fingerprint=key_fingerprint(TEST_KEY))
    return store_mod.open_store(path)


def _read_gz_csv(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _balanced(r) -> bool:
    return r.read == r.accepted + r.updated + r.duplicate + r.rejected


# ------------------------------------------------------------------ Denver: CSV.gz, mapping, format

def _check_denver(st, path: Path) -> None:
    rows = _read_gz_csv(path)
    result = ingest_file(st, "reports", path, TEST_KEY, mapping=DENVER)
    assert result.read == len(rows) and _balanced(result)
    no_coords = sum(1 for r in rows if not r["GEO_LAT"])
    at_zero = sum(1 for r in rows if r["GEO_LAT"] and abs(float(r["GEO_LAT"])) < 0.001
                  and abs(float(r["GEO_LON"])) < 0.001)
    assert no_coords and at_zero  # the real file has both problems
    assert result.reasons.get("missing_required:lat") == no_coords
    assert result.reasons.get("null_island") == at_zero
    # every date was read in the store's zone with the given format (checked with strptime + zoneinfo)
    denver = ZoneInfo("America/Denver")
    good = {r["OFFENSE_ID"]: datetime.strptime(r["FIRST_OCCURRENCE_DATE"], DENVER_FORMAT).replace(tzinfo=denver)
            for r in rows if r["GEO_LAT"] and abs(float(r["GEO_LAT"])) >= 0.001}
    stored = dict(st.con.execute("select report_id, observed_at from location_reports").fetchall())
    assert len(stored) == result.accepted == len(good)
    assert all(stored[k] == v for k, v in good.items())
    assert st.con.execute("select distinct source from location_reports").fetchall() == [("police",)]
    assert "incident_id" in result.ignored_columns and "geo_lat" not in result.ignored_columns


def test_denver_excerpt_mapped_as_published(tmp_path):
    st = _store(tmp_path, "America/Denver")
    try:
        _check_denver(st, EXCERPT / "denver_offenses_excerpt.csv.gz")
    finally:
        st.close()


@needs_real
def test_denver_full_file_with_its_neighbourhoods_as_boundary(tmp_path):
    st = _store(tmp_path, "America/Denver")
    try:
        hoods = REAL / "denver" / "statistical_neighborhoods.geojson"
        with pytest.raises(RefusedFileError, match="identifying columns notes.*--drop-identifying-columns"):
            ingest_file(st, "boundary", hoods, TEST_KEY)
        boundary = ingest_file(st, "boundary", hoods, TEST_KEY, drop_identifying=True)
        assert boundary.read == len(gpd.read_file(hoods)) and boundary.accepted == boundary.read
        path = REAL / "denver" / "denver_offenses.csv.gz"
        result = ingest_file(st, "reports", path, TEST_KEY, mapping=DENVER)
        assert result.read == len(_read_gz_csv(path)) and _balanced(result)
        assert {"missing_required:lat", "null_island", "outside_study_area"} <= set(result.reasons)
    finally:
        st.close()


@needs_real
def test_denver_full_file_without_boundary(tmp_path):
    st = _store(tmp_path, "America/Denver")
    try:
        _check_denver(st, REAL / "denver" / "denver_offenses.csv.gz")
    finally:
        st.close()


def test_date_format_mismatch_is_bad_timestamp_naming_value_and_format(tmp_path, store):
    path = write_csv(tmp_path / "r.csv", ["ID", "WHEN", "Y", "X"], [
        ["A", "6/15/2016 11:31:00 PM", "-33.87", "151.2"],
        ["B", "2016-06-15 23:31", "-33.87", "151.2"],      # ISO, but not the file's format: not guessed
        ["C", "", "-33.87", "151.2"],
    ])
    mapping = column_mapping.from_options("report_id=ID,observed_at=WHEN,lat=Y,lon=X", DENVER_FORMAT, None, None)
    result = ingest_file(store, "reports", path, TEST_KEY, mapping=mapping)
    assert (result.read, result.accepted) == (3, 1)
    assert result.reasons == {"bad_timestamp": 1, "missing_required:observed_at": 1}
    detail = store.con.execute("select detail from quarantine where reason = 'bad_timestamp'").fetchone()[0]
    assert "2016-06-15 23:31" in detail and DENVER_FORMAT in detail


def test_date_and_time_columns_are_joined(tmp_path, store):
    path = write_csv(tmp_path / "r.csv", ["ref", "day", "time", "lat", "lon"], [
        ["A", "15/06/2016", "23:31", "-33.87", "151.2"],
        ["B", "", "10:00", "-33.87", "151.2"],
    ])
    mapping = column_mapping.from_options("report_id=ref,observed_at=day+time", "%d/%m/%Y %H:%M", None, None)
    result = ingest_file(store, "reports", path, TEST_KEY, mapping=mapping)
    assert (result.accepted, result.reasons) == (1, {"missing_required:observed_at": 1})
    got = store.con.execute("select observed_at from location_reports").fetchone()[0]
    assert got == datetime(2016, 6, 15, 23, 31, tzinfo=ZoneInfo(store.timezone))


def test_mapped_column_missing_from_file_is_refused_listing_columns(tmp_path):
    st = _store(tmp_path, "America/Denver")
    try:
        mapping = column_mapping.from_options("report_id=OFFENSE_ID,observed_at=FIRST_OCCURRENCE_DATE,"
                                              "lat=GEO_LATT,lon=GEO_LON", DENVER_FORMAT, None, None)
        with pytest.raises(RefusedFileError) as info:
            ingest_file(st, "reports", EXCERPT / "denver_offenses_excerpt.csv.gz", TEST_KEY, mapping=mapping)
        text = str(info.value)
        assert "maps lat to 'GEO_LATT', which is not a column of the file" in text
        assert "GEO_LAT" in text.split("its columns are:")[1].split(", ")
        assert "its columns are: INCIDENT_ID, OFFENSE_ID" in text
        assert st.con.execute("select count(*) from batches").fetchone()[0] == 0
    finally:
        st.close()


def test_missing_id_is_refused_with_a_suggestion_never_invented(tmp_path):
    st = _store(tmp_path, "America/Denver")
    try:
        mapping = column_mapping.from_options("observed_at=FIRST_OCCURRENCE_DATE,lat=GEO_LAT,lon=GEO_LON",
                                              DENVER_FORMAT, None, None)
        with pytest.raises(RefusedFileError, match=r"no report_id column.*--columns report_id=COLUMN "
                                                   r"\(this file has INCIDENT_ID, OFFENSE_ID"):
            ingest_file(st, "reports", EXCERPT / "denver_offenses_excerpt.csv.gz", TEST_KEY, mapping=mapping)
    finally:
        st.close()


@pytest.mark.parametrize("columns, date_format, sets, message", [
    ("report_ref=A", None, None, "report_ref is not a column of reports"),
    ("lat=A", None, ["lat=1"], "lat is both mapped"),
    (None, None, ["report_id=1"], "cannot be one value for the whole file"),
    (None, "%Q", None, "is not a strptime format"),
    (None, "%H:%M", None, "needs a day"),
    ("lat=A+B", None, None, "only a timestamp column join"),
])
def test_bad_mapping_options_are_user_errors(tmp_path, store, columns, date_format, sets, message):
    path = write_csv(tmp_path / "r.csv", ["A", "B"], [["1", "2"]])
    mapping = column_mapping.from_options(columns, date_format, sets, None)
    with pytest.raises((InvalidInputError, RefusedFileError), match=message):
        ingest_file(store, "reports", path, TEST_KEY, mapping=mapping)


# ------------------------------------------------------------------ gzip

def test_gzip_utf8_check_reads_the_decompressed_text(tmp_path, store):
    text = "report_id,observed_at,lat,lon\nR1,2025-03-01T22:15:00+11:00,-33.87,151.2\nR2,caf\xe9,-33.87,151.2\n"
    path = tmp_path / "latin1.csv.gz"
    path.write_bytes(gzip.compress(text.encode("latin-1")))
    with pytest.raises(RefusedFileError, match=r"latin1.csv.gz: not UTF-8 text: byte 0xe9 at offset \d+ \(line 3\)"):
        ingest_file(store, "reports", path, TEST_KEY)
    bom = tmp_path / "bom.csv.gz"
    bom.write_bytes(gzip.compress(("\ufeff" + text.replace("caf\xe9", "2025-03-01 10:00")).encode("utf-8")))
    result = ingest_file(store, "reports", bom, TEST_KEY)
    assert (result.read, result.accepted) == (2, 2)
    stored_sha = store.con.execute("select file_sha256 from batches").fetchone()[0]
    assert stored_sha == hashlib.sha256(bom.read_bytes()).hexdigest()  # the file as stored, not decompressed
    extra = tmp_path / "extra.csv.gz"
    extra.write_bytes(gzip.compress(b"report_id,observed_at,lat,lon\nR1,2025-03-01 10:00,-33.87,151.2\n"
                                    b"R2,2025-03-01 10:00,-33.87,151.2,x\n"))
    with pytest.raises(RefusedFileError, match="extra.csv.gz: malformed CSV at line 3"):
        ingest_file(store, "reports", extra, TEST_KEY)
    broken = tmp_path / "broken.csv.gz"
    broken.write_bytes(gzip.compress(text.encode("utf-8"))[:-12])
    with pytest.raises(RefusedFileError, match="broken.csv.gz: cannot be read"):
        ingest_file(store, "reports", broken, TEST_KEY)


# ------------------------------------------------------------------ point files

def test_chicago_excerpt_geojson_points_become_lat_lon(tmp_path):
    st = _store(tmp_path, "America/Chicago")
    try:
        path = EXCERPT / "chicago_carjackings_excerpt.geojson"
        feats = json.loads(path.read_text(encoding="utf-8"))["features"]
        mapping = column_mapping.from_options("report_id=ID,observed_at=Date", DENVER_FORMAT, ["source=police"], None)
        result = ingest_file(st, "reports", path, TEST_KEY, mapping=mapping)
        assert (result.read, result.accepted, result.rejected) == (len(feats), len(feats), 0)
        got = {r[0]: r[1:] for r in st.con.execute("select report_id, lat, lon from location_reports").fetchall()}
        for f in feats:
            lon, lat = f["geometry"]["coordinates"]
            assert got[str(f["properties"]["ID"])] == pytest.approx((lat, lon), abs=1e-7)
    finally:
        st.close()


def test_sf_zipped_shapefile_needs_a_layer_and_is_reprojected_from_feet(tmp_path):
    st = _store(tmp_path, "America/Los_Angeles")
    path = EXCERPT / "sf2012_excerpt.zip"
    mapping = column_mapping.from_options("report_id=IncidntNum,observed_at=Date", None, ["source=police"], None)
    try:
        with pytest.raises(RefusedFileError) as info:
            ingest_file(st, "reports", path, TEST_KEY, mapping=mapping)
        assert str(info.value) == ("sf2012_excerpt.zip: has 2 layers; choose one with --layer NAME: "
                                   "sf_drugs, sf_robbery.")  # the __MACOSX/._sf_robbery.shp entry is not a layer
        with pytest.raises(RefusedFileError, match="no layer 'sf_theft'; its layers are: sf_drugs, sf_robbery"):
            ingest_file(st, "reports", path, TEST_KEY, mapping=ColumnMapping(mapping.columns, None,
                                                                             mapping.constants, "sf_theft"))
        chosen = ColumnMapping(mapping.columns, None, mapping.constants, "sf_robbery")
        result = ingest_file(st, "reports", path, TEST_KEY, mapping=chosen)
        frame = gpd.read_file(f"zip://{path}!SFCrime_excerpt/Crime Events/sf_robbery.shp")
        assert frame.crs.to_epsg() == 2227
        assert result.read == len(frame) and _balanced(result) and result.rejected == 0
        assert result.accepted + result.duplicate == len(frame)  # one incident number per offence: repeats
        # the file's own X/Y columns hold WGS84 lon/lat: the reprojected points must agree
        stored = pd.DataFrame(st.con.execute("select report_id, lat, lon from location_reports").fetchall(),
                              columns=["id", "lat", "lon"]).set_index("id")
        want = frame.assign(id=frame["IncidntNum"].astype(str)).drop_duplicates("id").set_index("id")
        assert (stored.lat - want.Y.loc[stored.index]).abs().max() < 1e-5
        assert (stored.lon - want.X.loc[stored.index]).abs().max() < 1e-5
    finally:
        st.close()


def _geojson(path: Path, geoms: list, props: list[dict], crs: str = "EPSG:4326") -> Path:
    gpd.GeoDataFrame(pd.DataFrame(props), geometry=geoms, crs=crs).to_file(path, driver="GeoJSON")
    return path


def test_null_geometry_is_missing_lat_and_a_line_refuses_the_file(tmp_path, store):
    props = [{"ref": "A", "when": "2025-03-01 10:00"}, {"ref": "B", "when": "2025-03-01 11:00"}]
    path = _geojson(tmp_path / "r.geojson", [Point(151.2, -33.87), None], props)
    result = ingest_file(store, "reports", path, TEST_KEY,
                         mapping=column_mapping.from_options("report_id=ref,observed_at=when", None, None, None))
    assert (result.read, result.accepted, result.reasons) == (2, 1, {"missing_required:lat": 1})
    line = _geojson(tmp_path / "l.geojson", [Point(151.2, -33.87), LineString([(151.2, -33.87), (151.3, -33.8)])],
                    props)
    with pytest.raises(RefusedFileError, match="feature 2 is a LineString, not a point"):
        ingest_file(store, "reports", line, TEST_KEY,
                    mapping=column_mapping.from_options("report_id=ref,observed_at=when", None, None, None))


def test_episode_points_must_say_which_location_they_are(tmp_path, store):
    props = [{"episode_id": "E1", "person_ref": "P1", "missing_from": "2025-03-01 10:00"}]
    pt = gpd.GeoSeries([Point(151.2, -33.87)], crs=4326).to_crs(3857)  # any CRS
    path = _geojson(tmp_path / "e.geojson", list(pt), props, crs="EPSG:3857")
    with pytest.raises(InvalidInputError, match="found_lat=geometry_lat,found_lon=geometry_lon"):
        ingest_file(store, "episodes", path, TEST_KEY)
    mapping = column_mapping.from_options("found_lat=geometry_lat,found_lon=geometry_lon", None, None, None)
    result = ingest_file(store, "episodes", path, TEST_KEY, mapping=mapping)
    assert result.accepted == 1
    lat, lon, seen = store.con.execute("select found_lat, found_lon, last_seen_lat from episodes").fetchone()
    assert (lat, lon, seen) == (pytest.approx(-33.87, abs=1e-6), pytest.approx(151.2, abs=1e-6), None)


@needs_real
@pytest.mark.parametrize("layer", ["sf_cartheft", "sf_drugs", "sf_robbery", "sf_vandalism"])
def test_sf_full_zip_every_point_layer(tmp_path, layer):
    st = _store(tmp_path, "America/Los_Angeles")
    try:
        mapping = ColumnMapping({"report_id": "IncidntNum", "observed_at": "Date"}, None, {"source": "police"}, layer)
        result = ingest_file(st, "reports", REAL / "sf2012" / "SFCrime_July_Dec2012.zip", TEST_KEY, mapping=mapping)
        assert result.read > 1000 and _balanced(result)
        lat_min, lat_max = st.con.execute("select min(lat), max(lat) from location_reports").fetchone()
        assert 37.6 < lat_min < lat_max < 37.9  # San Francisco, not feet
    finally:
        st.close()


@needs_real
def test_chicago_full_file(tmp_path):
    st = _store(tmp_path, "America/Chicago")
    try:
        path = REAL / "chicago" / "chicago_carjackings_2020.geojson"
        mapping = column_mapping.from_options("report_id=ID,observed_at=Date", DENVER_FORMAT, ["source=police"], None)
        result = ingest_file(st, "reports", path, TEST_KEY, mapping=mapping)
        assert result.read == len(json.loads(path.read_text(encoding="utf-8"))["features"]) and _balanced(result)
        assert result.accepted > 0.95 * result.read
    finally:
        st.close()


# ------------------------------------------------------------------ config + CLI

def test_ingest_config_section_is_validated():
    cfg = validate_config({"ingest": {"reports": {"columns": {"report_id": "OFFENSE_ID", "observed_at": ["D", "T"]},
                                                  "date_format": DENVER_FORMAT, "set": {"source": "police"}}}})
    assert cfg["ingest"]["reports"]["set"] == {"source": "police"}
    for raw, message in [
        ({"ingest": {"reprots": {}}}, "unknown key(s) reprots in [ingest]"),
        ({"ingest": {"reports": {"colums": {}}}}, "unknown key(s) colums in [ingest.reports]"),
        ({"ingest": {"reports": {"columns": {"report_ref": "X"}}}}, "report_ref is not a column of reports"),
        ({"ingest": {"reports": {"date_format": 7}}}, "date_format in [ingest.reports] must be a non-empty string"),
        ({"ingest": {"boundary": {"columns": {}}}}, "unknown key(s) columns in [ingest.boundary]"),
    ]:
        with pytest.raises(InvalidInputError) as info:
            validate_config(raw)
        assert message in str(info.value) and "\n" not in str(info.value)




def test_cli_options_and_config_file(monkeypatch, capsys, tmp_path, key_env):
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "d.duckdb"
    assert _run(monkeypatch, capsys, "init", "--db", str(db), "--tz", "America/Denver")[0] == 0
    excerpt = EXCERPT / "denver_offenses_excerpt.csv.gz"
    code, out, err = _run(monkeypatch, capsys, "ingest", "reports", str(excerpt), "--db", str(db), "--json",
                          "--columns", DENVER_COLUMNS, "--date-format", DENVER_FORMAT, "--set", "source=police")
    assert code == 0, err
    first = json.loads(out)[0]
    assert first["read"] == len(_read_gz_csv(excerpt)) == first["accepted"] + first["rejected"]
    # the same mapping from hotspots.toml (read by default from the working folder); a second file
    rows = _read_gz_csv(excerpt)[:5]
    other = tmp_path / "more.csv"
    with open(other, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        for r in rows:
            writer.writerow({**r, "OFFENSE_ID": "X" + r["OFFENSE_ID"]})
    (tmp_path / "hotspots.toml").write_text(
        '[ingest.reports]\n'
        'columns = {report_id = "OFFENSE_ID", observed_at = "FIRST_OCCURRENCE_DATE", lat = "GEO_LAT", lon = "GEO_LON"}\n'
        f'date_format = "{DENVER_FORMAT}"\nset = {{source = "police"}}\n', encoding="utf-8")
    code, out, err = _run(monkeypatch, capsys, "ingest", "reports", str(other), "--db", str(db), "--json")
    assert code == 0, err
    assert json.loads(out)[0]["accepted"] == sum(1 for r in rows if r["GEO_LAT"])
    # an option on the command line wins over the file: a missing column is named, one line
    code, out, err = _run(monkeypatch, capsys, "ingest", "reports", str(other), "--db", str(db), "--columns", "lat=NOPE")
    assert code == 1 and err.startswith("Error: more.csv: the column mapping maps lat to 'NOPE'")
    assert len(err.strip().splitlines()) == 1
    (tmp_path / "hotspots.toml").write_text('[ingest.reports]\ncolums = {}\n', encoding="utf-8")
    for command in (["ingest", "reports", str(other)], ["weekly"]):
        code, _, err = _run(monkeypatch, capsys, *command, "--db", str(db))
        assert code == 1 and "unknown key(s) colums in [ingest.reports]" in err and err.startswith("Error: ")


def test_load_config_accepts_an_ingest_section(tmp_path):
    path = tmp_path / "h.toml"
    path.write_text('k_suppression = 5\n[ingest.reports]\nset = {source = "police"}\n[ingest.boundary]\n'
                    'layer = "hoods"\n', encoding="utf-8")
    cfg = load_config(path)
    assert column_mapping.from_config(cfg["ingest"]["boundary"]).layer == "hoods"


@pytest.mark.slow  # about 1.5 min on 2 busy cores (init, boundary, 49k reports, cube)
@needs_real
def test_readme_quick_start_runs_as_printed_and_its_counts_hold(tmp_path):
    """The README's Denver quick start, run command by command on the real file, gives the
    counts the README prints."""
    import os
    import re
    import shlex
    import subprocess

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quick start on your own data", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0].replace("\\\n", " ")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTSPOTS_")}
    outputs = []
    for line in block.splitlines():
        command = line.split("#", 1)[0].strip()
        if not command or command.startswith("R="):
            continue
        args = shlex.split(command.replace("$R", str(REAL)))
        assert args[0] == ".venv/bin/hotspots", line
        done = subprocess.run([sys.executable, "-m", "pipelines", *args[1:]], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, (line, done.stderr)
        outputs.append(done.stdout)
    [report] = [json.loads(o)[0] for o in outputs if o.lstrip().startswith("[") and "denver_offenses" in o]
    claimed = re.search(r'`"read": (\d+), "accepted": (\d+), "rejected": (\d+)`\s+with\s+`(\{[^`]+\})`', section)
    assert (report["read"], report["accepted"], report["rejected"]) == tuple(int(x) for x in claimed.groups()[:3])
    assert report["reasons"] == json.loads(claimed.group(4))


def test_geopackage_layers(tmp_path, store):
    path = tmp_path / "two.gpkg"
    pts = gpd.GeoSeries([Point(151.2, -33.87), Point(151.21, -33.88)], crs=4326).to_crs(28356)  # MGA zone 56
    for name, ids in (("sightings", ["S1", "S2"]), ("other", ["O1", "O2"])):
        gpd.GeoDataFrame({"ref": ids, "when": ["2025-03-01 10:00"] * 2}, geometry=list(pts),
                         crs=28356).to_file(path, layer=name, driver="GPKG")
    columns = {"report_id": "ref", "observed_at": "when"}
    with pytest.raises(RefusedFileError, match="two.gpkg: has 2 layers; choose one with --layer NAME"):
        ingest_file(store, "reports", path, TEST_KEY, mapping=ColumnMapping(columns))
    result = ingest_file(store, "reports", path, TEST_KEY, mapping=ColumnMapping(columns, layer="sightings"))
    assert result.accepted == 2
    got = store.con.execute("select report_id, lat, lon from location_reports order by 1").fetchall()
    assert [r[0] for r in got] == ["S1", "S2"]
    assert got[0][1:] == (pytest.approx(-33.87, abs=1e-6), pytest.approx(151.2, abs=1e-6))


@needs_real
def test_sf_plots_layer_as_boundary_then_reports(tmp_path):
    st = _store(tmp_path, "America/Los_Angeles")
    try:
        path = REAL / "sf2012" / "SFCrime_July_Dec2012.zip"
        boundary = ingest_file(st, "boundary", path, TEST_KEY, mapping=ColumnMapping(layer="SFCrime_blocks"))
        assert boundary.read > 100 and boundary.accepted + boundary.rejected == boundary.read
        mapping = ColumnMapping({"report_id": "IncidntNum", "observed_at": "Date"}, None, {"source": "police"},
                                "sf_robbery")
        result = ingest_file(st, "reports", path, TEST_KEY, mapping=mapping)
        assert _balanced(result) and result.accepted > 0.9 * (result.read - result.duplicate)
    finally:
        st.close()
