"""Store life-cycle, batch semantics (duplicates, updates with history, rollback) and privacy at rest."""

from __future__ import annotations

import duckdb
import numpy as np
import pytest

from analytics.errors import StoreError
from analytics import grid
from pipelines import cube as cube_mod, ingest as ingest_mod, store as store_mod
from pipelines.checks import run_checks
from pipelines.ingest import ingest_file
from tests.conftest import EPISODE_HEADER, REPORT_HEADER, episode, report, write_csv


def test_init_records_schema_version_and_settings(db_path):
    with store_mod.opened(db_path) as st:
        assert store_mod.schema_version(st.con) == store_mod.latest_schema_version()
        assert st.resolution == 9 and st.timezone == "Australia/Sydney"
        assert st.setting("key_fingerprint")


def test_init_is_idempotent(db_path):
    _, applied = store_mod.init_store(db_path)
    assert applied == []


def test_store_from_a_newer_version_is_refused(db_path):
    con = duckdb.connect(str(db_path))
    con.execute("insert into schema_migrations values (999, '999_future.sql', now(), '9.9.9')")
    con.close()
    with pytest.raises(StoreError, match=r"schema version 999, made by a newer safeguard-hotspots"):
        store_mod.open_store(db_path)


def test_missing_store_is_a_clear_error(tmp_path):
    with pytest.raises(StoreError, match="No store at .*create one with: hotspots init"):
        store_mod.open_store(tmp_path / "absent.duckdb")


def test_second_writer_gets_a_clear_message(db_path):
    """A second process cannot take the write lock: clear message, no traceback (CLI turns it into exit 1)."""
    import subprocess
    import sys
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import duckdb,time; c=duckdb.connect({str(db_path)!r}); print('ready', flush=True); time.sleep(30)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(StoreError, match="is in use by another process"):
            store_mod.open_store(db_path)
    finally:
        holder.kill()
        holder.wait()


def test_reingest_is_all_duplicates_and_cube_unchanged(store, key, tmp_path):
    path = write_csv(tmp_path / "r.csv", REPORT_HEADER,
                     [report(report_id=f"R{i}", lat=f"{-33.87 + i * 0.001:.4f}") for i in range(20)]
                     + [report(report_id="BAD", lat="99")])
    first = ingest_file(store, "reports", path, key)
    cube_mod.build_cube(store)
    cube1 = cube_mod.cube_frame(store)
    second = ingest_file(store, "reports", path, key)
    cube_mod.build_cube(store)
    cube2 = cube_mod.cube_frame(store)
    assert (first.accepted, first.rejected) == (20, 1)
    assert (second.accepted, second.updated, second.duplicate, second.rejected) == (0, 0, 20, 1)
    assert cube1.equals(cube2)


def test_update_keeps_old_version_in_history(store, key, tmp_path):
    ingest_file(store, "episodes", write_csv(tmp_path / "e1.csv", EPISODE_HEADER, [episode()]), key)
    result = ingest_file(store, "episodes",
                         write_csv(tmp_path / "e2.csv", EPISODE_HEADER, [episode(risk_level="medium")]), key)
    assert (result.accepted, result.updated, result.duplicate) == (0, 1, 0)
    assert store.con.execute("select risk_level, batch_id from episodes").fetchall() == [("medium", "B000002")]
    assert store.con.execute(
        "select risk_level, batch_id, superseded_by_batch from episodes_history").fetchall() == [
        ("high", "B000001", "B000002")]


def test_failure_half_way_rolls_back_the_whole_file(store, key, tmp_path, monkeypatch):
    path = write_csv(tmp_path / "r.csv", REPORT_HEADER,
                     [report(report_id=f"R{i}") for i in range(10)] + [report(report_id="X", lat="99")])

    def boom(*args, **kwargs):
        raise duckdb.IOException("disk full (simulated)")

    monkeypatch.setattr(ingest_mod, "_insert_quarantine", boom)  # after current rows are written
    with pytest.raises(StoreError, match="r.csv: ingest failed and was rolled back"):
        ingest_file(store, "reports", path, key)
    for table in ("location_reports", "quarantine", "batches", "location_reports_history"):
        assert store.con.execute(f"select count(*) from {table}").fetchone()[0] == 0, table
    monkeypatch.undo()
    assert ingest_file(store, "reports", path, key).accepted == 10


def test_no_raw_identifier_reaches_any_table(store, key, tmp_path):
    raw_refs = {"CHILD-REF-0001", "CHILD-REF-0002", "HOME-REF-0042"}
    ingest_file(store, "episodes", write_csv(tmp_path / "e.csv", EPISODE_HEADER, [
        episode(), episode(episode_id="E2", person_ref="CHILD-REF-0002", age_years="25")]), key)
    ingest_file(store, "reports", write_csv(tmp_path / "r.csv", REPORT_HEADER, [
        report(), report(report_id="R2", person_ref="CHILD-REF-0002", lat="99")]), key)
    tables = [r[0] for r in store.con.execute(
        "select table_name from information_schema.tables where table_schema = 'main'").fetchall()]
    dump = ""
    for table in tables:
        dump += str(store.con.execute(f"select * from {table}").fetchall())
    assert "pk_" in dump  # pseudonyms are there ...
    for ref in raw_refs:  # ... raw references are not (not even in quarantined rows)
        assert ref not in dump


def test_same_key_gives_same_pseudonym_across_files(store, key, tmp_path):
    ingest_file(store, "reports", write_csv(tmp_path / "a.csv", REPORT_HEADER, [report()]), key)
    ingest_file(store, "reports", write_csv(tmp_path / "b.csv", REPORT_HEADER, [report(report_id="R2")]), key)
    assert store.con.execute("select count(distinct person_key) from location_reports").fetchone()[0] == 1


def test_store_checks_pass_after_ingest(store, key, tmp_path):
    ingest_file(store, "reports", write_csv(tmp_path / "r.csv", REPORT_HEADER,
                                            [report(), report(report_id="B", lat="0", lon="0")]), key)
    assert all(r.failures == 0 for r in run_checks(store.con, cube=False))


def test_h3_cells_equal_h3_py_on_a_random_sample(store, key, tmp_path):
    import h3
    rng = np.random.default_rng(3)
    lat = rng.uniform(-34.1, -33.5, 300)
    lon = rng.uniform(150.6, 151.3, 300)
    rows = [report(report_id=f"R{i}", lat=f"{a:.6f}", lon=f"{b:.6f}") for i, (a, b) in enumerate(zip(lat, lon))]
    ingest_file(store, "reports", write_csv(tmp_path / "r.csv", REPORT_HEADER, rows), key)
    got = store.con.execute("select lat, lon, cell from location_reports").fetchall()
    assert len(got) == 300
    for a, b, cell in got:
        assert h3.int_to_str(cell) == h3.latlng_to_cell(a, b, 9)
    vec = grid.latlng_to_cells(lat, lon, 9)
    assert list(vec) == [h3.str_to_int(h3.latlng_to_cell(a, b, 9)) for a, b in zip(lat, lon)]
    assert list(grid.latlng_to_cells_loop(lat, lon, 9)) == list(vec)
