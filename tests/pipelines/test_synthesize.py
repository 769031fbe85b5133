"""SYNTHETIC city files (pipelines.synthesize): contract, determinism, planted truth, streaming."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import shape

from analytics import synth
from analytics.errors import InvalidInputError
from analytics.grid import hex_to_cells, latlng_to_cells
from pipelines.synthesize import write_synthetic_city

FILES = ("episodes", "location_reports", "disruptions", "places", "boundary", "placements", "ground_truth")
ENUMS = {
    "episodes": {"placement_type": synth.PLACEMENT_TYPES, "risk_level": synth.RISK_LEVELS},
    "location_reports": {"source": synth.SOURCES, "kind": synth.REPORT_KINDS},
    "disruptions": {"kind": synth.DISRUPTION_KINDS},
}
ID_COLUMNS = {"episodes": ("episode_id", "person_ref", "placement_ref"),
              "location_reports": ("report_id", "episode_id", "person_ref"),
              "disruptions": ("activity_id", "place_id"), "placements": ("placement_ref",)}
PRIMARY = {"episodes": "episode_id", "location_reports": "report_id", "disruptions": "activity_id"}
TIME_COLUMNS = {"episodes": ("missing_from", "returned_at", "reported_at"),
                "location_reports": ("observed_at",), "disruptions": ("start", "end")}


def _read(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])


def _bytes(paths: dict[str, Path]) -> dict[str, bytes]:
    return {k: p.read_bytes() for k, p in paths.items()}


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> tuple[dict[str, Path], dict]:
    paths = write_synthetic_city(tmp_path_factory.mktemp("small"), seed=7)
    return paths, json.loads(paths["ground_truth"].read_text())


@pytest.fixture(scope="module")
def frames(small) -> dict[str, pd.DataFrame]:
    paths, _ = small
    return {k: _read(paths[k]) for k in ("episodes", "location_reports", "disruptions", "placements")}


def _bad_ids(truth: dict, kind: str) -> set[str]:
    return {r["id"] for r in truth["planted_bad_row_ids"][kind]}


def _valid(frames, truth, kind: str) -> pd.DataFrame:
    df = frames[kind]
    return df[~df[PRIMARY[kind]].isin(_bad_ids(truth, kind))]


# ---------------------------------------------------------------- api
def test_returns_every_file(small):
    paths, _ = small
    assert set(paths) == set(FILES)
    assert {p.name for p in paths.values()} == {"episodes.csv", "location_reports.csv", "disruptions.csv",
                                                "places.geojson", "boundary.geojson", "placements.csv",
                                                "ground_truth.json"}
    assert all(p.exists() for p in paths.values())


def test_small_csvs_stay_small(small):
    paths, _ = small
    total = sum(paths[k].stat().st_size for k in ("episodes", "location_reports", "disruptions", "placements"))
    assert total < 5_000_000


@pytest.mark.parametrize("kwargs, message", [({"fmt": "xlsx"}, "Unknown format 'xlsx'"),
                                             ({"scale": "enormous"}, "Unknown scale 'enormous'"),
                                             ({"scale": 100}, "between 5,000 and 50,000,000"),
                                             ({"chunk_weeks": 0}, "chunk_weeks must be a positive integer")])
def test_bad_arguments_raise_invalid_input(tmp_path, kwargs, message):
    with pytest.raises(InvalidInputError, match=message):
        write_synthetic_city(tmp_path, **kwargs)
    assert not any(tmp_path.iterdir())


# ---------------------------------------------------------------- determinism
def test_same_seed_same_bytes_csv(small, tmp_path):
    paths, _ = small
    again = write_synthetic_city(tmp_path, seed=7)
    assert _bytes(again) == _bytes(paths)


def test_same_seed_same_bytes_parquet_and_same_content_as_csv(tmp_path):
    a = write_synthetic_city(tmp_path / "a", seed=11, scale=6_000, fmt="parquet")
    b = write_synthetic_city(tmp_path / "b", seed=11, scale=6_000, fmt="parquet")
    assert _bytes(a) == _bytes(b)
    assert a["location_reports"].name == "location_reports.parquet"
    c = write_synthetic_city(tmp_path / "c", seed=11, scale=6_000, fmt="csv")
    for kind in ("episodes", "location_reports", "disruptions"):
        pq_df, csv_df = pd.read_parquet(a[kind]), pd.read_csv(c[kind])
        assert list(pq_df.columns) == list(csv_df.columns)
        for col in pq_df.columns:
            left, right = pq_df[col], csv_df[col]
            if left.dtype == bool or str(left.dtype) == "boolean":
                right = right.map({True: True, False: False, "true": True, "false": False})
            assert left.astype(str).where(left.notna(), "").tolist() == \
                right.astype(left.dtype).astype(str).where(right.notna(), "").tolist(), (kind, col)


def test_different_seed_differs(small, tmp_path):
    paths, _ = small
    other = write_synthetic_city(tmp_path, seed=8)
    for kind in ("episodes", "location_reports", "disruptions", "places", "placements", "ground_truth"):
        assert other[kind].read_bytes() != paths[kind].read_bytes(), kind
    assert other["boundary"].read_bytes() == paths["boundary"].read_bytes()  # the study area is fixed


# ---------------------------------------------------------------- contract
@pytest.mark.parametrize("kind", ["episodes", "location_reports", "disruptions", "placements"])
def test_exact_columns(frames, kind):
    assert tuple(frames[kind].columns) == synth.COLUMNS[kind]


@pytest.mark.parametrize("kind", ["episodes", "location_reports", "disruptions"])
def test_enums_valid_except_planted_bad_rows(frames, small, kind):
    _, truth = small
    valid = _valid(frames, truth, kind)
    for col, allowed in ENUMS[kind].items():
        assert set(valid[col].dropna()) <= set(allowed), col
        bad = frames[kind][~frames[kind][col].isin(allowed) & frames[kind][col].notna()]
        assert set(bad[PRIMARY[kind]]) <= _bad_ids(truth, kind)


def test_boolean_and_age_columns(frames, small):
    _, truth = small
    ep = _valid(frames, truth, "episodes")
    for col in ("cse_concern", "rhi_completed", "disability", "first_nations", "cald", "lgbtqia"):
        assert set(ep[col]) == {"true", "false"}, col
    age = ep["age_years"].astype(int)
    assert age.between(0, 17).all() and age.between(12, 17).mean() > 0.8
    assert set(ep["placement_type"]) == set(synth.PLACEMENT_TYPES)


@pytest.mark.parametrize("kind", ["episodes", "location_reports", "disruptions", "placements"])
def test_every_id_is_synthetic(frames, kind):
    for col in ID_COLUMNS[kind]:
        values = frames[kind][col].dropna()
        assert len(values) and values.str.startswith("SYN-").all(), col
    assert frames[kind][ID_COLUMNS[kind][0]].str.match(r"^SYN-[A-Z]+\d+$").all()


def test_geojson_is_marked_synthetic_with_generic_place_names(small):
    paths, truth = small
    places = json.loads(paths["places"].read_text())
    boundary = json.loads(paths["boundary"].read_text())
    for fc in (places, boundary):
        assert fc["type"] == "FeatureCollection" and fc["synthetic"] is True and "SYNTHETIC" in fc["name"]
    assert truth["synthetic"] is True
    assert len(boundary["features"]) == 1 and boundary["features"][0]["geometry"]["type"] == "Polygon"
    names = re.compile(r"^(Shopping centre|Station|Bus interchange|Fast food|Park|Hotel|Licensed premises|"
                       r"Other place) \d{2}$")
    for feat in places["features"]:
        props = feat["properties"]
        assert feat["geometry"]["type"] == "Point"
        assert props["place_id"].startswith("SYN-PL") and names.match(props["name"])
        assert props["category"] in synth.PLACE_CATEGORIES


def test_boundary_has_the_coast_on_the_east(small):
    paths, _ = small
    poly = shape(json.loads(paths["boundary"].read_text())["features"][0]["geometry"])
    assert poly.is_valid and 3_000 < poly.area * 110 * 92 < 6_000  # km², roughly Greater Sydney
    assert not poly.contains(shapely.Point(151.35, -33.87))  # Tasman Sea, east of the CBD
    assert poly.contains(shapely.Point(151.0, -33.82))


def test_valid_timestamps_parse_with_sydney_offsets_inside_the_weeks(frames, small):
    _, truth = small
    tz = ZoneInfo("Australia/Sydney")
    lo = datetime(2024, 7, 1, tzinfo=tz)
    hi = lo + timedelta(weeks=104)
    for kind, cols in TIME_COLUMNS.items():
        valid = _valid(frames, truth, kind)
        for col in cols:
            values = valid[col].dropna()
            assert values.str.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:00[+-]\d\d:\d\d$").all(), (kind, col)
            for text in values.iloc[:: max(1, len(values) // 500)]:
                stamp = datetime.fromisoformat(text)
                assert lo <= stamp < hi
                assert stamp.utcoffset() == stamp.astimezone(tz).utcoffset(), text


def test_returned_after_missing_for_valid_episodes(frames, small):
    _, truth = small
    ep = _valid(frames, truth, "episodes").dropna(subset=["returned_at"])
    missing = pd.to_datetime(ep["missing_from"], utc=True)
    returned = pd.to_datetime(ep["returned_at"], utc=True)
    assert (returned >= missing).all()
    within = (returned - missing) <= pd.Timedelta(days=2)
    assert 0.85 <= within.mean() <= 0.95


def test_valid_points_are_inside_the_study_area(frames, small):
    paths, truth = small
    poly = shape(json.loads(paths["boundary"].read_text())["features"][0]["geometry"])
    checks = {"location_reports": [("lat", "lon")], "episodes": [("last_seen_lat", "last_seen_lon"),
                                                                 ("found_lat", "found_lon")],
              "disruptions": [("lat", "lon")], "placements": [("lat", "lon")]}
    for kind, pairs in checks.items():
        df = frames[kind] if kind == "placements" else _valid(frames, truth, kind)
        for lat, lon in pairs:
            sub = df.dropna(subset=[lat])
            assert shapely.contains_xy(poly, sub[lon].astype(float), sub[lat].astype(float)).all(), (kind, lat)


def test_coordinates_have_at_most_six_decimals(frames):
    lat = frames["location_reports"]["lat"].dropna()
    assert (lat.str.split(".").str[1].str.len().fillna(0) <= 6).all()


# ---------------------------------------------------------------- planted bad and duplicate rows
@pytest.mark.parametrize("kind", ["episodes", "location_reports", "disruptions"])
def test_bad_row_counts_match_ground_truth(frames, small, kind):
    _, truth = small
    records = truth["planted_bad_row_ids"][kind]
    counts = pd.Series([r["reason"] for r in records]).value_counts().to_dict()
    assert counts == truth["planted_bad_rows"][kind]
    assert all(2 <= n <= 5 for n in counts.values())
    assert set(frames[kind][PRIMARY[kind]]) >= {r["id"] for r in records}
    assert truth["counts"][f"{kind}_rows"] == len(frames[kind])


def _problems(row: pd.Series, kind: str, poly) -> set[str]:
    """Independent re-check of each planted problem (what ingest should find)."""
    found = set()
    lat_cols = [("lat", "lon")]
    if kind == "episodes":
        lat_cols = [("last_seen_lat", "last_seen_lon"), ("found_lat", "found_lon")]
    for la, lo in lat_cols:
        if pd.isna(row[la]) != pd.isna(row[lo]):
            found.add(f"missing_required:{la if pd.isna(row[la]) else lo}")
        if pd.isna(row[la]) or pd.isna(row[lo]):
            continue
        lat, lon = float(row[la]), float(row[lo])
        if lat == 0 and lon == 0:
            found.add("null_island")
        elif not -90 <= lat <= 90:
            found.add("lat_out_of_range")
        elif not shapely.contains_xy(poly, lon, lat):
            found.add("outside_study_area")
    for col in TIME_COLUMNS[kind]:
        if pd.notna(row[col]):
            try:
                datetime.fromisoformat(row[col])
            except ValueError:
                found.add("bad_timestamp")
    for col, allowed in ENUMS[kind].items():
        if pd.notna(row[col]) and row[col] not in allowed:
            found.add(f"unknown_enum:{col}")
    if kind == "episodes":
        if pd.isna(row["person_ref"]):
            found.add("missing_required:person_ref")
        if int(row["age_years"]) > 17:
            found.add("age_out_of_range")
        if pd.notna(row["returned_at"]) and "bad_timestamp" not in found and \
                datetime.fromisoformat(row["returned_at"]) < datetime.fromisoformat(row["missing_from"]):
            found.add("returned_before_missing")
    return found


@pytest.mark.parametrize("kind", ["episodes", "location_reports", "disruptions"])
def test_each_bad_row_has_exactly_its_one_problem_and_good_rows_none(frames, small, kind):
    paths, truth = small
    poly = shape(json.loads(paths["boundary"].read_text())["features"][0]["geometry"])
    df = frames[kind].set_index(PRIMARY[kind])
    for rec in truth["planted_bad_row_ids"][kind]:
        assert _problems(df.loc[rec["id"]].iloc[0] if isinstance(df.loc[rec["id"]], pd.DataFrame)
                         else df.loc[rec["id"]], kind, poly) == {rec["reason"]}, rec
    good = _valid(frames, truth, kind).sample(300, random_state=0)
    for _, row in good.iterrows():
        assert _problems(row, kind, poly) == set()


def test_planted_duplicates_are_exact_repeats(frames, small):
    _, truth = small
    reports = frames["location_reports"]
    dups = reports[reports.duplicated(keep="first")]
    assert len(dups) == truth["planted_duplicate_rows"]["location_reports"] == synth.DUPLICATE_REPORTS
    assert sorted(dups["report_id"]) == truth["planted_duplicate_ids"]["location_reports"]
    assert reports["report_id"].duplicated().sum() == len(dups)  # ids repeat only for exact repeats


def test_integer_scale_gives_that_many_valid_reports(tmp_path):
    paths = write_synthetic_city(tmp_path, seed=2, scale=6_000)
    truth = json.loads(paths["ground_truth"].read_text())
    n = sum(pd.read_csv(paths["location_reports"], usecols=["report_id"]).shape[:1])
    n_bad = sum(truth["planted_bad_rows"]["location_reports"].values())
    assert n == 6_000 + n_bad + truth["planted_duplicate_rows"]["location_reports"]
    assert truth["counts"]["location_reports_valid"] == 6_000


# ---------------------------------------------------------------- planted truth, recounted from the files
def _report_cells(frames, truth) -> pd.DataFrame:
    rep = _valid(frames, truth, "location_reports").drop_duplicates()
    cells = latlng_to_cells(rep["lat"].astype(float).to_numpy(), rep["lon"].astype(float).to_numpy(), 9)
    out = pd.DataFrame({"cell": cells,
                        "week": _week_index(rep["observed_at"]), "person_ref": rep["person_ref"].to_numpy()})
    return out


def _week_index(text: pd.Series) -> np.ndarray:
    local = pd.to_datetime(text.str.slice(0, 19))
    return ((local - pd.Timestamp("2024-07-01")).dt.days // 7).to_numpy()


def test_ground_truth_shape(small):
    _, truth = small
    assert truth["weeks"] == ["2024-W27", "2026-W26"] and truth["resolution"] == 9
    assert truth["timezone"] == "Australia/Sydney" and truth["seed"] == 7
    kinds = [s["kind"] for s in truth["sites"]]
    assert kinds.count("persistent") >= 2 and kinds.count("emerging") >= 2
    assert kinds.count("diminishing") >= 1 and kinds.count("convergence") >= 1
    for s in truth["sites"]:
        assert s["place_id"].startswith("SYN-PL") and len(hex_to_cells(s["cells"])) >= 1
        if s["kind"] == "emerging":
            assert s["onset_week"] >= "2025-W27"  # second half of the period
    iv = truth["interventions"][0]
    assert iv["effect"] == -0.3 and iv["buffer_effect"] > 0 and len(iv["cells"]) == 7
    assert not set(iv["cells"]) & set(iv["buffer_cells"])
    assert len(truth["background_hot"]) >= 5


def test_observed_counts_in_ground_truth_match_the_file(frames, small):
    _, truth = small
    rc = _report_cells(frames, truth)
    for s in truth["sites"]:
        hit = rc[np.isin(rc["cell"], hex_to_cells(s["cells"]))]
        weekly = np.bincount(hit["week"], minlength=104)
        assert weekly.tolist() == s["observed_reports_weekly"], s["id"]


def test_emerging_sites_from_the_files(frames, small):
    _, truth = small
    rc = _report_cells(frames, truth)
    for s in (s for s in truth["sites"] if s["kind"] == "emerging"):
        onset = [synth.week_label(w) for w in range(104)].index(s["onset_week"])
        weekly = np.bincount(rc.loc[np.isin(rc["cell"], hex_to_cells(s["cells"])), "week"], minlength=104)
        assert weekly[onset:].mean() > 2 * max(weekly[:onset].mean(), 0.1)


def test_convergence_site_from_the_files(frames, small):
    """>= 3 young people from >= 2 placements found or seen in the cells within 8 weeks."""
    _, truth = small
    site = next(s for s in truth["sites"] if s["kind"] == "convergence")
    cells = hex_to_cells(site["cells"] + site["halo_cells"])
    ep = _valid(frames, truth, "episodes")
    placement = dict(zip(ep["person_ref"], ep["placement_ref"]))
    found = ep.dropna(subset=["found_lat"])
    fcell = latlng_to_cells(found["found_lat"].astype(float).to_numpy(), found["found_lon"].astype(float).to_numpy(), 9)
    found = found[np.isin(fcell, cells)]
    rc = _report_cells(frames, truth)
    seen = rc[np.isin(rc["cell"], cells) & rc["person_ref"].notna()]
    events = pd.concat([pd.DataFrame({"week": _week_index(found["returned_at"]), "person": found["person_ref"]}),
                        pd.DataFrame({"week": seen["week"], "person": seen["person_ref"]})])
    hits = 0
    for start in range(0, 104 - 7):
        win = events[(events["week"] >= start) & (events["week"] < start + 8)]
        people = set(win["person"])
        if len(people) >= 3 and len({placement[p] for p in people}) >= 2:
            hits += 1
    assert hits >= 10  # repeatedly, not once
    assert set(site["person_refs"]) <= set(events["person"])


def test_intervention_visible_in_the_files(frames, small):
    _, truth = small
    iv = truth["interventions"][0]
    labels = [synth.week_label(w) for w in range(104)]
    a, b = labels.index(iv["start_week"]), labels.index(iv["end_week"])
    rc = _report_cells(frames, truth)
    treated = np.bincount(rc.loc[np.isin(rc["cell"], hex_to_cells(iv["cells"])), "week"], minlength=104)
    assert treated[a:b + 1].mean() < 0.85 * treated[:a].mean()
    assert treated[b + 1:].mean() > treated[a:b + 1].mean()  # back up afterwards
    patrols = _valid({"disruptions": pd.read_csv(small[0]["disruptions"], dtype=str)}, truth, "disruptions")
    ids = set(iv["patrols"]["activity_ids"])
    assert len(ids) == iv["patrols"]["count"] == 7 * (b - a + 1)
    assert set(patrols.loc[patrols["activity_id"].isin(ids), "kind"]) == {"presence_patrol"}


def test_placements_file_lists_every_placement_used(frames):
    used = set(frames["episodes"]["placement_ref"].dropna())
    assert used <= set(frames["placements"]["placement_ref"])


# ---------------------------------------------------------------- streaming
def test_reports_stream_in_chunks_with_progress_and_same_bytes(tmp_path):
    calls: list[tuple[int, int]] = []
    chunked = write_synthetic_city(tmp_path / "chunked", seed=4, weeks=40, scale=5_000, fmt="csv",
                                   chunk_weeks=3, episode_rows_per_chunk=2_000,
                                   progress=lambda done, total: calls.append((done, total)))
    whole = write_synthetic_city(tmp_path / "whole", seed=4, weeks=40, scale=5_000, fmt="csv")
    assert _bytes(chunked) == _bytes(whole)
    total = calls[0][1]
    assert [c[0] for c in calls] == list(range(1, total + 1)) and {c[1] for c in calls} == {total}
    assert total >= 14 + 1  # 14 report chunks of 3 weeks + at least one episode chunk + the rest


def test_parquet_writes_one_row_group_per_chunk(tmp_path):
    import pyarrow.parquet as pq

    paths = write_synthetic_city(tmp_path, seed=4, weeks=40, scale=5_000, fmt="parquet", chunk_weeks=5)
    meta = pq.ParquetFile(paths["location_reports"]).metadata
    assert meta.num_row_groups == 8
    assert max(meta.row_group(i).num_rows for i in range(8)) < 5_000 // 40 * 5 * 1.5
