"""Re-pseudonymise a store under a new key, in one transaction, then rewrite it into a fresh file.

Why a chain and not a fresh start: the store never holds raw references, so nothing
can be re-hashed from scratch. ``rekey`` therefore maps every stored pseudonym ``p`` to
``HMAC(new_key, p)`` (the same ``pk_`` form) and the store's key becomes the chain
``old key, new key``: ingest applies the keys in order, ``HMAC(new, HMAC(old, raw))``,
which is exactly the rekeyed value, so one young person keeps one pseudonym before and
after (linkage is preserved). What a rekey buys: the stored pseudonyms can no longer be
recomputed from raw references with the old key alone (use it when the old key may have
leaked, or on a rotation schedule). What it does not: the old key is still needed to
ingest, so keep the chain file as safe as any key (it is one file, mode 0600).

Rewritten, in the one transaction: every ``person_key``/``placement_key`` column of every
table (current and history), the ``person_ref``/``placement_ref`` of quarantined rows
(``row_json``), the ``row_hash`` of every table whose content changed (so re-ingesting an
old file is still all duplicates), and the settings ``key_fingerprint`` / ``key_chain``.
Before committing, every text column of every table is searched for a left-over old
pseudonym; finding one rolls the whole rekey back. The keys never appear in any table,
message or log: only their fingerprints.

After the commit, :func:`rekey_store` rewrites the store into a fresh file
(:func:`pipelines.store.rewrite_store`) and rebuilds the snapshot: DuckDB keeps freed
blocks, so the updated-away pseudonyms would otherwise stay readable in the file's bytes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from analytics.errors import KeyFileError, StoreError
from analytics.privacy import key_fingerprint
from pipelines import private_files
from pipelines import keys as keys_mod
from pipelines import store as store_mod
from pipelines.ingest import LATE_COLUMNS, row_hash_sql, stored_columns
from pipelines.store import Store

PSEUDONYM_COLUMNS = ("person_key", "placement_key")
QUARANTINE_FIELDS = ("person_ref", "placement_ref")
_PSEUDONYM_RE = r"pk_[0-9a-f]{32}"


@dataclass(frozen=True)
class RekeyResult:
    """What a rekey changed (no key material: fingerprints only)."""

    pseudonyms: int                      # distinct pseudonyms mapped
    rows: dict[str, int]                 # table.column -> rows rewritten
    chain_length: int                    # keys in the chain after the rekey
    fingerprint: str                     # fingerprint of the new chain (settings.key_fingerprint)
    warning: str | None = None           # e.g. the snapshot could not be rebuilt (and was removed)


def _tables(con) -> list[str]:
    return [r[0] for r in con.execute(
        "select table_name from information_schema.tables "
        "where table_schema = 'main' and table_type = 'BASE TABLE' order by 1").fetchall()]


def _columns(con, table: str) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = 'main' and table_name = $t order by ordinal_position", {"t": table}).fetchall()]


def _old_pseudonyms(con) -> list[str]:
    parts = []
    for table in _tables(con):
        for col, _ in _columns(con, table):
            if col in PSEUDONYM_COLUMNS:
                parts.append(f"select {col} as p from {table} where {col} is not null")
    for field in QUARANTINE_FIELDS:
        parts.append(f"select json_extract_string(row_json, '$.{field}') as p from quarantine "
                     f"where json_extract_string(row_json, '$.{field}') is not null")
    sql = "select distinct p from (" + " union all ".join(parts) + ") where regexp_full_match(p, '" \
          + _PSEUDONYM_RE + "') order by p"
    return [r[0] for r in con.execute(sql).fetchall()]


def _hash_columns(con, table: str) -> list[str] | None:
    """The columns a table's row_hash covers (the current table's stored columns), or None."""
    cols = [c for c, _ in _columns(con, table)]
    if "row_hash" not in cols:
        return None
    base = table[: -len("_history")] if table.endswith("_history") else table
    return stored_columns(con, base)


def rekey(store: Store, old_key: bytes, new_key: bytes) -> RekeyResult:
    """Re-pseudonymise ``store`` from the chain ``old_key`` to ``old_key + new_key``; one transaction.

    ``old_key`` is the store's current key (chain, as ``keys.load_key`` returns it) and must
    match the store's fingerprint; ``new_key`` is one new key. Returns what changed.
    """
    if store.read_only:
        raise StoreError("rekey needs a writable store.")
    expected = store.setting("key_fingerprint")
    if expected and key_fingerprint(old_key) != expected:
        raise KeyFileError("The current key does not match the store's key; nothing was changed.")
    new_key = new_key.strip()
    keys_mod.check_key_text(new_key.decode("utf-8", "replace"), "The new key")
    if new_key in keys_mod.chain_keys(old_key):
        raise KeyFileError("The new key is already in the store's key chain; make a new random key.")
    chain = keys_mod.join_chain([*keys_mod.chain_keys(old_key), new_key])
    con = store.con
    rows: dict[str, int] = {}
    with store.transaction():
        old = _old_pseudonyms(con)
        new = keys_mod.pseudonymise_chain(old, new_key)  # one more HMAC: HMAC(new_key, p_old)
        con.register("rekey_map_df", pd.DataFrame({"old": old, "new": new}))
        try:
            con.execute("create temp table rekey_map as "
                        "select cast(old as varchar) as old, cast(new as varchar) as new from rekey_map_df")
        finally:
            con.unregister("rekey_map_df")
        changed_tables = set()
        for table in _tables(con):
            for col, _ in _columns(con, table):
                if col not in PSEUDONYM_COLUMNS:
                    continue
                n = con.execute(f"update {table} set {col} = m.new from rekey_map m where {table}.{col} = m.old"
                                ).fetchone()[0]
                rows[f"{table}.{col}"] = n
                changed_tables.add(table)
        for field in QUARANTINE_FIELDS:
            n = con.execute(
                f"update quarantine set row_json = replace(row_json, m.old, m.new) from rekey_map m "
                f"where json_extract_string(quarantine.row_json, '$.{field}') = m.old").fetchone()[0]
            rows[f"quarantine.row_json.{field}"] = n
        for table in sorted(changed_tables):
            cols = _hash_columns(con, table)
            if cols:
                late = LATE_COLUMNS.get(table.removesuffix("_history"), ())
                con.execute(f"update {table} set row_hash = {row_hash_sql(cols, late)}")
        _refuse_leftovers(con)
        for name, value in (("key_fingerprint", key_fingerprint(chain)),
                            ("key_chain", ",".join(keys_mod.chain_fingerprints(chain)))):
            con.execute("delete from settings where key = $k", {"k": name})
            con.execute("insert into settings values ($k, $v)", {"k": name, "v": value})
        store_mod.mark_rewrite_pending(store, "rekey")  # old pseudonyms stay in freed blocks until the rewrite
        con.execute("drop table rekey_map")
    return RekeyResult(len(old), rows, len(keys_mod.chain_keys(chain)), key_fingerprint(chain))


def _refuse_leftovers(con) -> None:
    """Roll back when any text column anywhere still holds an old pseudonym."""
    for table in _tables(con):
        for col, dtype in _columns(con, table):
            if dtype != "VARCHAR":
                continue
            hit = con.execute(
                f"select count(*) from (select unnest(regexp_extract_all({col}, '{_PSEUDONYM_RE}')) as p "
                f"from {table} where contains({col}, 'pk_')) x join rekey_map m on x.p = m.old").fetchone()[0]
            if hit:
                raise StoreError(f"rekey would leave {hit} old pseudonym(s) in {table}.{col}; "
                                 f"nothing was changed (please report this).")


def rekey_store(db_path: Path, new_key_file: Path) -> tuple[RekeyResult, Path]:
    """The ``hotspots rekey`` command: rekey the store at ``db_path`` with the key in ``new_key_file``.

    The current chain comes from the store's key file (``$HOTSPOTS_KEY`` is refused: a chain
    must live in a file). Order, so that no failure loses the ability to ingest: the new
    chain is written to ``<key file>.pending`` (0600), the store is rekeyed in one
    transaction, rewritten into a fresh file (:func:`pipelines.store.rewrite_store`: no old
    pseudonym stays in any byte of the store, its WAL or the snapshot, which is rebuilt), then
    the pending file atomically replaces the key file. Returns the result and the key file.
    """
    if os.environ.get(keys_mod.ENV_KEY) is not None:
        raise KeyFileError(f"rekey works on key files: unset {keys_mod.ENV_KEY}, put that key in "
                           f"{keys_mod.key_file_for(db_path)} (mode 0600) and run rekey again.")
    key_file = keys_mod.key_file_for(db_path)
    new_key = keys_mod.read_key_file(Path(new_key_file), "New key file")
    if len(keys_mod.chain_keys(new_key)) != 1:
        raise KeyFileError(f"New key file {new_key_file} must hold exactly one key.")
    st = store_mod.open_store(db_path)
    try:
        old_key = keys_mod.load_key(db_path)
        keys_mod.check_key(old_key, st.setting("key_fingerprint"), db_path, st.setting("key_chain"))
        if new_key in keys_mod.chain_keys(old_key):
            raise KeyFileError("The new key is already in the store's key chain; make a new random key.")
        pending = key_file.with_name(key_file.name + ".pending")
        pending.unlink(missing_ok=True)
        with private_files.private_open(pending, "xb") as fh:
            fh.write(keys_mod.join_chain([*keys_mod.chain_keys(old_key), new_key]) + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            result = rekey(st, old_key, new_key)
        except BaseException:
            pending.unlink(missing_ok=True)
            raise
        try:  # committed: from here on the chain file must replace the key file whatever happens
            st, warning = store_mod.rewrite_and_snapshot(st)
        finally:
            os.replace(pending, key_file)
            private_files.fsync_dir(key_file.parent)
    finally:
        st.close()
    if warning:
        result = RekeyResult(result.pseudonyms, result.rows, result.chain_length, result.fingerprint, warning)
    return result, key_file
