"""Known-value tests: one per reject reason, and the refusals of whole files."""

from __future__ import annotations

import json

import pytest
import shapely.geometry as geom

from analytics.errors import RefusedFileError
from pipelines.ingest import ingest_file
from tests.conftest import EPISODE_HEADER, REPORT_HEADER, episode, report, write_csv


def _ingest_one(store, key, tmp_path, kind, header, row):
    path = write_csv(tmp_path / f"{kind}.csv", header, [row])
    return ingest_file(store, kind, path, key)


def _quarantined(store):
    return store.con.execute("select reason, detail, row_number from quarantine").fetchall()


REPORT_CASES = [
    ({"report_id": ""}, "missing_required:report_id"),
    ({"observed_at": ""}, "missing_required:observed_at"),
    ({"lat": ""}, "missing_required:lat"),
    ({"lon": " "}, "missing_required:lon"),
    ({"observed_at": "not a time"}, "bad_timestamp"),
    ({"observed_at": "2099-01-01T00:00:00+11:00"}, "future_timestamp"),
    ({"lat": "-95.1"}, "lat_out_of_range"),
    ({"lon": "190"}, "lon_out_of_range"),
    ({"lat": "0", "lon": "0"}, "null_island"),
    ({"lat": "abc"}, "bad_number:lat"),
    ({"lat": "nan"}, "bad_number:lat"),
    ({"lon": "inf"}, "bad_number:lon"),
    ({"source": "martians"}, "unknown_enum:source"),
    ({"kind": "rumour"}, "unknown_enum:kind"),
]


@pytest.mark.parametrize("overrides, reason", REPORT_CASES, ids=[c[1] + "-" + str(i) for i, c in enumerate(REPORT_CASES)])
def test_report_reject_reason(store, key, tmp_path, overrides, reason):
    result = _ingest_one(store, key, tmp_path, "reports", REPORT_HEADER, report(**overrides))
    assert (result.read, result.accepted, result.rejected) == (1, 0, 1)
    assert result.reasons == {reason: 1}
    assert _quarantined(store)[0][0] == reason
    assert _quarantined(store)[0][2] == 1


EPISODE_CASES = [
    ({"person_ref": ""}, "missing_required:person_ref"),
    ({"episode_id": ""}, "missing_required:episode_id"),
    ({"missing_from": ""}, "missing_required:missing_from"),
    ({"missing_from": "32/13/2025"}, "bad_timestamp"),
    ({"returned_at": "2025-02-28T09:00:00+11:00"}, "returned_before_missing"),
    ({"missing_from": "2099-03-01T21:00:00+11:00", "returned_at": ""}, "future_timestamp"),
    ({"age_years": "19"}, "age_out_of_range"),
    ({"age_years": "-1"}, "age_out_of_range"),
    ({"age_years": "fourteen"}, "bad_number:age_years"),
    ({"placement_type": "hostel"}, "unknown_enum:placement_type"),
    ({"risk_level": "extreme"}, "unknown_enum:risk_level"),
    ({"cse_concern": "maybe"}, "bad_boolean:cse_concern"),
    ({"found_lon": ""}, "missing_required:found_lon"),
    ({"last_seen_lat": "91"}, "lat_out_of_range"),
    ({"found_lat": "0", "found_lon": "0"}, "null_island"),
]


@pytest.mark.parametrize("overrides, reason", EPISODE_CASES, ids=[c[1] + "-" + str(i) for i, c in enumerate(EPISODE_CASES)])
def test_episode_reject_reason(store, key, tmp_path, overrides, reason):
    result = _ingest_one(store, key, tmp_path, "episodes", EPISODE_HEADER, episode(**overrides))
    assert result.reasons == {reason: 1}
    assert result.rejected == 1 and result.accepted == 0


def test_enum_and_whitespace_are_normalised(store, key, tmp_path):
    result = _ingest_one(store, key, tmp_path, "reports", REPORT_HEADER,
                         report(source="  Police ", kind="SIGHTING"))
    assert result.accepted == 1
    assert store.con.execute("select source, kind from location_reports").fetchone() == ("police", "sighting")


def test_naive_timestamps_are_local_time_and_stored_in_utc(store, key, tmp_path):
    _ingest_one(store, key, tmp_path, "reports", REPORT_HEADER, report(observed_at="2025-07-01 10:00"))
    utc = store.con.execute(
        "select strftime(timezone('UTC', observed_at), '%Y-%m-%d %H:%M') from location_reports").fetchone()[0]
    assert utc == "2025-07-01 00:00"  # Sydney is UTC+10 in July


def test_outside_study_area(store, key, tmp_path):
    boundary = tmp_path / "boundary.geojson"
    poly = geom.box(151.15, -33.90, 151.25, -33.85)
    boundary.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "test"}, "geometry": geom.mapping(poly)}]}))
    ingest_file(store, "boundary", boundary, key)
    path = write_csv(tmp_path / "r.csv", REPORT_HEADER,
                     [report(report_id="IN"), report(report_id="OUT", lat="-33.70", lon="151.00")])
    result = ingest_file(store, "reports", path, key)
    assert (result.accepted, result.rejected) == (1, 1)
    assert result.reasons == {"outside_study_area": 1}


