"""Owner-only files whatever the umask (issue 12 §7) and faults that leave nothing half-done (§8)."""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from analytics.privacy import key_fingerprint
from pipelines import keys, layout, private_files, publish, store as store_mod
from pipelines.ingest import ingest_file
from pipelines.privacy_scan import ANALYST_ONLY_FILES, SHARED_FILES, Finding
from tests.conftest import REPORT_HEADER, TEST_KEY, report, write_csv
from tests.pipelines.test_cli import run
from tests.pipelines.test_weekly import sample_weekly

ROOT = Path(__file__).resolve().parents[2]
UMASKS = [0o022, 0o000]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(params=UMASKS, ids=lambda u: f"umask{u:03o}")
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    return sample_weekly(tmp_path_factory)


@pytest.fixture
def sample_copy(sample, tmp_path):
    """A private copy of the ingested SYNTHETIC sample store and a fast config."""
    db = tmp_path / "store" / "s.duckdb"
    db.parent.mkdir()
    shutil.copyfile(sample["db"], db)
    config = tmp_path / "hotspots.toml"
    config.write_text("[hotspots]\nscan_replicates = 0\n")
    return db, config, sample["week"]


def _weekly(monkeypatch, capsys, db, config, week, out, *extra):
    return run(monkeypatch, capsys, "weekly", "--db", str(db), "--week", week, "--out", str(out),
               "--config", str(config), *extra)


# ------------------------------------------------------------------------------------ §7 modes

def test_private_helpers_ignore_the_umask(umask, tmp_path):
    f = tmp_path / "store.duckdb.errors.log"
    with private_files.private_open(f, "a") as fh:
        fh.write("trace\n")
    assert mode(f) == 0o600
    loose = tmp_path / "old.log"
    loose.write_text("x")
    os.chmod(loose, 0o644)
    with private_files.private_open(loose, "a") as fh:   # an existing file is tightened before writing
        fh.write("y")
    assert mode(loose) == 0o600 and loose.read_text() == "xy"
    d = private_files.ensure_private_dir(tmp_path / "a" / "spill")
    assert mode(d) == 0o700
    with private_files.owner_only_umask():
        (tmp_path / "made_by_other_code").write_text("z")
    assert mode(tmp_path / "made_by_other_code") == 0o600
    (tmp_path / "after").write_text("z")
    assert mode(tmp_path / "after") == 0o666 & ~umask   # the umask is restored


def test_store_wal_snapshot_spill_folder_and_key_are_owner_only(umask, tmp_path):
    db = tmp_path / "s.duckdb"
    key_file = keys.key_file_for(db)
    assert keys.create_key_file(key_file)
    key = keys.load_key(db)
    store_mod.init_store(db, key_fingerprint=key_fingerprint(key))
    csv_path = write_csv(tmp_path / "r.csv", REPORT_HEADER, [report(report_id=f"R{i}") for i in range(5)])
    with store_mod.opened(db) as st:
        ingest_file(st, "reports", csv_path, key)
        assert store_mod.wal_path(db).exists()   # committed, not yet checkpointed: the WAL holds the rows
        assert mode(store_mod.wal_path(db)) == 0o600
        store_mod.publish_snapshot(st)
    for path in (db, store_mod.snapshot_path(db), key_file):
        assert mode(path) == 0o600, path
    assert mode(store_mod.spill_dir(db)) == 0o700
    assert (tmp_path / "later.txt").write_text("x") and mode(tmp_path / "later.txt") == 0o666 & ~umask


def test_an_old_world_readable_store_is_tightened_by_its_next_writer(tmp_path):
    db = tmp_path / "s.duckdb"
    store_mod.init_store(db, key_fingerprint=key_fingerprint(TEST_KEY))
    os.chmod(db, 0o644)
    with store_mod.opened(db, read_only=True):
        assert mode(db) == 0o644                      # readers change nothing
    with store_mod.opened(db):
        pass
    assert mode(db) == 0o600


