"""The session's shared sample store is built once however many processes ask at the same time."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

from tests.conftest import build_once


def _slow_build(folder: Path) -> None:
    log = folder.parent / "builds.log"
    with open(log, "a") as fh:
        fh.write("built\n")
    time.sleep(0.3)  # long enough for the other processes to arrive while it builds
    (folder / "data.txt").write_text("complete")


def _ask(root: str, out) -> None:
    ready = build_once(Path(root), "thing", _slow_build)
    out.put((str(ready), (ready / "data.txt").read_text()))


def test_build_once_builds_once_for_concurrent_processes(tmp_path):
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    procs = [ctx.Process(target=_ask, args=(str(tmp_path), out)) for _ in range(4)]
    for p in procs:
        p.start()
    got = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert all(p.exitcode == 0 for p in procs)
    assert (tmp_path / "builds.log").read_text() == "built\n"
    assert got == [(str(tmp_path / "thing"), "complete")] * 4
    assert not list(tmp_path.glob("thing.building-*"))


def test_a_failed_build_leaves_no_finished_folder_and_the_next_ask_builds(tmp_path):
    def broken(folder: Path) -> None:
        (folder / "half.txt").write_text("half")
        raise RuntimeError("disk full")

    try:
        build_once(tmp_path, "thing", broken)
    except RuntimeError:
        pass
    assert not (tmp_path / "thing").exists()
    ready = build_once(tmp_path, "thing", lambda folder: (folder / "data.txt").write_text("complete"))
    assert (ready / "data.txt").read_text() == "complete" and not (ready / "half.txt").exists()


def test_a_copied_new_store_is_what_init_store_makes(tmp_path, db_path):
    """``db_path`` / ``new_store`` copy one store made per session: the copy holds what a fresh
    ``init_store`` makes (settings, applied migrations, tables) and is owner-only with its spill folder."""
    from analytics.privacy import key_fingerprint
    from pipelines import store as store_mod
    from tests.conftest import TEST_KEY

    fresh = tmp_path / "fresh" / "store.duckdb"
    store_mod.init_store(fresh, key_fingerprint=key_fingerprint(TEST_KEY))

    def content(db: Path) -> tuple:
        with store_mod.opened(db, read_only=True) as st:
            q = st.con.execute
            return (q("select * from settings order by all").fetchall(),
                    q("select version, name from schema_migrations order by version").fetchall(),
                    q("select table_name, column_name, data_type from information_schema.columns "
                      "where table_schema = 'main' order by all").fetchall())

    made = content(fresh)
    assert made[0] and made[1] and made[2] and content(db_path) == made
    for db in (db_path, fresh):
        assert db.stat().st_mode & 0o777 == 0o600
        assert store_mod.spill_dir(db).stat().st_mode & 0o777 == 0o700
