"""Open, create and migrate the DuckDB store; register the SQL macros and H3 functions.

The store is one DuckDB file. ``sql/schema/NNN_*.sql`` are migrations applied in order
and recorded in ``schema_migrations``; a store made by a newer version of the tool is
refused rather than misread. Settings fixed at init (H3 resolution, time zone, key
fingerprint) live in the ``settings`` table.
"""

from __future__ import annotations

import os
import re
import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import duckdb
import duckdb.sqltypes as T
import h3
import h3.api.numpy_int as h3n
import numpy as np
import pyarrow as pa

from analytics import __version__ as TOOL_VERSION
from analytics import grid
from analytics.errors import StoreError
from analytics.privacy import normalise_ref
from analytics.timezones import DEFAULT_TIMEZONE
from pipelines import private_files
from pipelines.resources import shipped_dir
from pipelines.sqlrunner import run_sql

DEFAULT_DB = "hotspots.duckdb"
_MIGRATION_RE = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")
#: Macros in dependency order (each file is one ``create temp macro``).
_MACROS = (
    "clean", "blank", "as_double", "reject", "norm_enum", "parse_bool", "bool_problem", "dmy_like", "excel_like", "parse_ts",
    "bad_utc_offset", "naive_local", "clock_minutes",
    "too_long", "ts_problem", "coord_problem", "enum_problem", "iso_week", "iso_week_label",
    "vocab_value", "vocab_recoded", "flag_recoded", "as_age", "date_only", "ambiguous_local", "date_only_problem",
    "id_problem",
)


def resolve_db_path(db: str | Path | None) -> Path:
    """The store path: ``--db`` if given, else ``$HOTSPOTS_DB``, else ``./hotspots.duckdb``."""
    return Path(db or os.environ.get("HOTSPOTS_DB") or DEFAULT_DB)


def migrations() -> list[tuple[int, str]]:
    """Shipped migrations as (version, relative path), in order."""
    found = []
    for path in sorted((shipped_dir("sql") / "schema").iterdir()):
        m = _MIGRATION_RE.match(path.name)
        if m:
            found.append((int(m.group(1)), f"schema/{path.name}"))
    return found


def latest_schema_version() -> int:
    """Schema version this tool writes."""
    return migrations()[-1][0]


@dataclass
class Store:
    """An open store: its path, connection and fixed settings."""

    path: Path
    con: duckdb.DuckDBPyConnection
    resolution: int
    timezone: str
    read_only: bool
    notice: str | None = None   # set when a reader fell back to the published snapshot

    def setting(self, key: str) -> str | None:
        row = self.con.execute("select value from settings where key = ?", [key]).fetchone()
        return row[0] if row else None

    def close(self) -> None:
        self.con.close()
        if not self.read_only and getattr(self, "_holds_umask", False):
            self._holds_umask = False
            private_files.release_owner_only_umask()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One transaction: commit on success, roll back on any error."""
        self.con.execute("begin transaction")
        try:
            yield
        except BaseException:
            self.con.execute("rollback")
            raise
        self.con.execute("commit")


def spill_dir(db: Path) -> Path:
    """DuckDB's spill folder for a store: ``<store>.tmp/`` beside it, owner-only (0700)."""
    return db.with_name(db.name + ".tmp")


def wal_path(db: Path) -> Path:
    """DuckDB's write-ahead log of a store: ``<store>.wal``."""
    return db.with_name(db.name + ".wal")


def not_a_store_error(path: Path, text: str) -> StoreError:
    """The one-line error for a store file DuckDB cannot read (garbage bytes, a damaged block)."""
    return StoreError(f"Store {path} is not a readable DuckDB store ({text.splitlines()[0]}); "
                      f"restore it from a backup or point --db at the right file.")


def is_corruption(exc: BaseException) -> bool:
    """True when a DuckDB error says the store file is damaged (not a user's query problem)."""
    text = str(exc)
    return isinstance(exc, duckdb.Error) and (any(s in text for s in (
        "Corrupt database file", "not a valid DuckDB database file", "Failed to read database header"))
        or ("checksum" in text and "block" in text))


def _connect(path: Path, read_only: bool, spill: Path | None = None) -> duckdb.DuckDBPyConnection:
    """Connect with the spill folder ``spill`` (default: beside ``path``) created owner-only."""
    config = {}
    spill = spill or spill_dir(path)
    try:
        private_files.ensure_private_dir(spill)
        config["temp_directory"] = str(spill)
    except OSError:
        if not read_only:  # a writer must be able to spill privately
            raise StoreError(f"Cannot create the store's spill folder {spill}; check the folder's permissions.")
    try:
        return duckdb.connect(str(path), read_only=read_only, config=config)
    except duckdb.IOException as exc:
        text = str(exc)
        if "lock" in text.lower():
            raise StoreError(
                f"Store {path} is in use by another process; wait for it to finish and try again."
            ) from exc
        if is_corruption(exc):
            raise not_a_store_error(path, text) from exc
        raise StoreError(f"Cannot open store {path}: {text.splitlines()[0]}") from exc
    except duckdb.Error as exc:
        if is_corruption(exc):
            raise not_a_store_error(path, str(exc)) from exc
        raise StoreError(f"Cannot open store {path}: {str(exc).splitlines()[0]}") from exc