def test_published_week_shared_files_follow_the_umask_analyst_folder_is_owner_only(umask, tmp_path):
    """The publish step on a staged folder (fast): the same code the weekly run uses."""

    class Run:
        outputs: dict = {}
        out_dir = None

    with publish.staged_folder(tmp_path / "out") as stage:
        assert mode(stage.folder) == 0o700                      # nothing readable while staged
        layout.prepare_folder(stage.folder)
        for name in SHARED_FILES + ANALYST_ONLY_FILES:
            layout.file_path(stage.folder, name).write_text("{}" if name.endswith("json") else "x")
        run_ = Run()
        run_.outputs = {k: str(layout.output_path(stage.folder, k)) for k in layout.OUTPUT_FILES}
        final = stage.publish("2026-W20", run_)
    assert final == tmp_path / "out" / "2026-W20" and run_.out_dir == final
    assert mode(final) == 0o777 & ~umask
    for name in SHARED_FILES:
        assert (final / name).is_file() and mode(final / name) == 0o666 & ~umask, name
    assert mode(final / layout.ANALYST_DIR) == 0o700
    for name in ANALYST_ONLY_FILES:
        path = layout.file_path(final, name)
        assert path.parent == final / layout.ANALYST_DIR and mode(path) == 0o600, name
    assert all(v.startswith(str(final)) for v in run_.outputs.values())
    assert not list((tmp_path / "out").glob(".weekly-*"))


def test_every_output_path_comes_from_the_layout():
    assert set(layout.OUTPUT_FILES.values()) == set(SHARED_FILES) | set(ANALYST_ONLY_FILES)
    for name in SHARED_FILES:
        assert layout.relative_path(name) == name
    for name in ANALYST_ONLY_FILES:
        assert layout.relative_path(name) == f"{layout.ANALYST_DIR}/{name}"
    assert layout.relative_path("something_new.parquet").startswith(layout.ANALYST_DIR)  # safe side


@pytest.mark.slow  # weekly runs with faults injected (10-30 s each); CI runs the slow suite
def test_weekly_end_to_end_modes_with_umask_000(sample_copy, tmp_path, monkeypatch, capsys):
    db, config, week = sample_copy
    old = os.umask(0o000)
    try:
        code, out, err = _weekly(monkeypatch, capsys, db, config, week, tmp_path / "out", "--format", "gpkg")
    finally:
        os.umask(old)
    assert code == 0, err
    final = tmp_path / "out" / week
    assert sorted(p.name for p in final.iterdir()) == sorted([*SHARED_FILES, layout.ANALYST_DIR])
    assert all(mode(final / n) == 0o666 for n in SHARED_FILES)
    sub = final / layout.ANALYST_DIR
    assert mode(sub) == 0o700 and all(mode(p) == 0o600 for p in sub.iterdir())
    meta = json.loads(layout.output_path(final, "run").read_text())
    assert all(str(final) in v for v in meta["outputs"].values())   # run.json names the published paths
    assert not list((tmp_path / "out").glob(".*"))                   # no temporary folder left


# ------------------------------------------------------------------------------------ §8 faults

@pytest.mark.slow  # weekly runs with faults injected (10-30 s each); CI runs the slow suite
def test_failed_privacy_check_publishes_nothing_and_keeps_the_last_good_folder(sample_copy, tmp_path, monkeypatch,
                                                                                capsys):
    db, config, week = sample_copy
    out = tmp_path / "out"
    code, _, err = _weekly(monkeypatch, capsys, db, config, week, out)
    assert code == 0, err
    good = {p.relative_to(out / week): p.read_bytes() for p in (out / week).rglob("*") if p.is_file()}
    from pipelines import privacy_scan
    monkeypatch.setattr(privacy_scan, "scan_outputs", lambda *a, **k: [
        Finding("report.html", "person_ref", "pk_abc… (35 chars)", "offset 10")])
    code, _, err = _weekly(monkeypatch, capsys, db, config, week, out)
    assert code == 1
    lines = [ln for ln in err.splitlines() if ln.startswith("Error:")]
    assert len(lines) == 1 and "nothing was published" in lines[0]
    # the destination still holds the earlier, scanned run, byte for byte
    assert {p.relative_to(out / week): p.read_bytes() for p in (out / week).rglob("*") if p.is_file()} == good
    withheld = publish.withheld_path(out, week)
    assert mode(withheld) == 0o700 and all(mode(p) == 0o600 for p in withheld.rglob("*") if p.is_file())
    assert not list(out.glob(".weekly-*"))