def test_conflicting_duplicate_ids_in_one_file_are_quarantined(store, key, tmp_path):
    path = write_csv(tmp_path / "r.csv", REPORT_HEADER,
                     [report(report_id="A", kind="sighting"), report(report_id="A", kind="found"),
                      report(report_id="B")])
    result = ingest_file(store, "reports", path, key)
    assert (result.read, result.accepted, result.rejected) == (3, 1, 2)
    assert result.reasons == {"conflicting_duplicate_id": 2}


def test_identical_rows_in_one_file_are_duplicates(store, key, tmp_path):
    path = write_csv(tmp_path / "r.csv", REPORT_HEADER, [report(), report(), report(report_id="R2")])
    result = ingest_file(store, "reports", path, key)
    assert (result.read, result.accepted, result.duplicate, result.rejected) == (3, 2, 1, 0)


DISRUPTION_HEADER = ["activity_id", "kind", "start", "end", "lat", "lon", "h3_cell", "place_id"]


@pytest.mark.parametrize("row, reason", [
    (["A1", "presence_patrol", "2025-03-01T20:00:00+11:00", "2025-03-01T19:00:00+11:00", "-33.87", "151.2", "", ""], "end_before_start"),
    (["A1", "presence_patrol", "2025-03-01T20:00:00+11:00", "", "", "", "", ""], "missing_required:location"),
    (["A1", "presence_patrol", "2025-03-01T20:00:00+11:00", "", "", "", "zzzz", ""], "bad_h3_cell"),
    (["A1", "parade", "2025-03-01T20:00:00+11:00", "", "-33.87", "151.2", "", ""], "unknown_enum:kind"),
])
def test_disruption_reject_reason(store, key, tmp_path, row, reason):
    path = write_csv(tmp_path / "d.csv", DISRUPTION_HEADER, [row])
    result = ingest_file(store, "disruptions", path, key)
    assert result.reasons == {reason: 1}


def test_disruption_with_h3_cell_is_stored_at_store_resolution(store, key, tmp_path):
    import h3
    fine = h3.latlng_to_cell(-33.87, 151.2, 11)
    path = write_csv(tmp_path / "d.csv", DISRUPTION_HEADER,
                     [["A1", "presence_patrol", "2025-03-01T20:00:00+11:00", "", "", "", fine, ""]])
    assert ingest_file(store, "disruptions", path, key).accepted == 1
    cell = store.con.execute("select cell from disruptions").fetchone()[0]
    assert h3.int_to_str(cell) == h3.cell_to_parent(fine, 9)


def test_places_from_geojson_with_unknown_category(store, key, tmp_path):
    path = tmp_path / "places.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"place_id": "P1", "name": "Station 01", "category": "train_station"},
         "geometry": {"type": "Point", "coordinates": [151.2, -33.87]}},
        {"type": "Feature", "properties": {"place_id": "P2", "name": "Mall 02", "category": "Mall"},
         "geometry": {"type": "Polygon", "coordinates": [[[151.1, -33.8], [151.11, -33.8], [151.11, -33.81], [151.1, -33.8]]]}},
    ]}))
    result = ingest_file(store, "places", path, key)
    assert (result.accepted, result.rejected) == (1, 1)
    assert result.reasons == {"unknown_enum:category": 1}


# ---------------------------------------------------------------- whole-file refusals

def _table_counts(store):
    return {t: store.con.execute(f"select count(*) from {t}").fetchone()[0]
            for t in ("batches", "quarantine", "location_reports", "episodes")}


def test_identifying_columns_refuse_the_file_and_leave_the_store_unchanged(store, key, tmp_path):
    before = _table_counts(store)
    path = write_csv(tmp_path / "r.csv", REPORT_HEADER + ["Name", "DOB"],
                     [list(report().values()) + ["Jane Citizen", "2011-01-01"]])
    with pytest.raises(RefusedFileError) as info:
        ingest_file(store, "reports", path, key)
    assert str(info.value) == (
        "r.csv: refused, it has identifying columns dob, name; remove them, or re-run with "
        "--drop-identifying-columns to drop them before anything is stored.")
    assert _table_counts(store) == before


def test_drop_identifying_columns_drops_them_before_storage(store, key, tmp_path):
    path = write_csv(tmp_path / "r.csv", REPORT_HEADER + ["notes"],
                     [list(report().values()) + ["SECRET free text about the child"]])
    result = ingest_file(store, "reports", path, key, drop_identifying=True)
    assert result.accepted == 1 and result.dropped_columns == ["notes"]
    dump = str(store.con.execute("select * from location_reports").fetchall())
    dump += str(store.con.execute("select * from batches").fetchall())
    assert "SECRET" not in dump


def test_missing_required_column_refuses_the_file(store, key, tmp_path):
    path = write_csv(tmp_path / "r.csv", ["report_id", "observed_at", "lat"], [["R1", "2025-03-01", "-33.8"]])
    with pytest.raises(RefusedFileError, match=r"r.csv: missing required column\(s\) lon for reports"):
        ingest_file(store, "reports", path, key)
    assert _table_counts(store)["batches"] == 0


def test_unreadable_and_unsupported_files_are_refused(store, key, tmp_path):
    bad = tmp_path / "reports.xlsx"
    bad.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(RefusedFileError, match="reports.xlsx: unsupported file type .xlsx"):
        ingest_file(store, "reports", bad, key)
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1 truncated")
    with pytest.raises(RefusedFileError, match="broken.parquet: cannot be read"):
        ingest_file(store, "reports", broken, key)
    with pytest.raises(RefusedFileError, match="no such file"):
        ingest_file(store, "reports", tmp_path / "absent.csv", key)