def _h3_cell_udf(lat: pa.Array, lon: pa.Array, res: pa.Array) -> pa.Array:
    """Arrow UDF: H3 cell (uint64) of each point; null where lat/lon is null."""
    lat_np = lat.to_numpy(zero_copy_only=False).astype(np.float64)
    lon_np = lon.to_numpy(zero_copy_only=False).astype(np.float64)
    valid = np.isfinite(lat_np) & np.isfinite(lon_np)
    resolutions = np.unique(res.to_numpy(zero_copy_only=False)) if len(res) else np.array([9])
    if len(resolutions) != 1:
        raise StoreError("h3_cell() needs one resolution per query.")
    out = np.zeros(len(lat_np), dtype=np.uint64)
    if valid.any():
        out[valid] = grid.latlng_to_cells(lat_np[valid], lon_np[valid], int(resolutions[0]))
    return pa.array(out, mask=~valid, type=pa.uint64())


def _h3_hex_to_cell(value: str | None) -> int | None:
    try:  # h3 raises (with an empty message) on text that is not hex at all
        return h3.str_to_int(value) if value is not None and h3.is_valid_cell(value) else None
    except (ValueError, TypeError, h3.H3BaseException):
        return None


def _h3_cell_to_hex(value: int | None) -> str | None:
    return None if value is None else h3.int_to_str(int(value))


def _h3_cell_to_parent(value: int | None, res: int) -> int | None:
    if value is None:
        return None
    if h3n.get_resolution(int(value)) < res:
        return None
    return h3n.cell_to_parent(int(value), res)


def register_functions(con: duckdb.DuckDBPyConnection, tz: str) -> None:
    """Session set-up: time zone, SQL macros and the H3 functions (no DuckDB extension needed)."""
    con.execute(f"set TimeZone = '{tz}'")
    try:  # progress is the CLI's job (rich), not DuckDB's; in Jupyter DuckDB refuses the setting
        con.execute("set enable_progress_bar = false")
    except duckdb.Error:
        pass
    for name in _MACROS:
        run_sql(con, f"macros/{name}.sql")
    con.create_function("h3_cell", _h3_cell_udf, [T.DOUBLE, T.DOUBLE, T.INTEGER], T.UBIGINT,
                        type="arrow", null_handling="special")
    con.create_function("normalise_ref", normalise_ref, [T.VARCHAR], T.VARCHAR)
    con.create_function("h3_hex_to_cell", _h3_hex_to_cell, [T.VARCHAR], T.UBIGINT, null_handling="special")
    con.create_function("h3_cell_to_hex", _h3_cell_to_hex, [T.UBIGINT], T.VARCHAR, null_handling="special")
    con.create_function("h3_cell_to_parent", _h3_cell_to_parent, [T.UBIGINT, T.INTEGER], T.UBIGINT,
                        null_handling="special")


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    """Highest applied migration, or 0 for an empty database."""
    exists = con.execute(
        "select count(*) from information_schema.tables where table_name = 'schema_migrations'"
    ).fetchone()[0]
    if not exists:
        return 0
    return con.execute("select coalesce(max(version), 0) from schema_migrations").fetchone()[0]


