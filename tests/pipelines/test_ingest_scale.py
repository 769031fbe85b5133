"""The fast ingest path (issue 6) gives exactly the results of the text path it replaced.

A Parquet file's typed columns (double lat/lon, timestamptz observed_at) are staged without
a round trip through text; pseudonyms are computed once per distinct reference; H3 runs in
the staging query; the classification is narrow. These tests pin that none of it changes an
outcome, a reason, a detail, a stored value or a row hash.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from analytics import contracts
from analytics.errors import RefusedFileError
from analytics.privacy import key_fingerprint
from pipelines import ingest
from pipelines.ingest import ingest_file
from pipelines.store import init_store, open_store
from tests.conftest import TEST_KEY

NOW = datetime(2026, 1, 15, tzinfo=timezone.utc)
US = pa.timestamp("us", tz="UTC")


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(timezone.utc)


# Values chosen to sit on every edge of the typed path: non-finite and signed-zero doubles,
# the shortest-repr digits, the 1970 and 1980 boundaries (typed timestamps outside 1980..9000
# take the text path), local-mean-time offsets (Sydney before 1895), a DST fold, microseconds.
LATS = [-33.87, float("nan"), float("inf"), 95.0, -0.0, 1e-320, -33.123456789012345, None, -33.9, -33.8]
LONS = [151.2, 151.2, 151.2, 151.2, 0.0, 151.2, 151.00000000000003, 151.2, float("-inf"), 190.0]
TIMES = [
    "2025-03-01T11:15:00.123456+00:00", "1969-12-31T23:59:59+00:00", "1975-06-01T00:00:00+00:00",
    "1979-12-31T23:59:59.999999+00:00", "1980-01-01T00:00:00+00:00", "2099-01-01T00:00:00+00:00",
    "8999-12-31T23:59:59+00:00", "9500-01-01T00:00:00+00:00", "1890-07-01T12:00:00+00:00",
    "2025-04-05T15:30:00+00:00", "2025-04-05T16:30:00+00:00", "0001-01-01T00:00:00+00:00", None,
]
SOURCES = ["police", " Police ", "Child-Protection", "child  protection", "martians", None, "YOUTH_SERVICE"]
KINDS = ["sighting", "FOUND", "rhi disclosure", "rumour", None]


def _typed_table() -> pa.Table:
    """One row per (lat/lon, time) pair plus enum variants, an in-file duplicate and a conflict."""
    rows = []
    for i, (lat, lon) in enumerate(zip(LATS, LONS)):
        for j, ts in enumerate(TIMES):
            rows.append((f"R{i}-{j}", ts, lat, lon, SOURCES[(i + j) % len(SOURCES)], KINDS[(i * j) % len(KINDS)]))
    valid = (TIMES[0], -33.87, 151.2, "police", "sighting")
    rows += [("DUP", *valid), ("DUP", *valid)]                      # identical repeat: a duplicate
    rows += [("CONF", *valid), ("CONF", TIMES[0], -33.5, 151.2, "police", "sighting")]  # a conflict
    ids, times, lats, lons, sources, kinds = zip(*rows)
    return pa.table({
        "report_id": pa.array(ids), "observed_at": pa.array([t and _ts(t) for t in times], type=US),
        "lat": pa.array(lats, type=pa.float64()), "lon": pa.array(lons, type=pa.float64()),
        "source": pa.array(sources), "kind": pa.array(kinds),
        "person_ref": pa.array([f"CHILD-{sum(map(ord, rid)) % 7}" for rid in ids]),  # repeats, as refs do
    })


def _as_text(typed: Path, text: Path, tz: str) -> None:
    """The file as the text path read it: every column cast to text by DuckDB in the store's zone."""
    con = duckdb.connect()
    try:
        con.execute(f"set TimeZone = '{tz}'")
        con.execute(f"copy (select columns(*)::varchar from read_parquet('{typed}')) to '{text}' (format parquet)")
    finally:
        con.close()


def _outcome(db: Path, path: Path) -> tuple:
    """Everything an ingest leaves behind, minus batch timings: accounting, quarantine, rows."""
    store = open_store(db)
    try:
        res = ingest_file(store, "reports", path, TEST_KEY, now=NOW)
        quarantine = store.con.execute(
            "select row_number, record_id, reason, detail, row_json from quarantine order by row_number").fetchall()
        rows = store.con.execute("select * exclude (batch_id) from location_reports order by report_id").fetchall()
    finally:
        store.close()
    accounting = (res.read, res.accepted, res.updated, res.duplicate, res.rejected, res.reasons, res.hints)
    return accounting, quarantine, rows


