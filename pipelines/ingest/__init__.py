"""Ingest input files into the store: load -> pseudonymise -> validate -> index -> dedupe/upsert.

One file is one batch and one transaction: an error half-way leaves the store as it
was. Every row read is accounted for as accepted, updated, duplicate or rejected
(quarantined with a machine-readable reason), and ``read == accepted + updated +
duplicate + rejected`` is checked before the batch commits. A file that cannot be
trusted at all (unreadable, missing required columns, identifying columns) is refused
whole with a message naming the file and the problem.

Validation rules and H3 indexing live in ``sql/staging/stg_<kind>.sql`` (and the macros
they call); this module runs them and does the generic bookkeeping (raw load, pseudonyms,
dedupe, history, batches).

Scale (issue 6: 10 M reports in <= 20 s, <= 4 GB): nothing is done row by row in Python
and wide rows are written once. A Parquet file is never copied into a raw table: staging
streams it through a view (``file_row_number`` numbers the rows) and its typed double and
timestamptz columns skip the text round trip (the macros give them the outcome their text
would). Pseudonyms are computed once per distinct reference and joined in; H3 and the row
hash are computed in the same staging pass (H3 on whole vectors); the classification table
is narrow (row, id, outcome) and the stored rows are copied once, from the staging table.
DuckDB's memory is capped during an ingest (``INGEST_MEMORY_LIMIT_BYTES``) so a very large
file spills to the store's temp directory instead of growing the process.

What is refused whole (``RefusedFileError``, store unchanged) rather than row by row:

* an empty file; a CSV that is not UTF-8 (the message names the byte offset and line);
  a CSV whose header repeats a column; a semicolon-delimited CSV (the delimiter is pinned
  to ``,`` -- ``\t`` for ``.tsv`` -- and never sniffed, because a sniffer that guesses
  wrong shifts columns silently); a row with the wrong number of fields or an
  unterminated quote (the message names the line); a line over ``MAX_LINE_BYTES``;
* a truncated or corrupt Parquet file (checked by its ``PAR1`` magic bytes);
* missing required columns or identifying columns (see ``_map_columns``);
* coordinates that look swapped: every located row is outside the study area (or has a
  latitude beyond +-90) but would be inside with lat and lon exchanged.

A UTF-8 byte-order mark is accepted (the header is normalised). A header-only file is a
valid, empty batch (read = 0). Dates: ``date_order`` says how d/m/y text is read (see
``contracts.DATE_ORDERS``); spreadsheet day numbers (45717.5) are rejected as
``excel_serial_date`` unless ``excel_dates=True`` converts them (local time).

The steps live in the modules of this package, by job: :mod:`~pipelines.ingest.kinds` (the input
kinds and how each is stored), :mod:`~pipelines.ingest.read` (reading and refusing files),
:mod:`~pipelines.ingest.raw` (the contract's columns as ``base_<kind>``), :mod:`~pipelines.ingest.stage`
(staging, swapped coordinates, the row hash), :mod:`~pipelines.ingest.classify` (outcomes,
quarantine, accounting, hints) and :mod:`~pipelines.ingest.temps` (temp relations, memory cap).
This module pseudonymises and runs them: :func:`ingest_file`, one file as one transaction.
Every name importable from ``pipelines.ingest`` before the split still is.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Sequence

import duckdb
import pandas as pd

from analytics import contracts
from analytics.contracts import InputContract
from analytics.errors import HotspotError, InvalidInputError, RefusedFileError, StoreError
from analytics.privacy import normalise_ref
from pipelines import column_mapping, geo_inputs, tz_check
from pipelines.batches import BatchResult, next_batch_id, record_batch
from pipelines.column_mapping import ColumnMapping
from pipelines.keys import pseudonymise_chain
from pipelines.store import Store
from pipelines.ingest.kinds import KIND_ALIASES, SPECS, KindSpec, resolve_kind
from pipelines.ingest.read import (GEO_SUFFIXES, PARQUET_SUFFIXES, POINT_KINDS, SUPPORTED_FILES, TABULAR_SUFFIXES,
                                   _file_suffix, _quote, _source, file_sha256)
from pipelines.ingest.raw import TYPED_PASSTHROUGH, _build_raw_kind, _map_columns
from pipelines.ingest.stage import (FUTURE_TOLERANCE, LATE_COLUMNS, _refuse_swapped, _refusing_unreadable, _stage,
                                    row_hash_sql, stored_columns)
from pipelines.ingest.classify import (QUARANTINE_FIELD_CHARS, SYNTHETIC_PREFIX, _classify, _count_adjustments,
                                       _count_read, _hints, _insert_quarantine, _summarise)
from pipelines.ingest.temps import (INGEST_MEMORY_LIMIT_BYTES, _drop_temp, _drop_temps, _memory_capped,
                                    _raw_relations)
from pipelines.ingest.temps import _setting_bytes  # noqa: F401  (re-exported: tests read it)

__all__ = ["FUTURE_TOLERANCE", "GEO_SUFFIXES", "INGEST_MEMORY_LIMIT_BYTES", "KIND_ALIASES", "LATE_COLUMNS",
           "PARQUET_SUFFIXES", "POINT_KINDS", "QUARANTINE_FIELD_CHARS", "SPECS", "SUPPORTED_FILES",
           "SYNTHETIC_PREFIX", "TABULAR_SUFFIXES", "TYPED_PASSTHROUGH", "BatchResult", "ColumnMapping", "KindSpec",
           "file_sha256", "ingest_file", "ingest_files", "partial_ingest_error", "pseudonymise_chain",
           "resolve_kind", "row_hash_sql", "stored_columns"]

#: A control character in an identifier (NUL, C0, DEL, C1): rejected as ``bad_id:<col>``.
_CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f]")


def _pseudonym_table(con, kind: str, col: str, key: bytes) -> str | None:
    """Temp table ``pseudonyms_<kind>_<col>`` (raw, pseudonym) over the distinct references of
    ``col``, or None when the column is empty. The keyed HMAC runs once per distinct value
    (references repeat a lot), never once per row."""
    values = [r[0] for r in con.execute(
        f"select distinct clean({col}) from base_{kind} where clean({col}) is not null").fetchall()]
    if not values:
        return None
    table = f"pseudonyms_{kind}_{col}"
    # a reference that normalises to nothing (only zero-width characters) maps to '' (staging: missing)
    named = [v for v in values if normalise_ref(v)]
    pseudonyms = dict(zip(named, pseudonymise_chain(named, key)))
    frame = pd.DataFrame({"raw": values, "pseudonym": [pseudonyms.get(v, "") for v in values],
                          "control": [bool(_CONTROL_RE.search(v)) for v in values]})
    con.register("pseudonym_map_df", frame)
    try:
        con.execute(f"create or replace temp table {table} as select * from pseudonym_map_df")
    finally:
        con.unregister("pseudonym_map_df")
    return table


def _pseudonymise_raw(con, kind: str, contract: InputContract, key: bytes) -> None:
    """View ``raw_<kind>``: ``base_<kind>`` with person/placement references replaced by their
    keyed pseudonyms (joined in), so nothing downstream ever sees a raw reference.

    ``key`` is the store's key chain (one key, or several after ``rekey``; see pipelines.keys).
    A blank reference is kept as it is (staging reads it as missing).

    Identifiers (``contract.identifiers``) are compared as ``privacy.normalise_ref`` gives them
    (NFKC, zero-width characters removed): pseudonymised ones inside ``pseudonymise``, the others
    here (only values that are not plain ASCII go through the function). ``_bad_id`` names the
    first identifier column holding a control character (staging rejects it as ``bad_id:<col>``),
    judged on the values as read, before pseudonymising.
    """
    select = {c: f"b.{_quote(c)}" for c in contract.columns}
    for col in contract.identifiers:
        if col not in contract.pseudonymised:
            q = f"b.{_quote(col)}"
            select[col] = f"case when strlen({q}) <> length({q}) then normalise_ref({q}) else {q} end as {_quote(col)}"
    control = "'[\\x00-\\x1f\\x7f-\\x9f]'"  # as _CONTROL_RE; one expression over the plain ids
    plain = [c for c in contract.identifiers if c not in contract.pseudonymised]
    bad = []
    if plain:
        ids = [f"b.{_quote(c)}" for c in plain]
        bad.append("case when regexp_matches(concat(" + ", ".join(ids) + f"), {control}) then coalesce("
                   + ", ".join(f"case when regexp_matches({i}, {control}) then '{c}' end" for i, c in zip(ids, plain))
                   + ") end")
    joins = []
    for col in contract.pseudonymised:
        table = _pseudonym_table(con, kind, col, key)
        if table:
            joins.append(f"left join {table} on clean(b.{col}) = {table}.raw")
            select[col] = f"coalesce({table}.pseudonym, b.{col}) as {col}"
            if col in contract.identifiers:  # judged in Python, once per distinct value
                bad.append(f"case when {table}.control then '{col}' end")
    select["_bad_id"] = (f"coalesce({', '.join(bad)})" if len(bad) > 1 else bad[0] if bad
                         else "cast(null as varchar)") + " as _bad_id"
    con.execute(f"create or replace temp view raw_{kind} as select b._row, {', '.join(select.values())} "
                f"from base_{kind} b {' '.join(joins)}")


def _apply(con, kind: str, spec: KindSpec, stored: list[str], counts: dict[str, int], batch_id: str,
           now: datetime) -> None:
    """Write quarantine, history and current rows for one classified batch.

    Quarantine goes first: after it the raw rows are no longer needed and are released
    before the biggest write. Stored rows come from ``stg_<kind>``: every row that passed
    staging when all of them are new or updates (the usual file), else those rows by number.
    """
    _insert_quarantine(con, kind, spec, batch_id)
    _drop_temps(con, _raw_relations(con, kind))
    idc = spec.contract.id_column
    updates = f"(select {idc} from cls_{kind} where outcome = 'update')"
    con.execute(
        f"insert into {spec.table}_history by name select *, $b as superseded_by_batch, $now as superseded_at "
        f"from {spec.table} where {idc} in {updates}",
        {"b": batch_id, "now": now})
    con.execute(f"delete from {spec.table} where {idc} in {updates}")
    passed = sum(counts.values()) - counts.get("rejected", 0)
    which = ("reject is null" if counts.get("new", 0) + counts.get("update", 0) == passed else
             f"_row in (select _row from cls_{kind} where outcome in ('new', 'update'))")
    con.execute(
        f"insert into {spec.table} ({', '.join(stored)}, row_hash, batch_id) "
        f"select {', '.join(stored)}, row_hash, $b from stg_{kind} where {which}", {"b": batch_id})
    con.execute(f"drop table stg_{kind}")


def _check_date_order(date_order: str) -> str:
    value = str(date_order).strip().lower()
    if value not in contracts.DATE_ORDERS:
        raise InvalidInputError(
            f"Unknown date order {date_order!r}; use ymd (ISO 8601, the default), dmy (day first: 03/04/2025 = "
            f"3 April) or mdy (month first: 03/04/2025 = March 4).")
    return value


def ingest_file(
    store: Store, kind: str, path: Path, key: bytes, drop_identifying: bool = False,
    now: datetime | None = None, date_order: str = "ymd", excel_dates: bool = False,
    mapping: ColumnMapping | None = None, area_options: dict | None = None,
) -> BatchResult:
    """Ingest one file as one batch in one transaction; return its accounting.

    ``date_order``: how d/m/y dates are read (``ymd`` = ISO only: they are rejected as
    ``ambiguous_date``; ``dmy``; ``mdy``). ``excel_dates``: convert spreadsheet day numbers
    (local time) instead of rejecting them as ``excel_serial_date``. ``mapping``: the file's
    own column names, date format, constants and layer (:mod:`pipelines.column_mapping`).
    ``area_options``: for ``areas``, ``layer_name`` and optional ``name_column`` / ``id_column``
    (:func:`pipelines.areas.ingest_areas`).
    """
    kind = resolve_kind(kind)
    date_order = _check_date_order(date_order)
    mapping = mapping or ColumnMapping()
    path = Path(path)
    if not path.is_file():
        raise RefusedFileError(f"{path}: no such file.")
    if kind == "boundary":
        if mapping.columns or mapping.constants or mapping.date_format:
            raise InvalidInputError("boundary takes no --columns, --set or --date-format (only --layer).")
        return geo_inputs.ingest_boundary(store, path, file_sha256(path), mapping.layer, drop_identifying)
    if kind == "areas":
        if mapping.columns or mapping.constants or mapping.date_format:
            raise InvalidInputError("areas take no --columns, --set or --date-format: name the columns with "
                                    "--name-column and --id-column (and a GeoPackage layer with --layer).")
        from pipelines.areas import ingest_areas
        return ingest_areas(store, path, file_sha256(path), gpkg_layer=mapping.layer, **(area_options or {}))
    spec = SPECS[kind]
    column_mapping.check_against_contract(mapping, spec.contract)
    if _file_suffix(path) in GEO_SUFFIXES and kind in POINT_KINDS:
        mapping = column_mapping.with_point_geometry(mapping, kind, path)
    now = now or datetime.now(timezone.utc)
    started = datetime.now(timezone.utc)
    sha = file_sha256(path)
    con = store.con
    result = BatchResult(file=path.name, kind=kind, batch_id=None)
    try:
        relation, params, types = _source(con, path, kind, mapping.layer)
        columns, identifying, ignored = _map_columns(list(types), path, spec.contract, drop_identifying, mapping)
        result.dropped_columns, result.ignored_columns = identifying, ignored
        with _memory_capped(con):
            _build_raw_kind(con, path, kind, spec.contract, columns, types, relation, params)
            with store.transaction():
                stored = stored_columns(con, spec.table)
                with _refusing_unreadable(path):
                    _pseudonymise_raw(con, kind, spec.contract, key)
                    read = _count_read(con, kind)
                    _stage(store, kind, spec, stored, now, date_order, excel_dates)
                _refuse_swapped(store, kind, spec, path)
                result.warnings = tz_check.ingest_warnings(store, kind, path.name)
                counts = _classify(con, kind, spec)
                result.recoded, result.flagged = _count_adjustments(con, kind)
                result.batch_id = next_batch_id(con)
                _apply(con, kind, spec, stored, counts, result.batch_id, now)
                _summarise(con, kind, spec, result, counts, result.batch_id, read)
                result.hints = _hints(result, con)
                if not result.balanced():
                    raise StoreError(
                        f"{path.name}: row accounting does not balance ({result.as_json()}); rolled back.")
                record_batch(con, result, sha, started)
    except duckdb.Error as exc:
        raise StoreError(f"{path.name}: ingest failed and was rolled back ({str(exc).splitlines()[0]}).") from exc
    finally:
        _drop_temp(con, kind)
    return result


def ingest_files(
    store: Store, kind: str, paths: Sequence[Path], key: bytes, drop_identifying: bool = False,
    on_file: Callable[[BatchResult], None] | None = None, date_order: str = "ymd", excel_dates: bool = False,
    mapping: ColumnMapping | None = None, area_options: dict | None = None,
    on_start: Callable[[Path], None] | None = None,
) -> list[BatchResult]:
    """Ingest several files, one batch each, in the order given (``hotspots ingest``).

    A file that fails (refused, rolled back) stops the run: the files before it stay committed,
    the ones after it are not read, and the error raised (``partial_ingest_error``) says so and
    carries ``committed`` (their results), ``not_read`` (their paths), ``failed_path`` and
    ``file_error`` (the file's own error). ``on_start(path)`` runs before each file is read,
    ``on_file(result)`` after each is committed.
    """
    results: list[BatchResult] = []
    paths = [Path(p) for p in paths]
    for i, path in enumerate(paths):
        if on_start:
            on_start(path)
        try:
            result = ingest_file(store, kind, path, key, drop_identifying,
                                 date_order=date_order, excel_dates=excel_dates, mapping=mapping,
                                 area_options=area_options)
        except HotspotError as exc:
            error = partial_ingest_error(results, path, exc, paths[i + 1:])
            if error is exc:
                raise
            raise error from exc
        results.append(result)
        if on_file:
            on_file(result)
    return results


def partial_ingest_error(committed: list[BatchResult], path: Path, exc: HotspotError,
                         not_read: Sequence[Path]) -> HotspotError:
    """The error of a file that failed among several, as one line: its own message, what was
    committed before it and which files were not read; the same error class, carrying
    ``committed``, ``not_read``, ``failed_path`` and ``file_error`` (``exc``). With nothing before
    or after it, the error is ``exc`` itself."""
    if not committed and not not_read:
        error = exc
    else:
        parts = [str(exc).rstrip(".") + "."]
        if committed:
            parts.append("Committed before it: " + ", ".join(f"{r.file} ({r.batch_id})" for r in committed) + ".")
        if not_read:
            parts.append(f"Not read: {', '.join(Path(p).name for p in not_read)}; ingest them again after fixing "
                         f"{path.name}.")
        error = type(exc)(" ".join(parts))
    error.committed, error.not_read = list(committed), [Path(p) for p in not_read]
    error.failed_path, error.file_error = Path(path), exc
    return error