def migrate(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Apply pending migrations in one transaction; return the versions applied."""
    current = schema_version(con)
    pending = [(v, rel) for v, rel in migrations() if v > current]
    if not pending:
        return []
    con.execute("begin transaction")
    try:
        for version, rel in pending:
            run_sql(con, rel)
            con.execute(
                "insert into schema_migrations values (?, ?, ?, ?)",
                [version, Path(rel).name, datetime.now(timezone.utc), TOOL_VERSION],
            )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return [v for v, _ in pending]


def init_store(
    path: Path, resolution: int | None = None, tz: str | None = None,
    key_fingerprint: str | None = None,
) -> tuple[Path, list[int]]:
    """Create (or migrate) the store at ``path``; return (path, migrations applied).

    ``resolution`` and ``tz`` are fixed when the store is made (defaults: H3 9, Australia/Sydney).
    On an existing store, None keeps its settings and a different value is refused
    (:class:`StoreError` naming the store's settings): weeks, cells and the study area already
    stored were made with them.
    """
    if resolution is not None:
        grid.check_resolution(resolution)
    path.parent.mkdir(parents=True, exist_ok=True)
    private_files.acquire_owner_only_umask()  # the new file and its WAL are created 0600
    try:
        con = _connect(path, read_only=False)
    except BaseException:
        private_files.release_owner_only_umask()
        raise
    try:
        _make_store_files_private(path)
        _refuse_newer(con, path)
        applied = migrate(con)
        _refuse_other_settings(con, path, resolution, tz)
        defaults = {"resolution": str(grid.DEFAULT_RESOLUTION if resolution is None else resolution),
                    "timezone": tz or DEFAULT_TIMEZONE, "created_with": TOOL_VERSION}
        if key_fingerprint:
            defaults["key_fingerprint"] = key_fingerprint
        for key, value in defaults.items():
            if not con.execute("select 1 from settings where key = ?", [key]).fetchone():
                con.execute("insert into settings values (?, ?)", [key, value])
    except duckdb.Error as exc:
        if is_corruption(exc):
            raise not_a_store_error(path, str(exc)) from exc
        raise
    finally:
        con.close()
        private_files.release_owner_only_umask()
    return path, applied


def _refuse_other_settings(con: duckdb.DuckDBPyConnection, path: Path, resolution: int | None,
                           tz: str | None) -> None:
    """Refuse ``init --res/--tz`` values that differ from an existing store's settings."""
    stored = dict(con.execute(
        "select key, value from settings where key in ('resolution', 'timezone')").fetchall())
    asked = {"resolution": None if resolution is None else str(resolution), "timezone": tz}
    clash = [k for k, v in asked.items() if v is not None and k in stored and stored[k] != v]
    if clash:
        wanted = [f"--{'res' if k == 'resolution' else 'tz'} {asked[k]}" for k in clash]
        raise StoreError(
            f"Store {path} already exists with resolution {stored.get('resolution')} and time zone "
            f"{stored.get('timezone')}; {' and '.join(wanted)} cannot change it. Create a new store for other "
            f"settings (hotspots init --db NEW.duckdb {' '.join(wanted)}) and ingest into it.")


def _make_store_files_private(db: Path) -> None:
    """Tighten a store made before files were owner-only: store, WAL and snapshot 0600."""
    for p in (db, wal_path(db), snapshot_path(db)):
        try:
            private_files.make_private(p)
        except PermissionError:  # not the owner: leave it (the owner's next write fixes it)
            pass


def _refuse_newer(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    version = schema_version(con)
    if version > latest_schema_version():
        raise StoreError(
            f"Store {path} has schema version {version}, made by a newer safeguard-hotspots; "
            f"this version ({TOOL_VERSION}) understands up to {latest_schema_version()}. Upgrade the tool."
        )


def open_store(path: str | Path | None = None, read_only: bool = False) -> Store:
    """Open an existing, up-to-date store (run ``hotspots init`` first to create or migrate it)."""
    db = resolve_db_path(path)
    if not db.exists():
        raise StoreError(f"No store at {db}; create one with: hotspots init --db {db}")
    notice = None
    if not read_only:  # a writer's files (WAL, spill files) are created owner-only
        private_files.acquire_owner_only_umask()
    try:
        con = _connect(db, read_only=read_only)
        if not read_only:
            _make_store_files_private(db)
    except StoreError as exc:
        if not read_only:
            private_files.release_owner_only_umask()
        snapshot = snapshot_path(db)
        if not (read_only and "in use by another process" in str(exc) and snapshot.exists()):
            raise
        # its own spill folder: the writer (another process) spills into <store>.tmp/
        con = _connect(snapshot, read_only=True, spill=snapshot.with_name(snapshot.name + ".spill"))
        taken = datetime.fromtimestamp(snapshot.stat().st_mtime, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        notice = (f"Store {db} is being written by another process; reading its snapshot of {taken} "
                  f"(the state after the last completed ingest).")
    try:
        _refuse_newer(con, db)
        version = schema_version(con)
        if version < latest_schema_version():
            if read_only:
                raise StoreError(f"Store {db} needs migrating; run: hotspots init --db {db}")
            migrate(con)
        settings = dict(con.execute("select key, value from settings").fetchall())
        store = Store(db, con, int(settings.get("resolution", grid.DEFAULT_RESOLUTION)),
                      settings.get("timezone", DEFAULT_TIMEZONE), read_only, notice)
        register_functions(con, store.timezone)
    except BaseException as exc:
        con.close()
        if not read_only:
            private_files.release_owner_only_umask()
        if is_corruption(exc):
            raise not_a_store_error(db, str(exc)) from exc
        raise
    store._holds_umask = not read_only
    if not read_only and store.setting("rewrite_pending"):  # a rekey/purge was interrupted before its rewrite
        try:
            store = rewrite_store(store)
        except BaseException:
            store.close()
            raise
        replace_snapshot(store)
    return store


def snapshot_path(db: Path) -> Path:
    """Where a store's read-only snapshot lives: ``<store>.snapshot`` beside it."""
    return db.with_name(db.name + ".snapshot")


def publish_snapshot(store: Store) -> Path:
    """After a completed write: checkpoint, then copy the store to ``<store>.snapshot`` atomically.

    DuckDB admits no reader while another process writes, so readers (weekly, evaluate,
    cube...) that find the store locked open this snapshot instead and say so. It is taken
    by the writer itself at a quiet moment (all transactions committed and checkpointed),
    so it is never torn; it holds the same pseudonymised data as the store, so it is
    written owner-only (0600) and fsynced before it replaces the old one. On any error the
    temporary copy is removed and the error raised (see :func:`refresh_snapshot`).
    """
    store.con.execute("checkpoint")
    target = snapshot_path(store.path)
    tmp = target.with_name(target.name + ".tmp")
    try:
        with open(store.path, "rb") as src, private_files.private_open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
            dst.flush()
            os.fsync(dst.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    private_files.fsync_dir(target.parent)
    return target


def refresh_snapshot(store: Store) -> str | None:
    """:func:`publish_snapshot` after a committed write, for commands whose write already
    succeeded: a failure to write the snapshot (a full disk) is not the command's failure.
    Returns None, or a one-line warning ("committed; snapshot not refreshed: ...") when the
    snapshot could not be written (its temporary file removed; the old snapshot, if any, is kept
    -- readers that fall back to it see the state before this write, and say when it was taken)."""
    try:
        publish_snapshot(store)
    except (OSError, duckdb.IOException) as exc:
        reason = getattr(exc, "strerror", None) or str(exc).splitlines()[0]
        return (f"committed; snapshot not refreshed ({reason}): readers that find the store busy see the "
                f"previous snapshot until the next write succeeds.")
    return None


# ------------------------------------------------------------------ rewriting the store into a fresh file
# Why: DuckDB keeps freed blocks. After an ``update`` or ``delete`` the old values stay in the file
# (and, until a checkpoint, in its WAL) until the blocks happen to be reused, so a ``rekey`` or
# ``purge`` done in place would leave every old pseudonym or erased record readable with ``strings``.
# :func:`rewrite_store` therefore copies every table into a new file, fsyncs it and atomically
# replaces the store with it (details in its docstring). It lives here, beside :func:`open_store`,
# because opening a store marked ``rewrite_pending`` completes the interrupted rewrite.

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
    """Rewrite ``store`` into a fresh file that replaces it; return the store reopened on the new
    file. ``store`` is closed. Raises :class:`StoreError` and leaves the store as it was when the
    copy cannot be made (e.g. the disk is full).

    1. checkpoint the store (the WAL is folded in and removed);
    2. ``ATTACH`` a new file ``<store>.rewrite.tmp`` (owner-only) and ``COPY FROM DATABASE``:
       every table with its definition and rows (schema version, settings, batches, audit...);
       the copy only inserts, so the new file holds live rows only;
    3. check every table has the same number of rows in both, detach, fsync the file;
    4. ``os.replace`` it over the store, remove any WAL left beside it, fsync the folder;
    5. reopen. The caller then rebuilds the snapshot (:func:`replace_snapshot`).

    The store's connection is held (and with it DuckDB's lock) until the new file is in place, so
    no other writer can slip in between. A command that removes data marks the store
    ``rewrite_pending`` (:func:`mark_rewrite_pending`) in the same transaction; the mark is
    cleared in the new file only, so a rewrite interrupted by a crash is completed the next time
    the store is opened for writing (:func:`open_store`)."""
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
    wal_path(db).unlink(missing_ok=True)
    private_files.fsync_dir(db.parent)
    store.close()
    return open_store(db)


def replace_snapshot(store: Store) -> str | None:
    """Rebuild ``<store>.snapshot`` from the rewritten store, or remove it when it cannot be
    written: an old snapshot must never keep what the rewrite removed. Returns None, or a
    one-line warning when the snapshot had to be removed."""
    snapshot = snapshot_path(store.path)
    try:
        publish_snapshot(store)
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
        snapshot_path(store.path).unlink(missing_ok=True)
        raise StoreError(f"{exc} The change itself is committed; the rewrite is completed the next time the "
                         f"store is opened for writing (e.g. hotspots init --db {store.path}).") from exc
    return store, replace_snapshot(store)


@contextmanager
def opened(path: str | Path | None = None, read_only: bool = False) -> Iterator[Store]:
    """Context manager around :func:`open_store` that always closes the connection."""
    store = open_store(path, read_only=read_only)
    try:
        yield store
    finally:
        store.close()
