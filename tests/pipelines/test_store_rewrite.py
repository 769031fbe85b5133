"""Rekey and rewrite: no old pseudonym survives in any byte of any file of the store's folder (issue 12 §3)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from analytics.errors import StoreError
from analytics.privacy import key_fingerprint
from pipelines import keys, rekey as rekey_mod, store as store_mod
from pipelines.ingest import ingest_file
from tests.conftest import EPISODE_HEADER, REPORT_HEADER, build_once, episode, report, shared_root, write_csv

OLD = "c" * 8 + "0123456789abcdef0123456789abcdef0123456789abcdef01234567"
NEW = "d" * 8 + "fedcba9876543210fedcba9876543210fedcba9876543210fedcba98"
PEOPLE = [f"CHILD-REF-{i:04d}" for i in range(1, 41)]
HOMES = [f"HOME-REF-{i:04d}" for i in range(1, 9)]
PK_RE = re.compile(rb"pk_[0-9a-f]{32}")


def _write_key(path: Path, text: str) -> Path:
    path.write_text(text)
    os.chmod(path, 0o600)
    return path


def fill_store(st, key: bytes, inputs: Path) -> None:
    """Episodes, reports, an update (history rows) and quarantined rows, all naming young people."""
    inputs.mkdir(exist_ok=True)
    eps = [episode(episode_id=f"E{i}", person_ref=p, placement_ref=HOMES[i % len(HOMES)],
                   missing_from=f"2025-03-{1 + i % 27:02d}T21:00:00+11:00",
                   returned_at=f"2025-03-{2 + i % 27:02d}T09:00:00+11:00",
                   reported_at=f"2025-03-{1 + i % 27:02d}T23:00:00+11:00")
           for i, p in enumerate(PEOPLE)]
    eps.append(episode(episode_id="EBAD", person_ref="CHILD-REF-9999", age_years="25"))  # quarantined
    reps = [report(report_id=f"R{i}", person_ref=p, episode_id=f"E{i}", lat=f"{-33.87 + i * 0.0005:.4f}",
                   observed_at=f"2025-03-{1 + i % 27:02d}T22:15:00+11:00") for i, p in enumerate(PEOPLE)]
    reps.append(report(report_id="RBAD", person_ref="CHILD-REF-9998", lat="99"))  # quarantined
    ingest_file(st, "episodes", write_csv(inputs / "e.csv", EPISODE_HEADER, eps), key)
    ingest_file(st, "reports", write_csv(inputs / "r.csv", REPORT_HEADER, reps), key)
    ingest_file(st, "episodes", write_csv(inputs / "e2.csv", EPISODE_HEADER,
                                          [dict(eps[0], risk_level="low")]), key)  # update -> history


def pseudonyms_in_bytes(folder: Path) -> dict[str, set[bytes]]:
    """Every ``pk_`` pseudonym found in the raw bytes of every file under ``folder`` (any depth)."""
    found = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        hits = set(PK_RE.findall(path.read_bytes()))
        if hits:
            found[str(path.relative_to(folder))] = hits
    return found


def _build_keyed_store(folder: Path) -> None:
    """``folder/store``: a store with its key in its key file, filled, snapshot published (as ingest does)."""
    store = folder / "store"
    store.mkdir()
    db = store / "s.duckdb"
    _write_key(store / "s.duckdb.key", OLD + "\n")
    store_mod.init_store(db, key_fingerprint=key_fingerprint(OLD.encode()))
    with store_mod.opened(db) as st:
        fill_store(st, OLD.encode(), folder / "inputs")
        store_mod.publish_snapshot(st)


@pytest.fixture
def keyed_store(tmp_path, tmp_path_factory, monkeypatch):
    """A store in its own folder with its key in its key file, filled, snapshot published (as ingest does):
    a private copy of the folder built once per session (:func:`tests.conftest.build_once`)."""
    monkeypatch.delenv("HOTSPOTS_KEY", raising=False)
    monkeypatch.delenv("HOTSPOTS_KEY_FILE", raising=False)
    built = build_once(shared_root(tmp_path_factory), "keyed_store", _build_keyed_store)
    folder = tmp_path / "store"
    shutil.copytree(built / "store", folder)
    db = folder / "s.duckdb"
    old = {p.encode() for p in keys.pseudonymise_chain(PEOPLE + HOMES + ["CHILD-REF-9999", "CHILD-REF-9998", "HOME-REF-0042"],
                                                         OLD.encode())}
    return db, folder, old


def test_control_the_byte_scan_finds_the_pseudonyms_before_a_rekey(keyed_store):
    db, folder, old = keyed_store
    found = pseudonyms_in_bytes(folder)
    assert set().union(*found.values()) >= old  # every pseudonym is visible in raw bytes ...
    assert db.name in found and store_mod.snapshot_path(db).name in found  # ... of the store and the snapshot


def test_control_an_in_place_rekey_leaves_old_pseudonyms_in_the_file(keyed_store):
    """Why the rewrite exists: updating in place (one transaction, checkpointed) keeps freed blocks."""
    db, folder, old = keyed_store
    with store_mod.opened(db) as st:
        rekey_mod.rekey(st, OLD.encode(), NEW.encode())
        st.con.execute("checkpoint")
        assert st.con.execute("select count(*) from episodes where person_key in "
                              f"({', '.join(repr(p.decode()) for p in old)})").fetchone()[0] == 0
        left = PK_RE.findall(db.read_bytes())
    assert old & set(left)


def test_rekey_leaves_no_old_pseudonym_in_any_byte_of_any_file(keyed_store, tmp_path):
    db, folder, old = keyed_store
    new_file = _write_key(tmp_path / "new.key", NEW + "\n")
    result, key_file = rekey_mod.rekey_store(db, new_file)
    assert result.pseudonyms == len(old) and result.warning is None
    found = pseudonyms_in_bytes(folder)
    assert not {name: hits & old for name, hits in found.items() if hits & old}
    # the new pseudonyms are there (the scan still sees text), in the store and the rebuilt snapshot
    new = {p.encode() for p in keys.pseudonymise_chain([p.decode() for p in old], NEW.encode())}
    assert found[db.name] & new and found[store_mod.snapshot_path(db).name] & new
    assert not list(folder.glob("*.rewrite.tmp*")) and not store_mod.wal_path(db).exists()
    # the store still works under the chain: settings, schema version, batches and audit kept
    with store_mod.opened(db) as st:
        assert st.setting("key_fingerprint") == key_fingerprint(keys.load_key(db))
        assert st.setting(store_mod.REWRITE_PENDING) is None
        assert store_mod.schema_version(st.con) == store_mod.latest_schema_version()
        assert st.con.execute("select count(*) from batches").fetchone()[0] == 3
        assert st.con.execute("select count(*) from episodes_history").fetchone()[0] == 1
        assert st.con.execute("select count(*) from quarantine").fetchone()[0] == 2
    assert key_file.read_text() == OLD + "\n" + NEW + "\n"


def test_rewrite_keeps_every_row_and_table(keyed_store):
    db, _, _ = keyed_store
    with store_mod.opened(db, read_only=True) as st:
        tables = [r[0] for r in st.con.execute("select table_name from information_schema.tables "
                                                "where table_schema = 'main' order by 1").fetchall()]
        before = {t: st.con.execute(f"select * from {t} order by all").fetchall() for t in tables}
    st = store_mod.open_store(db)
    st = store_mod.rewrite_store(st)
    try:
        after = {t: st.con.execute(f"select * from {t} order by all").fetchall() for t in tables}
    finally:
        st.close()
    assert after == before


def test_an_interrupted_rewrite_is_completed_at_the_next_write_open(keyed_store, monkeypatch):
    db, folder, old = keyed_store

    def crash(store):
        raise KeyboardInterrupt  # killed after the rekey committed, before the rewrite

    with store_mod.opened(db) as st:
        rekey_mod.rekey(st, OLD.encode(), NEW.encode())
    assert old & set().union(*pseudonyms_in_bytes(folder).values())
    with store_mod.opened(db, read_only=True) as st:   # readers do not rewrite
        assert st.setting(store_mod.REWRITE_PENDING) == "rekey"
    with store_mod.opened(db) as st:                    # the next writer does
        assert st.setting(store_mod.REWRITE_PENDING) is None
    assert not old & set().union(*pseudonyms_in_bytes(folder).values())


def test_a_failed_rewrite_leaves_the_store_file_as_it_was(keyed_store, monkeypatch):
    db, folder, _ = keyed_store
    st = store_mod.open_store(db)
    try:
        real = st.con

        class Failing:
            def execute(self, sql, *a, **k):
                if sql.startswith("copy from database"):
                    import duckdb
                    raise duckdb.IOException("IO Error: No space left on device")
                return real.execute(sql, *a, **k)

            def __getattr__(self, name):
                return getattr(real, name)

        st.con = Failing()
        with pytest.raises(StoreError, match="Could not rewrite store .* No space left on device"):
            store_mod.rewrite_store(st)
        st.con = real
        assert st.con.execute("select count(*) from episodes").fetchone()[0] == len(PEOPLE)
    finally:
        st.close()
    assert not list(folder.glob("*.rewrite.tmp*"))