@pytest.mark.parametrize("tz", ["Australia/Sydney", "UTC", "America/St_Johns", "Asia/Kathmandu"])
def test_typed_parquet_gives_the_outcome_of_its_text(tmp_path, tz):
    typed, text = tmp_path / "typed.parquet", tmp_path / "text.parquet"
    pq.write_table(_typed_table(), typed)
    _as_text(typed, text, tz)
    assert pq.read_schema(text).field("lat").type == pa.string()
    outcomes = []
    for name, path in (("a", typed), ("b", text)):
        db = tmp_path / f"{name}.duckdb"
        init_store(db, tz=tz, key_fingerprint=key_fingerprint(TEST_KEY))
        outcomes.append(_outcome(db, path))
    (acc_typed, q_typed, rows_typed), (acc_text, q_text, rows_text) = outcomes
    assert acc_typed == acc_text
    assert q_typed == q_text
    assert rows_typed == rows_text
    reasons = acc_typed[5]
    for reason in ("bad_number:lat", "lat_out_of_range", "null_island", "implausible_timestamp",
                   "future_timestamp", "unknown_enum:source", "conflicting_duplicate_id"):
        assert reasons.get(reason), (reason, reasons)
    assert acc_typed[3] == 1 and acc_typed[1] > 0, acc_typed  # the identical repeat, and some rows stored


def test_allowed_enum_values_are_already_normal(store):
    """norm_enum returns an allowed value without its regular expression: that is only the
    same answer if every allowed value is a fixed point of the normalisation."""
    for name, values in contracts.ENUM_PARAMS.items():
        normal = store.con.execute(
            "select list(norm_enum(v, cast([] as varchar[])) order by i) "
            "from (select unnest($v) as v, generate_subscripts($v, 1) as i)", {"v": list(values)}).fetchone()[0]
        assert normal == list(values), name


def test_typed_columns_skip_the_text_round_trip(store):
    """typeof() dispatch in the macros is folded when the query is bound: a typed double or
    timestamptz is not cast to text just to be checked."""
    plan = store.con.execute(
        "explain select too_long(lat, 'lat', 1000), too_long(ts, 'ts', 1000), dmy_like(ts), excel_like(ts) "
        "from (select -33.8::double as lat, now() as ts)").fetchall()[0][1]
    assert not any(op in plan.upper() for op in ("CAST", "LENGTH", "REGEXP")), plan


def test_pseudonyms_are_computed_once_per_distinct_reference(store, tmp_path, monkeypatch):
    calls: list[list[str]] = []
    real = ingest.pseudonymise_chain

    def counting(values, key):
        calls.append(list(values))
        return real(values, key)

    monkeypatch.setattr(ingest, "pseudonymise_chain", counting)
    table = _typed_table()
    path = tmp_path / "r.parquet"
    pq.write_table(table, path)
    ingest_file(store, "reports", path, TEST_KEY, now=NOW)
    refs = set(table.column("person_ref").to_pylist())
    assert len(calls) == 1 and sorted(calls[0]) == sorted(refs)
    stored = {r[0] for r in store.con.execute("select distinct person_key from location_reports").fetchall()}
    assert stored <= set(real(sorted(refs), TEST_KEY))


def test_memory_is_capped_during_an_ingest_and_restored(store, tmp_path, monkeypatch):
    seen = []
    real = ingest._classify

    def spy(con, *args):
        seen.append(con.execute("select current_setting('memory_limit')").fetchone()[0])
        return real(con, *args)

    monkeypatch.setattr(ingest, "_classify", spy)
    before = store.con.execute("select current_setting('memory_limit')").fetchone()[0]
    path = tmp_path / "r.parquet"
    pq.write_table(_typed_table(), path)
    ingest_file(store, "reports", path, TEST_KEY, now=NOW)
    assert ingest._setting_bytes(seen[0]) <= ingest.INGEST_MEMORY_LIMIT_BYTES * 1.01
    assert store.con.execute("select current_setting('memory_limit')").fetchone()[0] == before


