"""Concurrency: what a second process sees while another one holds the store.

DuckDB locks the store file per process: one writing process excludes everyone else
(writers AND read-only readers); several read-only processes may share it. Measured:
a read-only connection while another process holds the write connection fails with
"Could not set lock on file". So the writer publishes a snapshot (``<store>.snapshot``)
after every completed ingest, at a quiet moment (committed and checkpointed, so never
torn); readers (weekly, evaluate, cube, quarantine, audit) that find the store locked
read that snapshot and say so. Without a snapshot they get the clear one-line message
and exit code 1. A second writer always gets that message.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from analytics.errors import StoreError
from pipelines import store as store_mod
from tests.conftest import REPORT_HEADER, TEST_KEY, report, run_cli, write_csv

ROOT = Path(__file__).resolve().parents[2]


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("HOTSPOTS_DB", "HOTSPOTS_KEY_FILE")}
    env["HOTSPOTS_KEY"] = TEST_KEY.decode()
    return env


@pytest.fixture
def holder(db_path):
    """Start a process that holds the store open (read_only or not) until the test ends."""
    procs = []

    def start(read_only: bool) -> subprocess.Popen:
        code = (f"from pipelines import store; import time; s = store.open_store({str(db_path)!r}, "
                f"read_only={read_only}); print('ready', flush=True); time.sleep(60)")
        proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=_env(), stdout=subprocess.PIPE, text=True)
        procs.append(proc)
        assert proc.stdout.readline().strip() == "ready"
        return proc

    yield start
    for proc in procs:
        proc.kill()
        proc.wait()


def _cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipelines", *args], cwd=ROOT, env=_env(),
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def in_process(monkeypatch, capsys):
    """``in_process(*args, key=True)``: ``hotspots ARGS`` in this process (:func:`tests.conftest.run_cli`),
    with the environment :func:`_env` gives (the test key in $HOTSPOTS_KEY; none with ``key=False``), for
    the steps where no other process holds the store; returns (exit code, stdout, stderr)."""
    def call(*args: str, key: bool = True) -> tuple[int, str, str]:
        for name in ("HOTSPOTS_DB", "HOTSPOTS_KEY_FILE", "HOTSPOTS_KEY"):
            monkeypatch.delenv(name, raising=False)
        if key:
            monkeypatch.setenv("HOTSPOTS_KEY", TEST_KEY.decode())
        return run_cli(monkeypatch, capsys, *args)
    return call


def _in_use(db: Path) -> str:
    return f"Error: Store {db} is in use by another process; wait for it to finish and try again."


def test_second_writer_cli_gets_one_clear_line_and_exit_1(db_path, holder, tmp_path):
    holder(read_only=False)
    path = write_csv(tmp_path / "r.csv", REPORT_HEADER, [report()])
    proc = _cli("ingest", "reports", str(path), "--db", str(db_path))
    assert proc.returncode == 1
    assert " ".join(proc.stderr.split()) == _in_use(db_path)
    assert "Traceback" not in proc.stderr + proc.stdout


def test_store_is_unchanged_after_a_refused_second_writer(db_path, holder, tmp_path, in_process):
    proc_holder = holder(read_only=False)
    path = write_csv(tmp_path / "r.csv", REPORT_HEADER, [report()])
    assert _cli("ingest", "reports", str(path), "--db", str(db_path)).returncode == 1
    proc_holder.kill()
    proc_holder.wait()
    with store_mod.opened(db_path, read_only=True) as st:
        assert st.con.execute("select count(*) from batches").fetchone()[0] == 0
    assert in_process("ingest", "reports", str(path), "--db", str(db_path))[0] == 0  # works once free


@pytest.mark.parametrize("command", [["quarantine"], ["audit"], ["cube", "--out", "{tmp}/cube.parquet"]])
def test_reader_cli_during_a_write_gets_the_same_clear_message(db_path, holder, tmp_path, command):
    holder(read_only=False)
    args = [a.replace("{tmp}", str(tmp_path)) for a in command]
    proc = _cli(*args, "--db", str(db_path))
    assert proc.returncode == 1
    assert " ".join(proc.stderr.split()) == _in_use(db_path)
    assert "Traceback" not in proc.stderr


def test_read_only_open_during_a_write_is_a_store_error(db_path, holder):
    """The library call the readers use: a StoreError (never a DuckDB exception)."""
    holder(read_only=False)
    with pytest.raises(StoreError) as info:
        store_mod.open_store(db_path, read_only=True)
    assert str(info.value) == f"Store {db_path} is in use by another process; wait for it to finish and try again."


def test_readers_share_the_store(db_path, holder):
    holder(read_only=True)
    proc = _cli("quarantine", "--db", str(db_path), "--json")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
    with store_mod.opened(db_path, read_only=True) as st:
        assert st.con.execute("select count(*) from batches").fetchone()[0] == 0


def test_writer_during_a_read_gets_the_clear_message(db_path, holder, tmp_path):
    holder(read_only=True)
    path = write_csv(tmp_path / "r.csv", REPORT_HEADER, [report()])
    proc = _cli("ingest", "reports", str(path), "--db", str(db_path))
    assert proc.returncode == 1
    assert " ".join(proc.stderr.split()) == _in_use(db_path)


def test_ingest_publishes_a_snapshot_that_readers_use_during_a_write(db_path, holder, tmp_path, in_process):
    path = write_csv(tmp_path / "r.csv", REPORT_HEADER, [report(), report(report_id="R2", lat="0", lon="0")])
    assert in_process("ingest", "reports", str(path), "--db", str(db_path))[0] == 0
    assert store_mod.snapshot_path(db_path).is_file()
    holder(read_only=False)  # an ingest is running now
    proc = _cli("quarantine", "--db", str(db_path), "--json")
    assert proc.returncode == 0, proc.stderr
    assert [r["record_id"] for r in __import__("json").loads(proc.stdout)] == ["R2"]
    assert "is being written by another process; reading its snapshot of" in " ".join(proc.stderr.split())
    with store_mod.opened(db_path, read_only=True) as st:
        assert st.notice and st.con.execute("select count(*) from location_reports").fetchone()[0] == 1


def test_rekey_refreshes_the_snapshot(tmp_path, in_process):
    """After a rekey the snapshot holds the new pseudonyms, never the old ones."""
    import duckdb
    db = tmp_path / "s.duckdb"
    key_file = tmp_path / "s.duckdb.key"
    run = lambda *a: in_process(*a, key=False)  # noqa: E731  (the key is the store's key file)
    assert run("init", "--db", str(db))[0] == 0
    path = write_csv(tmp_path / "r.csv", REPORT_HEADER, [report()])
    assert run("ingest", "reports", str(path), "--db", str(db))[0] == 0
    new_key = tmp_path / "new.key"
    new_key.write_text("n" * 64 + "\n")
    new_key.chmod(0o600)
    code, _, stderr = run("rekey", "--new-key-file", str(new_key), "--db", str(db))
    assert code == 0, stderr
    keys = {}
    for name, p in (("store", db), ("snapshot", store_mod.snapshot_path(db))):
        con = duckdb.connect(str(p), read_only=True)
        keys[name] = con.execute("select distinct person_key from location_reports").fetchall()
        con.close()
    assert keys["store"] == keys["snapshot"] and key_file.is_file()
