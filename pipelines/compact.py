"""Rewrite a store into a fresh database file, so that deleted or replaced values leave no bytes behind.

Why: DuckDB keeps freed blocks. After an ``update`` or ``delete`` the old values stay in the
file (and, until a checkpoint, in its WAL) until the blocks happen to be reused, so a
``rekey`` or ``purge`` done in place would leave every old pseudonym or erased record
readable with ``strings``. :func:`rewrite_store` therefore copies every table into a new
file, fsyncs it and atomically replaces the store with it:

1. checkpoint the store (the WAL is folded in and removed);
2. ``ATTACH`` a new file ``<store>.rewrite.tmp`` (owner-only) and ``COPY FROM DATABASE``:
   every table with its definition and rows (schema version, settings, batches, audit...);
   the copy only inserts, so the new file holds live rows only;
3. check every table has the same number of rows in both, detach, fsync the file;
4. ``os.replace`` it over the store, remove any WAL left beside it, fsync the folder;
5. reopen. The caller then rebuilds the snapshot (:func:`replace_snapshot`).

The store's connection is held (and with it DuckDB's lock) until the new file is in
place, so no other writer can slip in between. A command that removes data marks the
store ``rewrite_pending`` in the same transaction; the mark is cleared in the new file
only, so a rewrite interrupted by a crash is completed the next time the store is
opened for writing (:func:`pipelines.store.open_store`).
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from analytics.errors import StoreError
from pipelines import private_files
from pipelines import store as store_mod
from pipelines.store import Store

#: Settings key set (in the same transaction) by a command whose removed values must leave the file.
REWRITE_PENDING = "rewrite_pending"
_ALIAS = "hotspots_rewrite_target"


def rewrite_path(db: Path) -> Path:
    """The temporary file a rewrite builds before it replaces the store: ``<store>.rewrite.tmp``."""
    return db.with_name(db.name + ".rewrite.tmp")


def mark_rewrite_pending(store: Store, reason: str) -> None:
    """Record, inside the caller's transaction, that the store must be rewritten (``rekey``, ``purge``)."""
    store.con.execute("delete from settings where key = $k", {"k": REWRITE_PENDING})
    store.con.execute("insert into settings values ($k, $v)", {"k": REWRITE_PENDING, "v": reason})


def _tables(con, catalog: str) -> list[str]:
    return [r[0] for r in con.execute(
        "select table_name from information_schema.tables where table_catalog = $c and table_schema = 'main' "
        "and table_type = 'BASE TABLE' order by 1", {"c": catalog}).fetchall()]


def _remove(path: Path) -> None:
    for p in (path, path.with_name(path.name + ".wal")):
        p.unlink(missing_ok=True)


def rewrite_store(store: Store) -> Store:
    """Rewrite ``store`` into a fresh file that replaces it (see the module docstring); return the
    store reopened on the new file. ``store`` is closed. Raises :class:`StoreError` and leaves the
    store as it was when the copy cannot be made (e.g. the disk is full)."""
    if store.read_only:
        raise StoreError("Rewriting the store needs a writable store.")
    db = Path(store.path)
    fresh = rewrite_path(db)
    con = store.con
    main = con.execute("select current_database()").fetchone()[0]
    try:
        con.execute("checkpoint")
        _remove(fresh)
        con.execute(f"attach '{str(fresh).replace(chr(39), chr(39) * 2)}' as {_ALIAS}")
        try:
            con.execute(f"copy from database \"{main}\" to {_ALIAS}")
            con.execute(f"delete from {_ALIAS}.settings where key = $k", {"k": REWRITE_PENDING})
            src, dst = _tables(con, main), _tables(con, _ALIAS)
            if src != dst:
                raise StoreError(f"Rewriting store {db} copied tables {dst}, expected {src}; the store file was left as it was.")
            for table in src:
                a = con.execute(f"select count(*) from \"{main}\".main.\"{table}\"").fetchone()[0]
                b = con.execute(f"select count(*) from {_ALIAS}.main.\"{table}\"").fetchone()[0]
                if table == "settings":
                    a -= con.execute("select count(*) from settings where key = $k", {"k": REWRITE_PENDING}
                                     ).fetchone()[0]
                if a != b:
                    raise StoreError(f"Rewriting store {db}: table {table} has {b} rows in the copy, {a} in the "
                                     f"store; the store file was left as it was.")
            con.execute(f"checkpoint {_ALIAS}")
        finally:
            con.execute(f"detach {_ALIAS}")
        private_files.make_private(fresh)
        private_files.fsync_file(fresh)
        if fresh.with_name(fresh.name + ".wal").exists():
            raise StoreError(f"Rewriting store {db}: the copy kept a write-ahead log; the store file was left as it was.")
    except (duckdb.Error, OSError) as exc:
        _remove(fresh)
        raise StoreError(f"Could not rewrite store {db} into a fresh file ({str(exc).splitlines()[0]}); "
                         f"the store is unchanged.") from exc
    except BaseException:
        _remove(fresh)
        raise
    # The old connection still holds the lock on the old file: replace first, then let go of it.
    os.replace(fresh, db)
    store_mod.wal_path(db).unlink(missing_ok=True)
    private_files.fsync_dir(db.parent)
    store.close()
    return store_mod.open_store(db)


def replace_snapshot(store: Store) -> str | None:
    """Rebuild ``<store>.snapshot`` from the rewritten store, or remove it when it cannot be
    written: an old snapshot must never keep what the rewrite removed. Returns None, or a
    one-line warning when the snapshot had to be removed."""
    snapshot = store_mod.snapshot_path(store.path)
    try:
        store_mod.publish_snapshot(store)
    except (OSError, duckdb.IOException) as exc:
        snapshot.unlink(missing_ok=True)
        reason = getattr(exc, "strerror", None) or str(exc).splitlines()[0]
        return (f"the snapshot could not be rebuilt ({reason}) and was removed: readers wait for writers "
                f"until the next ingest publishes one.")
    return None


def rewrite_and_snapshot(store: Store) -> tuple[Store, str | None]:
    """After a committed ``rekey``/``purge``: :func:`rewrite_store`, then :func:`replace_snapshot`.

    Returns the reopened store and an optional warning. When the rewrite fails the change stays
    committed, the store stays marked ``rewrite_pending`` (the next write open completes it) and
    the old snapshot, which still holds what was removed, is deleted before the error is raised."""
    try:
        store = rewrite_store(store)
    except StoreError as exc:
        store_mod.snapshot_path(store.path).unlink(missing_ok=True)
        raise StoreError(f"{exc} The change itself is committed; the rewrite is completed the next time the "
                         f"store is opened for writing (e.g. hotspots init --db {store.path}).") from exc
    return store, replace_snapshot(store)