def test_parquet_damaged_inside_is_refused_and_the_store_unchanged(store, tmp_path):
    n = 50_000
    rng = np.random.default_rng(3)
    table = pa.table({
        "report_id": pa.array([f"R{i}" for i in range(n)]),
        "observed_at": pa.array(np.full(n, 1_740_000_000_000_000), type=US),
        "lat": rng.uniform(-34, -33.6, n), "lon": rng.uniform(150.7, 151.2, n),
    })
    path = tmp_path / "damaged.parquet"
    pq.write_table(table, path, row_group_size=10_000, compression="zstd")
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 4096] = bytes(4096)
    path.write_bytes(bytes(data))
    with pytest.raises(RefusedFileError, match="damaged.parquet: cannot be read"):
        ingest_file(store, "reports", path, TEST_KEY, now=NOW)
    assert store.con.execute("select count(*) from batches").fetchone()[0] == 0
    assert store.con.execute("select count(*) from location_reports").fetchone()[0] == 0


def test_a_large_file_then_its_repeat_and_an_update(store, tmp_path):
    """Accounting at a size where DuckDB runs in parallel: new, then all duplicates, then updates."""
    n = 300_000
    rng = np.random.default_rng(5)
    columns = {
        "report_id": pa.array([f"R{i}" for i in range(n)]),
        "observed_at": pa.array(1_740_000_000_000_000 + rng.integers(0, 10**12, n), type=US),
        "lat": rng.uniform(-34, -33.6, n), "lon": rng.uniform(150.7, 151.2, n),
        "source": pa.array(np.array(contracts.REPORT_SOURCES)[rng.integers(0, 3, n)]),
        "person_ref": pa.array([f"P{i % 997}" for i in range(n)]),
    }
    first = tmp_path / "first.parquet"
    pq.write_table(pa.table(columns), first, row_group_size=50_000)
    res = ingest_file(store, "reports", first, TEST_KEY, now=NOW)
    assert (res.read, res.accepted, res.rejected) == (n, n, 0)
    again = ingest_file(store, "reports", first, TEST_KEY, now=NOW)
    assert (again.read, again.duplicate, again.accepted) == (n, n, 0)
    columns["lat"] = np.where(np.arange(n) % 1000 == 0, columns["lat"] + 0.001, columns["lat"])
    changed = tmp_path / "changed.parquet"
    pq.write_table(pa.table(columns), changed, row_group_size=50_000)
    upd = ingest_file(store, "reports", changed, TEST_KEY, now=NOW)
    assert (upd.updated, upd.duplicate, upd.accepted) == (n // 1000, n - n // 1000, 0)
    con = store.con
    assert con.execute("select count(*), count(distinct report_id) from location_reports").fetchone() == (n, n)
    assert con.execute("select count(*) from location_reports_history").fetchone()[0] == n // 1000


def test_staged_row_hashes_are_row_hash_sql_for_every_kind(store, tmp_path):
    """Staging hashes rows with a macro built from ``row_hash_sql`` (the definition rekey uses):
    every stored hash must equal that expression over the stored row, for every kind."""
    import shapely.geometry as geom

    from tests.conftest import EPISODE_HEADER, REPORT_HEADER, episode, report, write_csv

    pq.write_table(pa.table({"place_id": ["P1"], "name": ["Station"], "category": ["train_station"],
                             "lat": [-33.87], "lon": [151.2],
                             "geometry_wkt": [geom.Point(151.2, -33.87).wkt]}), tmp_path / "places.parquet")
    files = {
        "episodes": write_csv(tmp_path / "e.csv", EPISODE_HEADER, [episode(), episode(episode_id="E2")]),
        "reports": write_csv(tmp_path / "r.csv", REPORT_HEADER, [report(), report(report_id="R2", episode_id="")]),
        "places": tmp_path / "places.parquet",
        "disruptions": write_csv(tmp_path / "d.csv", ["activity_id", "kind", "start", "lat", "lon", "h3_cell"], [
            ["A1", "presence_patrol", "2025-03-01T20:00:00+11:00", "-33.87", "151.2", ""],
            ["A2", "outreach", "2025-03-01T20:00:00+11:00", "", "", "89be0e35ad7ffff"]]),
    }
    for kind, path in files.items():
        assert ingest_file(store, kind, path, TEST_KEY, now=NOW).accepted >= 1, kind
        table = ingest.SPECS[kind].table
        expected = ingest.row_hash_sql(ingest.stored_columns(store.con, table), ingest.LATE_COLUMNS.get(table, ()))
        n, wrong = store.con.execute(
            f"select count(*), count(*) filter (where row_hash <> {expected}) from {table}").fetchone()
        assert n >= 1 and wrong == 0, kind