@pytest.mark.slow  # a whole weekly run through the CLI (94 s at load 10), as the two below; CI runs the slow suite
def test_failed_privacy_check_on_a_new_week_leaves_no_shared_file(sample_copy, tmp_path, monkeypatch, capsys):
    db, config, week = sample_copy
    out = tmp_path / "out"
    from pipelines import privacy_scan
    monkeypatch.setattr(privacy_scan, "scan_outputs", lambda *a, **k: [
        Finding("patrol_plan.csv", "placement_coordinate", "-33.87…", "row 1")])
    code, _, err = _weekly(monkeypatch, capsys, db, config, week, out)
    assert code == 1 and "Traceback" not in err
    assert not (out / week).exists()
    assert not [p for p in out.rglob("*") if p.name in SHARED_FILES and not p.is_relative_to(
        publish.withheld_path(out, week))]


@pytest.mark.slow  # weekly runs with faults injected (10-30 s each); CI runs the slow suite
def test_an_exception_mid_run_leaves_no_partial_folder(sample_copy, tmp_path, monkeypatch):
    db, config, week = sample_copy
    out = tmp_path / "out"
    from pipelines import weekly as weekly_mod

    def boom(*a, **k):
        raise RuntimeError("simulated crash while drawing the maps")

    monkeypatch.setattr(weekly_mod, "patrol_map", boom)
    with store_mod.opened(db, read_only=True) as st, pytest.raises(RuntimeError, match="simulated crash"):
        weekly_mod.run_weekly(st, week, out, config={"hotspots": {"scan_replicates": 0}})
    assert out.is_dir() and list(out.iterdir()) == []


@pytest.mark.slow  # weekly runs with faults injected (10-30 s each); CI runs the slow suite
def test_a_full_disk_mid_run_is_one_line_and_leaves_nothing(sample_copy, tmp_path, monkeypatch, capsys):
    db, config, week = sample_copy
    out = tmp_path / "out"
    from pipelines import weekly as weekly_mod

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device", "patrol_map.html")

    monkeypatch.setattr(weekly_mod, "patrol_map", full)
    code, _, err = _weekly(monkeypatch, capsys, db, config, week, out)
    assert code == 1 and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert " ".join(err.split()) == (f"Error: Writing the weekly outputs failed: No space left on device "
                                     f"(patrol_map.html); nothing was published to {out}.")
    assert list(out.iterdir()) == []


