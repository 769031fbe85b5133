"""Crash safety: SIGKILL ``hotspots ingest`` at random moments on a large file.

After every kill the store must open, pass the store checks (sql/checks), hold either no
batch of the file or exactly the complete batch (never part of one), and a re-run of the
ingest must give a cube identical to an uninterrupted run. Both variants are marked slow
(about a minute each; `make test-slow`, which CI runs): one kills at 3 chosen phases, the other
at 12 random moments.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from analytics.privacy import key_fingerprint
from pipelines import cube as cube_mod, store as store_mod
from pipelines.checks import run_checks
from pipelines.ingest import ingest_file
from pipelines.synthesize import write_synthetic_city
from tests.conftest import TEST_KEY

ROOT = Path(__file__).resolve().parents[2]
N_REPORTS = 300_000
COUNTS = ("n_read", "n_accepted", "n_updated", "n_duplicate", "n_rejected")
TABLES = ("location_reports", "location_reports_history", "quarantine")


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("HOTSPOTS_DB", "HOTSPOTS_KEY_FILE")}
    env["HOTSPOTS_KEY"] = TEST_KEY.decode()
    return env


def _ingest_cmd(big: Path, db: Path) -> list[str]:
    return [sys.executable, "-m", "pipelines", "ingest", "reports", str(big), "--db", str(db)]


def _state(db: Path) -> tuple[list, dict, pd.DataFrame | None]:
    """(report batches' counts, table row counts, cube or None) of a store; runs the store checks."""
    with store_mod.opened(db) as st:
        failed = [(c.name, c.sample) for c in run_checks(st.con, cube=False) if c.failures]
        assert failed == [], failed
        batches = st.con.execute(
            f"select {', '.join(COUNTS)} from batches where kind = 'reports' order by batch_id").fetchall()
        tables = {t: st.con.execute(f"select count(*) from {t}").fetchone()[0] for t in TABLES}
        cube = None
        if batches:
            cube_mod.build_cube(st)
            cube = cube_mod.cube_frame(st)
    return batches, tables, cube


@pytest.fixture(scope="module")
def big_city(tmp_path_factory):
    """A large SYNTHETIC reports file, a store holding only its boundary, and an uninterrupted run."""
    folder = tmp_path_factory.mktemp("crash")
    paths = write_synthetic_city(folder / "city", seed=11, scale=N_REPORTS, fmt="csv")
    template = folder / "template.duckdb"
    store_mod.init_store(template, key_fingerprint=key_fingerprint(TEST_KEY))
    with store_mod.opened(template) as st:
        ingest_file(st, "boundary", paths["boundary"], TEST_KEY)
        st.con.execute("checkpoint")
    reference = folder / "reference.duckdb"
    shutil.copy(template, reference)
    started = time.monotonic()
    proc = subprocess.run(_ingest_cmd(paths["location_reports"], reference), env=_env(), cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    duration = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    batches, tables, cube = _state(reference)
    assert len(batches) == 1 and batches[0][0] > N_REPORTS
    return {"big": paths["location_reports"], "template": template, "duration": duration,
            "batches": batches, "tables": tables, "cube": cube, "folder": folder}


def _kill_and_check(big_city, trial: int, fraction: float) -> str:
    """Kill the ingest ``fraction`` x (duration of an uninterrupted run) after it starts."""
    db = big_city["folder"] / f"trial{trial}.duckdb"
    for stale in (db, db.with_name(db.name + ".wal")):
        stale.unlink(missing_ok=True)
    shutil.copy(big_city["template"], db)
    delay = fraction * big_city["duration"]
    proc = subprocess.Popen(_ingest_cmd(big_city["big"], db), env=_env(), cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    finished_before_kill = proc.poll() is not None
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)

    batches, tables, _ = _state(db)                 # opens (replays the WAL) and passes the checks
    if batches:                                     # committed: exactly the complete batch
        assert batches == big_city["batches"]
        assert tables == big_city["tables"]
        outcome = "committed"
    else:                                           # not committed: nothing of it at all
        assert tables == {t: 0 for t in TABLES}
        outcome = "rolled back"
    with store_mod.opened(db) as st:                # re-run the ingest
        ingest_file(st, "reports", big_city["big"], TEST_KEY)
    batches, tables, cube = _state(db)
    read, accepted, updated, duplicate, rejected = big_city["batches"][0]
    if outcome == "committed":                      # the re-run is all duplicates (bad rows quarantined again)
        assert batches == big_city["batches"] + [(read, 0, 0, accepted + duplicate, rejected)]
        assert tables == dict(big_city["tables"], quarantine=2 * big_city["tables"]["quarantine"])
    else:
        assert batches == big_city["batches"]
        assert tables == big_city["tables"]
    pd.testing.assert_frame_equal(cube, big_city["cube"])
    for stale in (db, db.with_name(db.name + ".wal")):
        stale.unlink(missing_ok=True)
    return f"kill at {delay:.2f}s: {outcome}{' (had finished)' if finished_before_kill else ''}"


@pytest.mark.slow
def test_sigkill_during_ingest_fast(big_city):
    # start-up/raw load, the transaction, around the commit (process start-up is ~40 % of a run)
    rng = random.Random(20250601)
    fractions = [rng.uniform(0.3, 0.6), rng.uniform(0.6, 0.9), rng.uniform(0.9, 1.1)]
    outcomes = [_kill_and_check(big_city, i, f) for i, f in enumerate(fractions)]
    print("\n".join(outcomes))


@pytest.mark.slow
def test_sigkill_during_ingest_many(big_city):
    rng = random.Random(7)
    outcomes = [_kill_and_check(big_city, 100 + i, rng.uniform(0.0, 1.15)) for i in range(12)]
    print("\n".join(outcomes))
