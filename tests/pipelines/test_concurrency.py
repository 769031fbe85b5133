"""Concurrency: what a second process sees while another one holds the store.

DuckDB locks the store file per process: one writing process excludes everyone else
(writers AND read-only readers); several read-only processes may share it. Measured:
a read-only connection while another process holds the write connection fails with
"Could not set lock on file". So readers (weekly, evaluate, cube, quarantine, audit) do
not run during an ingest: they get the same clear one-line message and exit code 1, and
are simply run again afterwards. Copying the file as a "snapshot" while a writer holds it
is not done: the writer may be checkpointing, and a copy of the file (without, or with a
different moment of, its WAL) can be torn or silently stale.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from analytics.errors import StoreError
from pipelines import store as store_mod
from tests.conftest import REPORT_HEADER, TEST_KEY, report, write_csv

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


def _in_use(db: Path) -> str:
    return f"Error: Store {db} is in use by another process; wait for it to finish and try again."


def test_second_writer_cli_gets_one_clear_line_and_exit_1(db_path, holder, tmp_path):
    holder(read_only=False)
    path = write_csv(tmp_path / "r.csv", REPORT_HEADER, [report()])
    proc = _cli("ingest", "reports", str(path), "--db", str(db_path))
    assert proc.returncode == 1
    assert " ".join(proc.stderr.split()) == _in_use(db_path)
    assert "Traceback" not in proc.stderr + proc.stdout


def test_store_is_unchanged_after_a_refused_second_writer(db_path, holder, tmp_path):
    proc_holder = holder(read_only=False)
    path = write_csv(tmp_path / "r.csv", REPORT_HEADER, [report()])
    assert _cli("ingest", "reports", str(path), "--db", str(db_path)).returncode == 1
    proc_holder.kill()
    proc_holder.wait()
    with store_mod.opened(db_path, read_only=True) as st:
        assert st.con.execute("select count(*) from batches").fetchone()[0] == 0
    assert _cli("ingest", "reports", str(path), "--db", str(db_path)).returncode == 0  # works once free


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