def test_a_stale_temporary_folder_of_a_killed_run_is_removed(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    stale = out / f"{publish.STAGE_PREFIX}{proc.pid}-abc"
    stale.mkdir()
    (stale / "report.html").write_text("unscanned")
    with publish.staged_folder(out):
        pass
    assert not stale.exists() and list(out.iterdir()) == []


def test_out_that_is_a_file_is_one_line(sample_copy, tmp_path, monkeypatch, capsys):
    db, config, week = sample_copy
    target = tmp_path / "out.txt"
    target.write_text("not a folder")
    code, _, err = _weekly(monkeypatch, capsys, db, config, week, target)
    assert code == 1
    assert " ".join(err.split()) == (f"Error: --out {target} is a file, not a folder; give a folder for the "
                                     f"week's outputs.")


def test_out_that_cannot_be_written_is_one_line(sample_copy, tmp_path, monkeypatch, capsys):
    db, config, week = sample_copy
    out = tmp_path / "ro"
    out.mkdir()
    if os.geteuid() == 0:   # root writes anywhere: simulate the refusal the kernel gives other users
        def denied(*a, **k):
            raise PermissionError(errno.EACCES, "Permission denied")
        monkeypatch.setattr(publish.tempfile, "mkdtemp", denied)
    else:
        os.chmod(out, 0o555)
    try:
        code, _, err = _weekly(monkeypatch, capsys, db, config, week, out)
    finally:
        os.chmod(out, 0o755)
    assert code == 1
    assert " ".join(err.split()) == f"Error: Cannot write to the output folder {out}: Permission denied."


def test_full_disk_after_ingest_committed_is_a_warning_not_an_error(tmp_path, monkeypatch, capsys, key_env):
    db = tmp_path / "s.duckdb"
    store_mod.init_store(db, key_fingerprint=key_fingerprint(TEST_KEY))
    csv_path = write_csv(tmp_path / "r.csv", REPORT_HEADER, [report(report_id=f"R{i}") for i in range(3)])

    def full_disk(src, dst, length=0):
        dst.write(src.read(100))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store_mod.shutil, "copyfileobj", full_disk)
    code, out, err = run(monkeypatch, capsys, "ingest", "reports", str(csv_path), "--db", str(db), "--json")
    assert code == 0, err
    assert json.loads(out)[0]["accepted"] == 3
    assert err.strip().splitlines() == [
        "Warning: committed; snapshot not refreshed (No space left on device): readers that find the store busy "
        "see the previous snapshot until the next write succeeds."]
    assert not [p for p in tmp_path.glob("*.tmp") if p.is_file()] and not store_mod.snapshot_path(db).exists()
    with store_mod.opened(db, read_only=True) as st:
        assert st.con.execute("select count(*) from location_reports").fetchone()[0] == 3
        outcome = st.con.execute("select outcome from audit where command = 'ingest'").fetchone()[0]
    assert outcome.startswith("ok; warning: committed; snapshot not refreshed")


def _corrupt(db: Path, how: str) -> None:
    if how == "garbage":
        db.write_bytes(os.urandom(64 * 1024))
    else:  # a valid header, damaged data blocks
        data = bytearray(db.read_bytes())
        start = 3 * 4096 * 64  # past the headers (DuckDB blocks are 256 KiB)
        for off in range(start, len(data), 4096):
            data[off:off + 64] = os.urandom(64)
        db.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["garbage", "damaged_blocks"])
def test_a_corrupted_store_is_one_line_for_every_command(sample_copy, tmp_path, monkeypatch, capsys, key_env, how):
    db, config, week = sample_copy
    _corrupt(db, how)
    csv_path = write_csv(tmp_path / "r.csv", REPORT_HEADER, [report()])
    for args in (["cube", "--db", str(db), "--out", str(tmp_path / "c.parquet")],
                 ["weekly", "--db", str(db), "--week", week, "--out", str(tmp_path / "o"), "--config", str(config)],
                 ["ingest", "reports", str(csv_path), "--db", str(db)]):
        code, _, err = run(monkeypatch, capsys, *args)
        text = " ".join(err.split())
        assert code == 1, (args[0], err)
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1, (args[0], err)
        assert text.startswith(f"Error: Store {db} is not a readable DuckDB store"), (args[0], err)


def test_a_corrupted_store_is_one_line_in_a_real_process(tmp_path):
    db = tmp_path / "s.duckdb"
    db.write_bytes(os.urandom(64 * 1024))
    env = {k: v for k, v in os.environ.items() if k not in ("HOTSPOTS_DB",)}
    env["HOTSPOTS_KEY"] = TEST_KEY.decode()
    proc = subprocess.run([sys.executable, "-m", "pipelines", "cube", "--db", str(db), "--out",
                           str(tmp_path / "c.parquet")], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=120)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert " ".join(proc.stderr.split()).startswith(f"Error: Store {db} is not a readable DuckDB store")
