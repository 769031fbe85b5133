"""The session state of one ingest: its temp relations (dropped also after a failure) and
DuckDB's memory cap while it runs."""

from __future__ import annotations

import re
from contextlib import contextmanager
from typing import Iterator

import duckdb

from pipelines.ingest.read import _literal

#: DuckDB's memory cap while a file is ingested (a lower configured limit is kept): past it,
#: temp tables spill to the store's temp directory, keeping a 10 M-row ingest under 4 GB.
INGEST_MEMORY_LIMIT_BYTES = 2_500_000_000


def _raw_relations(con, kind: str) -> list[str]:
    """The temp tables and views holding raw rows of ``kind``: raw, base and pseudonym maps."""
    return [f"raw_{kind}", f"base_{kind}"] + [r[0] for r in con.execute(
        "select table_name from information_schema.tables where table_catalog = 'temp' "
        "and starts_with(table_name, $p)", {"p": f"pseudonyms_{kind}_"}).fetchall()]


def _drop_temps(con, names: list[str]) -> None:
    """Drop the named temp tables or views that exist (views first: they read the tables)."""
    kinds = dict(con.execute(
        "select table_name, table_type from information_schema.tables where table_catalog = 'temp'").fetchall())
    for name in sorted((n for n in names if n in kinds), key=lambda n: kinds[n] != "VIEW"):
        con.execute(f"drop {'view' if kinds[name] == 'VIEW' else 'table'} {name}")


def _drop_temp(con, kind: str) -> None:
    """Drop every temp relation of an ingest of ``kind`` (also after a failure)."""
    _drop_temps(con, _raw_relations(con, kind) + [f"stg_{kind}", f"cls_{kind}"])
    con.execute(f"drop macro if exists row_hash_{kind}")
    try:
        con.unregister("raw_file_df")
    except duckdb.Error:
        pass


_SIZE_UNITS = {"": 1, "b": 1, "bytes": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
               "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def _setting_bytes(text: str) -> float:
    """DuckDB's text of a size setting ('18.8 GiB', '2.5 GB') in bytes (inf when unparseable)."""
    match = re.fullmatch(r"\s*([\d.]+)\s*([A-Za-z]*)\s*", text)
    unit = match and _SIZE_UNITS.get(match.group(2).lower())
    return float(match.group(1)) * unit if unit else float("inf")


@contextmanager
def _memory_capped(con) -> Iterator[None]:
    """Lower DuckDB's memory_limit to INGEST_MEMORY_LIMIT_BYTES for the block (a lower limit
    already set is kept) and restore it after: a large file then spills to the store's temp
    directory instead of growing the process past the 4 GB target of issue 6."""
    before = con.execute("select current_setting('memory_limit')").fetchone()[0]
    if _setting_bytes(before) <= INGEST_MEMORY_LIMIT_BYTES:
        yield
        return
    con.execute(f"set memory_limit = '{INGEST_MEMORY_LIMIT_BYTES}B'")
    try:
        yield
    finally:  # the setting's text is rounded: reset gives the exact default, the text anything else
        con.execute("reset memory_limit")
        if con.execute("select current_setting('memory_limit')").fetchone()[0] != before:
            con.execute(f"set memory_limit = {_literal(before)}")
