"""Location reports' optional ``reported_at`` (issue 14, item 1): ingest, validation, column mapping, history,
hash stability for older files, and the cube "as reported by" an origin (pipelines.cube.as_reported_arrays)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from pipelines import column_mapping, cube as cube_mod, store as store_mod
from pipelines.ingest import ingest_file
from tests.conftest import REPORT_HEADER, TEST_KEY, report, write_csv
from tests.pipelines.test_cli_errors import run

HEADER = REPORT_HEADER + ["reported_at"]


def _reported(store, report_id: str):
    row = store.con.execute("select reported_at from location_reports where report_id = $i", {"i": report_id}).fetchone()
    return None if row is None else row[0]


def test_reported_at_is_stored_validated_and_read_in_the_stores_zone(tmp_path, store):
    rows = [report(report_id="R1"),                                            # none: known when it happened
            report(report_id="R2", reported_at="2025-03-03T10:00:00+11:00"),
            report(report_id="R3", reported_at="2025-03-02 09:00"),           # naive: the store's zone
            report(report_id="R4", reported_at="2025-03-01"),                 # date only, same local day
            report(report_id="R5", reported_at="2025-03-01T21:00:00+11:00"),  # before observed_at (22:15)
            report(report_id="R6", reported_at="2025-02-28"),                 # a day before
            report(report_id="R7", reported_at="not a time")]
    result = ingest_file(store, "reports", write_csv(tmp_path / "r.csv", HEADER, rows), TEST_KEY)
    assert result.read == result.accepted + result.rejected and result.accepted == 4
    assert result.reasons == {"reported_before_observed": 2, "bad_timestamp": 1}
    assert _reported(store, "R1") is None
    assert _reported(store, "R2") == datetime(2025, 3, 2, 23, 0, tzinfo=timezone.utc)
    assert _reported(store, "R3") == datetime(2025, 3, 1, 22, 0, tzinfo=timezone.utc)  # 09:00 +11:00
    assert _reported(store, "R4") == datetime(2025, 2, 28, 13, 0, tzinfo=timezone.utc)  # local midnight
    detail = store.con.execute("select detail from quarantine where reason = 'reported_before_observed' "
                               "order by detail").fetchall()
    assert detail[0][0] == "2025-02-28 < 2025-03-01T22:15:00+11:00"


def test_older_files_stay_duplicates_and_a_new_reported_at_is_an_update_with_history(tmp_path, store):
    old = write_csv(tmp_path / "old.csv", REPORT_HEADER, [report(report_id="R1")])
    assert ingest_file(store, "reports", old, TEST_KEY).accepted == 1
    blank = write_csv(tmp_path / "blank.csv", HEADER, [report(report_id="R1", reported_at="")])
    assert ingest_file(store, "reports", blank, TEST_KEY).duplicate == 1  # same content: no-op
    assert ingest_file(store, "reports", old, TEST_KEY).duplicate == 1
    later = write_csv(tmp_path / "later.csv", HEADER, [report(report_id="R1", reported_at="2025-03-04T08:00:00+11:00")])
    assert ingest_file(store, "reports", later, TEST_KEY).updated == 1
    hist = store.con.execute("select reported_at from location_reports_history where report_id = 'R1'").fetchall()
    assert hist == [(None,)] and _reported(store, "R1") == datetime(2025, 3, 3, 21, 0, tzinfo=timezone.utc)


def test_reported_at_comes_through_the_column_mapping(tmp_path, store):
    path = write_csv(tmp_path / "export.csv", REPORT_HEADER + ["DATE_REPORTED"],
                     [report(report_id="R9", observed_at="03/01/2025 10:15:00 PM",
                             DATE_REPORTED="03/05/2025 10:00:00 AM")])  # --date-format applies to both
    mapping = column_mapping.from_options("reported_at=DATE_REPORTED", "%m/%d/%Y %I:%M:%S %p", None, None)
    result = ingest_file(store, "reports", path, TEST_KEY, mapping=mapping)
    assert result.accepted == 1, result.reasons
    assert _reported(store, "R9") == datetime(2025, 3, 4, 23, 0, tzinfo=timezone.utc)  # 10:00 +11:00


def test_ingest_cli_maps_reported_at(tmp_path, key_env):
    db = tmp_path / "store.duckdb"
    assert run(tmp_path, "init", "--db", str(db)).returncode == 0
    path = write_csv(tmp_path / "export.csv", REPORT_HEADER + ["Reported"],
                     [report(report_id="R1", Reported="2025-03-02T08:00:00+11:00"),
                      report(report_id="R2", Reported="2025-02-01T08:00:00+11:00")])
    proc = run(tmp_path, "ingest", "reports", str(path), "--db", str(db), "--columns", "reported_at=Reported")
    assert proc.returncode == 0, proc.stderr
    with store_mod.opened(db, read_only=True) as st:
        assert st.con.execute("select report_id from location_reports").fetchall() == [("R1",)]
        assert st.con.execute("select reason from quarantine").fetchall() == [("reported_before_observed",)]


def _weekly_reports(tmp_path: Path, store) -> None:
    """Three reports in each of two weeks (2025-W09 and W10); in W09 one reported in W11, one in W10."""
    rows = []
    for i, (day, rep) in enumerate([("2025-02-25", ""), ("2025-02-26", "2025-03-12T09:00:00+11:00"),
                                    ("2025-02-27", "2025-03-04T09:00:00+11:00"),
                                    ("2025-03-04", ""), ("2025-03-05", ""), ("2025-03-06", "")]):
        rows.append(report(report_id=f"R{i}", observed_at=f"{day}T20:00:00+11:00", reported_at=rep))
    assert ingest_file(store, "reports", write_csv(tmp_path / "w.csv", HEADER, rows), TEST_KEY).accepted == 6


def test_counts_as_reported_by_an_origin_leave_out_later_reports(tmp_path, store):
    _weekly_reports(tmp_path, store)
    cells, counts, _, weeks, info = cube_mod.as_reported_arrays(store, "2025-W09", "2025-W09")
    assert [str(w) for w in weeks] == ["2025-02-24"] and counts.sum() == 1  # two reported after W09 ended
    assert any("2 event(s) in these weeks reported later are left out" in c for c in info.choices)
    _, counts10, _, weeks10, _ = cube_mod.as_reported_arrays(store, "2025-W10", "2025-W09")
    assert counts10.sum(axis=0).tolist() == [2, 3]  # W09's report of 12 March is still in the future
    _, counts11, _, _, _ = cube_mod.as_reported_arrays(store, "2025-W11", "2025-W09")
    assert counts11.sum(axis=0).tolist() == [3, 3, 0]
    cube_mod.build_cube(store, None, "2025-W09", "2025-W11")  # the plain cube counts every event
    assert cube_mod.cube_arrays(store, "reports")[1].sum() == 6


def test_week_end_is_local_monday_midnight(store):
    assert cube_mod.week_end("2025-W09", "Australia/Sydney") == datetime(2025, 3, 2, 13, 0, tzinfo=timezone.utc)
