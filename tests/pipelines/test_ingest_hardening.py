"""Issue 12, ingest side: closed equity vocabularies (item 4), identifying column names (item 11),
headers too wide to read (item 10) and a refused file among several (item 12)."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from analytics import contracts
from analytics.errors import RefusedFileError
from pipelines.ingest import ingest_file
from tests.conftest import EPISODE_HEADER, REPORT_HEADER, episode, report, write_csv
from tests.conftest import run_cli as _run


# ------------------------------------------------------------------ item 4: equity vocabularies

def test_equity_fields_take_a_closed_vocabulary_and_other_values_are_recoded(store, key, tmp_path):
    rows = [
        episode(episode_id="E1", gender="jane doe (dob 04/03/2011)"),
        episode(episode_id="E2", gender=" Non-Binary ", disability="maybe", cald="unknown"),
        episode(episode_id="E3", gender="F", lgbtqia="Not Stated", first_nations="<script>x</script>"),
        episode(episode_id="E4", gender="", first_nations="yes"),
        episode(episode_id="E5", gender="pk_0123456789abcdef0123456789abcdef", disability="true"),
    ]
    result = ingest_file(store, "episodes", write_csv(tmp_path / "e.csv", EPISODE_HEADER, rows), key)
    assert (result.read, result.accepted, result.rejected) == (5, 5, 0)
    assert result.recoded == {"gender": 2, "disability": 1, "first_nations": 1}
    got = store.con.execute("select episode_id, gender, disability, first_nations, cald, lgbtqia "
                            "from episodes order by 1").fetchall()
    assert got == [("E1", "other", False, False, False, None), ("E2", "non_binary", None, False, None, None),
                   ("E3", "female", False, None, False, None), ("E4", None, False, True, False, None),
                   ("E5", "other", True, False, False, None)]
    stored = {r[0] for r in store.con.execute("select distinct gender from episodes").fetchall()} - {None}
    assert stored <= set(contracts.GENDERS)
    adjustments = store.con.execute("select adjustments from batches").fetchone()[0]
    assert json.loads(adjustments) == {"recoded": {"gender": 2, "disability": 1, "first_nations": 1}}
    dump = str(store.con.execute("select * from episodes").fetchall())
    assert "jane" not in dump and "script" not in dump


def test_a_clean_batch_records_no_adjustments(store, key, tmp_path):
    result = ingest_file(store, "episodes", write_csv(tmp_path / "e.csv", EPISODE_HEADER, [episode()]), key)
    assert (result.recoded, result.flagged) == ({}, {})
    assert store.con.execute("select adjustments from batches").fetchone()[0] is None


def test_every_gender_alias_maps_into_the_vocabulary():
    assert set(contracts.GENDER_ALIASES.values()) <= set(contracts.GENDERS)
    assert contracts.GENDER_RECODED_TO in contracts.GENDERS and contracts.NOT_STATED in contracts.GENDERS


# ------------------------------------------------------------------ item 11: identifying names

REFUSED_NAMES = ["E-Mail", "D.O.B", "Child's Name", "Child\u2019s name", "Given Names", "Mobile Number", "Medicare_No",
                 "home_lat", "Surname", "first name", "Date of Birth", "Street Address", "Postcode", "Phone No.",
                 "Notes", "Comments", "Case Notes", "EMAIL ADDRESS", "d_o_b", "Home Longitude", "Full-Name",
                 "\uff24\uff2f\uff22",  # fullwidth DOB
                 "Name (Child)", "Name of child", "Client DOB", "childFullName", "DateOfBirth", "Parent/Guardian Name",
                 "Contact Email", "Mother's Phone", "Residence Longitude", "placement_lat", "homeLocation",
                 "Young Person's Name", "firstName", "Client Address", "carer_postcode", "house_number"]
ACCEPTED_NAMES = ["placement_type", "notes_count", "place_name", "officer_shoe_size", "suburb", "age_band", "street_count",
                  "comment_count", "name_length", "address_verified", "street_name", "address_count",
                  "location_confidence"]


@pytest.mark.parametrize("name", REFUSED_NAMES)
def test_identifying_column_names_are_recognised_after_normalising(store, key, tmp_path, name):
    path = write_csv(tmp_path / "r.csv", REPORT_HEADER + [name], [list(report().values()) + ["x"]])
    with pytest.raises(RefusedFileError, match=r"r.csv: refused, it has identifying columns "):
        ingest_file(store, "reports", path, key)
    assert store.con.execute("select count(*) from batches").fetchone()[0] == 0
    result = ingest_file(store, "reports", path, key, drop_identifying=True)
    assert result.accepted == 1 and len(result.dropped_columns) == 1


@pytest.mark.parametrize("name", ACCEPTED_NAMES)
def test_harmless_column_names_are_accepted(store, key, tmp_path, name):
    assert not contracts.is_identifying_column(name)
    path = write_csv(tmp_path / "r.csv", REPORT_HEADER + [name], [list(report().values()) + ["3"]])
    assert ingest_file(store, "reports", path, key).accepted == 1


def test_places_may_carry_their_own_name_column(store, key, tmp_path):
    path = write_csv(tmp_path / "p.csv", ["place_id", "Name", "category", "lat", "lon"],
                     [["P1", "Station 01", "train_station", "-33.87", "151.2"]])
    assert ingest_file(store, "places", path, key).accepted == 1


# ------------------------------------------------------------------ item 10: very wide headers

def test_a_header_line_over_the_byte_limit_is_refused_early(store, key, tmp_path):
    path = tmp_path / "wide.csv"
    with open(path, "w") as fh:  # 200k columns, ~1.5 MB header line, then one data row
        fh.write(",".join(f"c{i}" for i in range(200_000)) + "\n" + ",".join("1" for _ in range(200_000)) + "\n")
    with pytest.raises(RefusedFileError) as info:
        ingest_file(store, "reports", path, key)
    message = str(info.value)
    assert message.startswith("wide.csv: refused, its header has at least ")
    assert f"(the limit is {contracts.MAX_COLUMNS})" in message and "\n" not in message


def test_a_short_header_with_too_many_columns_is_refused(store, key, tmp_path):
    path = tmp_path / "many.csv"
    path.write_text(",".join(["x"] * 5000) + "\n")
    with pytest.raises(RefusedFileError) as info:
        ingest_file(store, "reports", path, key)
    assert str(info.value) == (f"many.csv: refused, its header has 5000 columns (the limit is {contracts.MAX_COLUMNS}); "
                               "check the delimiter and that the first line is the header.")


def test_a_header_without_line_end_past_the_limit_is_refused(store, key, tmp_path):
    path = tmp_path / "long.csv"
    path.write_text("report_id," + "x" * (contracts.MAX_HEADER_BYTES + 10) + "\n")
    with pytest.raises(RefusedFileError, match=r"long.csv: refused, its header (line is longer than 1048576 bytes|cannot be read)"):
        ingest_file(store, "reports", path, key)


def test_a_parquet_file_with_too_many_columns_is_refused(store, key, tmp_path):
    path = tmp_path / "wide.parquet"
    n = contracts.MAX_COLUMNS + 1
    pq.write_table(pa.table({f"c{i}": [1] for i in range(n)}), path)
    with pytest.raises(RefusedFileError, match=rf"wide.parquet: refused, its header has {n} columns"):
        ingest_file(store, "reports", path, key)


def test_a_header_at_the_column_limit_is_read(store, key, tmp_path):
    extra = [f"extra_{i}" for i in range(contracts.MAX_COLUMNS - len(REPORT_HEADER))]
    path = write_csv(tmp_path / "r.csv", REPORT_HEADER + extra, [list(report().values()) + [""] * len(extra)])
    assert ingest_file(store, "reports", path, key).accepted == 1


# ------------------------------------------------------------------ item 12: one refused file among several



@pytest.fixture
def three_files(monkeypatch, capsys, tmp_path, key_env):
    db = tmp_path / "s.duckdb"
    assert _run(monkeypatch, capsys, "init", "--db", str(db))[0] == 0
    a = write_csv(tmp_path / "a.csv", REPORT_HEADER, [report(), report(report_id="R2", lat="0", lon="0")])
    b = write_csv(tmp_path / "b.csv", REPORT_HEADER + ["email"], [list(report().values()) + ["x@y.z"]])
    c = write_csv(tmp_path / "c.csv", REPORT_HEADER, [report(report_id="R3")])
    return db, a, b, c


def test_a_refused_file_among_several_keeps_the_committed_result(monkeypatch, capsys, three_files):
    db, a, b, c = three_files
    code, out, err = _run(monkeypatch, capsys, "ingest", "reports", str(a), str(b), str(c), "--db", str(db), "--json")
    assert code == 1
    rows = json.loads(out)
    assert [(r["file"], r["status"]) for r in rows] == [("a.csv", "committed"), ("b.csv", "refused"),
                                                        ("c.csv", "not_read")]
    assert {k: rows[0][k] for k in ("batch_id", "read", "accepted", "rejected", "reasons")} == {
        "batch_id": "B000001", "read": 2, "accepted": 1, "rejected": 1, "reasons": {"null_island": 1}}
    assert rows[1]["error"].startswith("b.csv: refused, it has identifying columns email")
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: b.csv: refused")
    assert "Committed before it: a.csv (B000001)." in lines[0] and "Not read: c.csv" in lines[0]
    code, out, _ = _run(monkeypatch, capsys, "quarantine", "--db", str(db), "--json")
    assert code == 0 and {r["batch_id"] for r in json.loads(out)} == {"B000001"}


def test_a_refused_file_among_several_in_the_table_output(monkeypatch, capsys, three_files):
    db, a, b, c = three_files
    code, out, err = _run(monkeypatch, capsys, "ingest", "reports", str(a), str(b), str(c), "--db", str(db))
    assert code == 1
    assert "a.csv" in out and "B000001" in out and "c.csv" not in out
    assert "Not read: c.csv" in err and "Traceback" not in out + err


def test_recoded_counts_are_printed_without_the_values(monkeypatch, capsys, tmp_path, key_env):
    db = tmp_path / "s.duckdb"
    _run(monkeypatch, capsys, "init", "--db", str(db))
    path = write_csv(tmp_path / "e.csv", EPISODE_HEADER, [episode(gender="SECRET free text")])
    code, out, _ = _run(monkeypatch, capsys, "ingest", "episodes", str(path), "--db", str(db), "--json")
    assert code == 0 and json.loads(out)[0]["recoded"] == {"gender": 1}
    path2 = write_csv(tmp_path / "e2.csv", EPISODE_HEADER, [episode(episode_id="E2", gender="SECRET again")])
    code, out, _ = _run(monkeypatch, capsys, "ingest", "episodes", str(path2), "--db", str(db))
    assert code == 0 and "recoded (e2.csv): gender (1)" in " ".join(out.split()) and "SECRET" not in out


def test_a_header_line_of_few_long_names_past_the_limit_is_refused(store, key, tmp_path):
    path = tmp_path / "long.csv"  # 900 columns (under the limit) of 1200-byte names: over 1 MB
    path.write_text(",".join(f"{i:04d}" + "x" * 1196 for i in range(900)) + "\n")
    with pytest.raises(RefusedFileError) as info:
        ingest_file(store, "reports", path, key)
    assert str(info.value) == (f"long.csv: refused, its header line is longer than {contracts.MAX_HEADER_BYTES} "
                               f"bytes; the first line must be the header (at most {contracts.MAX_COLUMNS} columns).")


def test_ingest_files_says_what_was_committed_and_what_was_not_read(store, key, tmp_path):
    from pipelines.ingest import ingest_files
    a = write_csv(tmp_path / "a.csv", REPORT_HEADER, [report()])
    b = write_csv(tmp_path / "b.csv", REPORT_HEADER + ["D.O.B"], [list(report().values()) + ["2011-01-01"]])
    c = write_csv(tmp_path / "c.csv", REPORT_HEADER, [report(report_id="R3")])
    with pytest.raises(RefusedFileError) as info:
        ingest_files(store, "reports", [a, b, c], key)
    assert [r.batch_id for r in info.value.committed] == ["B000001"] and info.value.not_read == [c]
    assert str(info.value).startswith("b.csv: refused, it has identifying columns d.o.b;")
    assert str(info.value).endswith("Committed before it: a.csv (B000001). Not read: c.csv; ingest them again "
                                    "after fixing b.csv.")
    assert store.con.execute("select count(*) from location_reports").fetchone()[0] == 1


# ------------------------------------------------------------------ item 9: daylight saving, offsets

@pytest.mark.parametrize("observed_at, reason", [
    ("2024-10-06 02:30", "nonexistent_local_time"),        # Sydney skips 02:00-03:00
    ("2024-10-06T02:59:59", "nonexistent_local_time"),
    ("06/10/2024 02:15", "nonexistent_local_time"),         # day-first text too
    ("2024-10-06T02:30:00+10:00", None),                    # an offset names a real instant
    ("2024-10-06 01:59", None),
    ("2024-10-06 03:00", None),
    ("2025-03-01T10:00:00+14:00", None),
    ("2025-03-01T10:00:00-14:00", None),
    ("2025-03-01T10:00:00+14:01", "bad_utc_offset"),
    ("2025-03-01T10:00:00+23:00", "bad_utc_offset"),
    ("2025-03-01 10:00", None),
])
def test_local_times_and_offsets(store, key, tmp_path, observed_at, reason):
    path = write_csv(tmp_path / "r.csv", REPORT_HEADER, [report(observed_at=observed_at)])
    result = ingest_file(store, "reports", path, key, date_order="dmy")
    assert result.reasons == ({reason: 1} if reason else {})
    assert result.flagged == {}


@pytest.mark.parametrize("observed_at", ["2025-03-01", "01/03/2025"])
def test_a_date_without_a_time_is_kept_flagged_and_marked_time_unknown(store, key, tmp_path, observed_at):
    path = write_csv(tmp_path / "r.csv", REPORT_HEADER, [report(observed_at=observed_at)])
    result = ingest_file(store, "reports", path, key, date_order="dmy")
    assert (result.accepted, result.reasons, result.flagged) == (1, {}, {"date_without_time": 1})
    stored = store.con.execute("select time_known, strftime(timezone('Australia/Sydney', observed_at), "
                               "'%Y-%m-%d %H:%M') from location_reports").fetchall()
    assert stored == [(False, "2025-03-01 00:00")]  # local midnight of that day, marked as no time of day


def test_a_date_only_report_counts_in_its_week_but_not_in_the_patrol_windows(store, key, tmp_path):
    from datetime import date

    import numpy as np

    from pipelines import cube as cube_mod
    from pipelines.weekly import _event_times
    path = write_csv(tmp_path / "r.csv", REPORT_HEADER, [report(report_id="R1", observed_at="2025-03-01"),
                                                         report(report_id="R2", observed_at="2025-03-01 22:15")])
    ingest_file(store, "reports", path, key)
    cube_mod.prepare_events(store)
    events = store.con.execute("select count(*), count(distinct week_start) from int_cell_events").fetchall()
    assert events == [(2, 1)]  # both count in the week of 1 March
    cell = np.array([store.con.execute("select cell from location_reports limit 1").fetchall()[0][0]],
                    dtype=np.uint64)
    times = _event_times(store, cell, date(2025, 3, 31))
    assert len(times) == 1 and times["timestamp"].iloc[0].tz_convert("Australia/Sydney").hour == 22


def test_a_repeated_local_time_is_kept_and_flagged_in_every_kind(store, key, tmp_path):
    reports = write_csv(tmp_path / "r.csv", REPORT_HEADER, [report(observed_at="2025-04-06 02:30"),
                                                            report(report_id="R2", observed_at="2025-04-06 03:30")])
    assert ingest_file(store, "reports", reports, key).flagged == {"ambiguous_local_time": 1}
    episodes = write_csv(tmp_path / "e.csv", EPISODE_HEADER, [episode(missing_from="2025-04-06 01:00",
                                                                      returned_at="2025-04-06 02:10")])
    result = ingest_file(store, "episodes", episodes, key)
    assert (result.accepted, result.flagged) == (1, {"ambiguous_local_time": 1})
    assert json.loads(store.con.execute("select adjustments from batches where kind = 'episodes'").fetchone()[0]) \
        == {"flagged": {"ambiguous_local_time": 1}}


def test_a_19_mb_header_is_refused_with_bounded_memory(store, key, tmp_path):
    import tracemalloc
    path = tmp_path / "huge_header.csv"
    with open(path, "w") as fh:  # ~19 MB, 2.5 M columns, written in pieces
        for start in range(0, 2_500_000, 100_000):
            fh.write(",".join(f"col{i}" for i in range(start, start + 100_000)) + ",")
        fh.write("last\n1\n")
    assert path.stat().st_size > 19_000_000
    tracemalloc.start()
    try:
        with pytest.raises(RefusedFileError, match=r"huge_header.csv: refused, its header has at least \d+ columns"):
            ingest_file(store, "reports", path, key)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20  # Python allocations while refusing: a bounded read, not the whole header
    assert store.con.execute("select count(*) from batches").fetchone()[0] == 0
