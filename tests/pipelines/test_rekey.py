"""Keys: refusals before anything is ingested, and ``rekey`` (chain design, one transaction, no key leaks)."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from analytics.errors import KeyFileError, StoreError
from analytics.privacy import key_fingerprint
from pipelines import cube as cube_mod, keys, rekey as rekey_mod, store as store_mod
from pipelines.ingest import ingest_file
from tests.conftest import EPISODE_HEADER, REPORT_HEADER, TEST_KEY, episode, report, run_cli, write_csv

OLD = "a" * 8 + "0123456789abcdef0123456789abcdef0123456789abcdef01234567"
NEW = "b" * 8 + "fedcba9876543210fedcba9876543210fedcba9876543210fedcba98"


def _write_key(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    os.chmod(path, mode)
    return path


# ------------------------------------------------------------------------------ key refusals

@pytest.fixture
def file_key(tmp_path, monkeypatch):
    """A store whose key lives in its key file (no $HOTSPOTS_KEY)."""
    monkeypatch.delenv("HOTSPOTS_KEY", raising=False)
    monkeypatch.delenv("HOTSPOTS_KEY_FILE", raising=False)
    db = tmp_path / "s.duckdb"
    key_file = _write_key(tmp_path / "s.duckdb.key", OLD + "\n")
    store_mod.init_store(db, key_fingerprint=key_fingerprint(OLD.encode()))
    return db, key_file


def test_key_file_is_read(file_key):
    db, _ = file_key
    assert keys.load_key(db) == OLD.encode()


def test_missing_key_is_a_clear_error(file_key):
    db, key_file = file_key
    key_file.unlink()
    with pytest.raises(KeyFileError) as info:
        keys.load_key(db)
    assert str(info.value) == (
        f"No pseudonymisation key: set HOTSPOTS_KEY or create the key file with: hotspots init --db {db}")


def test_world_readable_key_file_is_refused_with_the_chmod_hint(file_key):
    db, key_file = file_key
    os.chmod(key_file, 0o644)
    with pytest.raises(KeyFileError) as info:
        keys.load_key(db)
    assert str(info.value) == f"Key file {key_file} is readable by others (mode 644); run: chmod 600 {key_file}"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file regardless of its mode")
def test_unreadable_key_file_is_refused(file_key):
    db, key_file = file_key
    os.chmod(key_file, 0o000)
    with pytest.raises(KeyFileError, match=r"Cannot read key file .*: Permission denied\."):
        keys.load_key(db)


def test_unreadable_key_file_is_refused_even_for_root(file_key, monkeypatch):
    db, key_file = file_key

    def denied(self):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", denied)
    with pytest.raises(KeyFileError) as info:
        keys.load_key(db)
    assert str(info.value) == f"Cannot read key file {key_file}: Permission denied."


def test_key_file_that_is_a_directory_is_refused(file_key):
    db, key_file = file_key
    key_file.unlink()
    key_file.mkdir()
    with pytest.raises(KeyFileError) as info:
        keys.load_key(db)
    assert str(info.value) == f"Key file {key_file} is not a regular file."


@pytest.mark.parametrize("content, problem", [
    ("short\n", "a key is shorter than 32 characters."),
    ("", "it is empty."),
    ("\n\n", "it is empty."),
    ("a key with spaces in the middle of it, long enough\n", "a key contains spaces or control characters."),
    (OLD + "\n" + OLD + "\n", "the same key appears twice."),
])
def test_malformed_key_file_is_refused(file_key, content, problem):
    db, key_file = file_key
    _write_key(key_file, content)
    with pytest.raises(KeyFileError) as info:
        keys.load_key(db)
    assert str(info.value) == f"Key file {key_file} is malformed: {problem}"


def test_binary_key_file_is_refused(file_key):
    db, key_file = file_key
    key_file.write_bytes(b"\xff\xfe" + os.urandom(40))
    with pytest.raises(KeyFileError) as info:
        keys.load_key(db)
    assert str(info.value) == f"Key file {key_file} is malformed: it is not text (UTF-8)."


def test_multiline_environment_key_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("HOTSPOTS_KEY", OLD + "\n" + NEW)
    with pytest.raises(KeyFileError, match="HOTSPOTS_KEY must be one line"):
        keys.load_key(tmp_path / "s.duckdb")


@pytest.fixture
def cli(monkeypatch, capfd):
    """``cli(*args)``: ``hotspots ARGS`` in-process (:func:`tests.conftest.run_cli`, the console entry
    point's ``main``) without $HOTSPOTS_KEY, $HOTSPOTS_KEY_FILE or $HOTSPOTS_DB, so the store's key file is
    the key; returns ``returncode``, ``stdout`` and ``stderr`` like a finished process. Output is captured
    at the file descriptors (``capfd``), so what a library writes past ``sys.stdout`` is checked too."""
    def call(*args: str) -> SimpleNamespace:
        for name in ("HOTSPOTS_KEY", "HOTSPOTS_KEY_FILE", "HOTSPOTS_DB"):
            monkeypatch.delenv(name, raising=False)
        code, out, err = run_cli(monkeypatch, capfd, *args)
        return SimpleNamespace(returncode=code, stdout=out, stderr=err)
    return call


@pytest.mark.parametrize("damage, message", [
    ("delete", "No pseudonymisation key: set HOTSPOTS_KEY or create the key file with: hotspots init --db {db}"),
    ("chmod", "Key file {key} is readable by others (mode 644); run: chmod 600 {key}"),
    ("malformed", "Key file {key} is malformed: a key is shorter than 32 characters."),
])
def test_cli_ingest_with_a_bad_key_stops_before_anything_is_ingested(file_key, tmp_path, damage, message, cli):
    db, key_file = file_key
    if damage == "delete":
        key_file.unlink()
    elif damage == "chmod":
        os.chmod(key_file, 0o644)
    else:
        _write_key(key_file, "short\n")
    csv_path = write_csv(tmp_path / "r.csv", REPORT_HEADER, [report()])
    proc = cli("ingest", "reports", str(csv_path), "--db", str(db))
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert " ".join(proc.stderr.split()) == "Error: " + message.format(db=db, key=key_file)
    with store_mod.opened(db, read_only=True) as st:
        assert st.con.execute("select count(*) from batches").fetchone()[0] == 0
        assert st.con.execute("select count(*) from location_reports").fetchone()[0] == 0


# ------------------------------------------------------------------------------------ rekey

def _fill(st, key: bytes, tmp_path: Path) -> dict[str, Path]:
    files = {
        "episodes": write_csv(tmp_path / "e.csv", EPISODE_HEADER, [
            episode(), episode(episode_id="E2", person_ref="CHILD-REF-0002", placement_ref="HOME-REF-0007"),
            episode(episode_id="E3", person_ref="CHILD-REF-0003", age_years="25")]),  # quarantined
        "reports": write_csv(tmp_path / "r.csv", REPORT_HEADER, [
            report(), report(report_id="R2", person_ref="CHILD-REF-0002", lat="-33.8712"),
            report(report_id="R3", person_ref="CHILD-REF-0003", lat="99")]),  # quarantined
    }
    for kind, path in files.items():
        ingest_file(st, kind, path, key)
    # an update, so the history tables hold pseudonyms too
    files["episodes"] = write_csv(tmp_path / "e2.csv", EPISODE_HEADER, [episode(risk_level="low")])
    ingest_file(st, "episodes", files["episodes"], key)
    return files


def _person_keys(st) -> dict:
    return {
        "episodes": st.con.execute("select episode_id, person_key, placement_key from episodes order by 1").fetchall(),
        "reports": st.con.execute("select report_id, person_key from location_reports order by 1").fetchall(),
    }


def test_rekey_preserves_linkage_and_makes_reingest_a_no_op(store, tmp_path):
    old = TEST_KEY
    files = _fill(store, old, tmp_path)
    cube_mod.build_cube(store)
    cube_before = cube_mod.cube_frame(store)
    before = _person_keys(store)
    result = rekey_mod.rekey(store, old, NEW.encode())
    chain = old + b"\n" + NEW.encode()
    assert result.chain_length == 2 and result.pseudonyms == 5  # 3 young people + 2 placements
    assert store.setting("key_fingerprint") == key_fingerprint(chain)
    assert store.setting("key_chain") == f"{key_fingerprint(old)},{key_fingerprint(NEW.encode())}"
    after = _person_keys(store)
    # every pseudonym changed, and each old one maps to exactly HMAC(new, old)
    for table in before:
        for b, a in zip(before[table], after[table]):
            assert b[0] == a[0]
            for old_p, new_p in zip(b[1:], a[1:]):
                assert (old_p is None) == (new_p is None)
                if old_p:
                    assert new_p != old_p and new_p == keys.pseudonymise_chain([old_p], NEW.encode())[0]
    # the same young person is still one pseudonym across tables
    e1 = dict((r[0], r[1]) for r in after["episodes"])["E1"]
    assert dict(after["reports"])["R1"] == e1
    # re-ingesting the original files under the chain: all duplicates (linkage + row hashes intact)
    for kind, path in files.items():
        again = ingest_file(store, kind, path, chain)
        assert (again.accepted, again.updated) == (0, 0), (kind, again)
    # a new file about CHILD-REF-0001 links to the same pseudonym
    ingest_file(store, "reports", write_csv(tmp_path / "new.csv", REPORT_HEADER, [report(report_id="R9")]), chain)
    assert store.con.execute("select person_key from location_reports where report_id = 'R9'").fetchone()[0] == e1
    cube_mod.build_cube(store)
    after_cube = cube_mod.cube_frame(store)
    assert after_cube.drop(columns=[c for c in after_cube.columns if "report" in c]).equals(
        cube_before.drop(columns=[c for c in cube_before.columns if "report" in c]))


def test_rekey_rewrites_history_and_quarantine_and_leaves_no_old_pseudonym(store, tmp_path):
    _fill(store, TEST_KEY, tmp_path)
    old_ps = set(keys.pseudonymise_chain(
        ["CHILD-REF-0001", "CHILD-REF-0002", "CHILD-REF-0003", "HOME-REF-0042", "HOME-REF-0007"], TEST_KEY))
    dump_before = _dump(store)
    assert all(p in dump_before for p in old_ps)  # episodes, history, reports, quarantine
    result = rekey_mod.rekey(store, TEST_KEY, NEW.encode())
    assert result.rows["episodes_history.person_key"] == 1
    assert result.rows["quarantine.row_json.person_ref"] == 2
    dump = _dump(store)
    assert not [p for p in old_ps if p in dump]
    for p in keys.pseudonymise_chain(sorted(old_ps), NEW.encode()):
        assert p in dump


def test_rekey_is_one_transaction(store, tmp_path, monkeypatch):
    _fill(store, TEST_KEY, tmp_path)
    before = _dump(store)

    def boom(con):
        raise StoreError("simulated failure before commit")

    monkeypatch.setattr(rekey_mod, "_refuse_leftovers", boom)  # after every table was rewritten
    with pytest.raises(StoreError, match="simulated failure"):
        rekey_mod.rekey(store, TEST_KEY, NEW.encode())
    assert _dump(store) == before
    assert store.setting("key_fingerprint") == key_fingerprint(TEST_KEY)


def test_rekey_refuses_a_wrong_old_key_or_a_repeated_key(store, tmp_path):
    _fill(store, TEST_KEY, tmp_path)
    with pytest.raises(KeyFileError, match="The current key does not match the store's key; nothing was changed."):
        rekey_mod.rekey(store, OLD.encode(), NEW.encode())
    with pytest.raises(KeyFileError, match="already in the store's key chain"):
        rekey_mod.rekey(store, TEST_KEY, TEST_KEY)


def test_ingest_with_the_old_key_alone_after_rekey_is_refused(file_key, tmp_path):
    db, key_file = file_key
    new_file = _write_key(tmp_path / "new.key", NEW + "\n")
    with store_mod.opened(db) as st:
        _fill(st, OLD.encode(), tmp_path)
    rekey_mod.rekey_store(db, new_file)
    assert key_file.read_text() == OLD + "\n" + NEW + "\n"
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    with store_mod.opened(db) as st:
        with pytest.raises(KeyFileError, match="needs its key chain of 2 keys"):
            keys.check_key(OLD.encode(), st.setting("key_fingerprint"), db, st.setting("key_chain"))
        keys.check_key(keys.load_key(db), st.setting("key_fingerprint"), db)


def test_interrupted_rekey_names_the_pending_chain_file(file_key, tmp_path):
    db, key_file = file_key
    with store_mod.opened(db) as st:
        rekey_mod.rekey(st, OLD.encode(), NEW.encode())   # store rekeyed ...
    pending = _write_key(tmp_path / "s.duckdb.key.pending", OLD + "\n" + NEW + "\n")  # ... key file not yet moved
    with store_mod.opened(db) as st, pytest.raises(KeyFileError) as info:
        keys.check_key(keys.load_key(db), st.setting("key_fingerprint"), db)
    assert f"its new key chain is in {pending}: move it over {key_file}." in str(info.value)


def test_rekey_store_refuses_an_environment_key(monkeypatch, tmp_path, db_path):
    monkeypatch.setenv("HOTSPOTS_KEY", TEST_KEY.decode())
    with pytest.raises(KeyFileError, match="rekey works on key files: unset HOTSPOTS_KEY"):
        rekey_mod.rekey_store(db_path, _write_key(tmp_path / "new.key", NEW))


def test_rekey_store_refuses_a_world_readable_new_key(file_key, tmp_path):
    db, _ = file_key
    new_file = _write_key(tmp_path / "new.key", NEW, mode=0o644)
    with pytest.raises(KeyFileError) as info:
        rekey_mod.rekey_store(db, new_file)
    assert str(info.value) == f"New key file {new_file} is readable by others (mode 644); run: chmod 600 {new_file}"


def test_no_key_text_in_store_outputs_or_cli_output(file_key, tmp_path, cli):
    """Ingest, rekey, ingest again and export through the CLI; neither key appears anywhere."""
    db, key_file = file_key
    new_file = _write_key(tmp_path / "new.key", NEW + "\n")
    csv_path = write_csv(tmp_path / "r.csv", REPORT_HEADER,
                         [report(report_id=f"R{i}", lat=f"{-33.87 + i * 0.001:.4f}") for i in range(10)])
    outputs = []
    for args in (["ingest", "reports", str(csv_path), "--db", str(db), "--json"],
                 ["quarantine", "--db", str(db), "--json"]):
        proc = cli(*args)
        assert proc.returncode == 0, proc.stderr
        outputs.append(proc.stdout + proc.stderr)
    result, _ = rekey_mod.rekey_store(db, new_file)
    outputs.append(repr(result))
    cube_path = tmp_path / "cube.parquet"
    for args in (["ingest", "reports", str(csv_path), "--db", str(db), "--json"],
                 ["cube", "--db", str(db), "--out", str(cube_path)],
                 ["audit", "--db", str(db), "--json"]):
        proc = cli(*args)
        assert proc.returncode == 0, proc.stderr
        outputs.append(proc.stdout + proc.stderr)
    assert "\"duplicate\": 10" in outputs[3]  # linkage held across the rekey
    with store_mod.opened(db, read_only=True) as st:
        dump = _dump(st)
    blobs = [dump, *outputs, cube_path.read_bytes().decode("latin-1"), db.read_bytes().decode("latin-1")]
    wal = db.with_name(db.name + ".wal")
    if wal.exists():
        blobs.append(wal.read_bytes().decode("latin-1"))
    for secret in (OLD, NEW, OLD[:16], NEW[:16]):
        assert not [i for i, b in enumerate(blobs) if secret in b], secret


def _dump(st) -> str:
    tables = [r[0] for r in st.con.execute(
        "select table_name from information_schema.tables where table_schema = 'main' order by 1").fetchall()]
    return "".join(f"{t}:{st.con.execute(f'select * from {t} order by all').fetchall()}" for t in tables)
