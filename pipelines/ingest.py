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
"""

from __future__ import annotations

import codecs
import csv
import gzip
import hashlib
import io
import re
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterator, Sequence

import duckdb
import pandas as pd

from analytics import contracts
from analytics.contracts import InputContract, normalise_column_name
from analytics.errors import HotspotError, InvalidInputError, RefusedFileError, StoreError
from analytics.privacy import normalise_ref
from pipelines import column_mapping, date_hints, geo_inputs, tz_check
from pipelines.batches import BatchResult, next_batch_id, record_batch
from pipelines.column_mapping import ColumnMapping
from pipelines.keys import pseudonymise_chain
from pipelines.sqlrunner import run_sql
from pipelines.store import Store

TABULAR_SUFFIXES = {".csv", ".txt", ".tsv"}
PARQUET_SUFFIXES = {".parquet", ".pq"}
GEO_SUFFIXES = geo_inputs.GEO_SUFFIXES
#: Kinds that also come as point files (GeoJSON / GeoPackage / zipped shapefile); places are read as shapes.
POINT_KINDS = ("reports", "episodes", "disruptions")
SUPPORTED_FILES = "CSV (also .csv.gz), Parquet, GeoJSON, GeoPackage or a zipped shapefile"
FUTURE_TOLERANCE = timedelta(minutes=15)  # clock skew allowed before "future_timestamp"
SYNTHETIC_PREFIX = "SYN-"
#: Characters of each field kept in a quarantined row's row_json (the full length is in the detail).
QUARANTINE_FIELD_CHARS = 2000
#: Source column types staged as they are, without a round trip through text: the staging
#: macros give these exactly the outcome their text would. Any other type is read as text.
TYPED_PASSTHROUGH = frozenset({"VARCHAR", "DOUBLE", "TIMESTAMP WITH TIME ZONE"})
#: DuckDB's memory cap while a file is ingested (a lower configured limit is kept): past it,
#: temp tables spill to the store's temp directory, keeping a 10 M-row ingest under 4 GB.
INGEST_MEMORY_LIMIT_BYTES = 2_500_000_000

#: A control character in an identifier (NUL, C0, DEL, C1): rejected as ``bad_id:<col>``.
_CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f]")

#: CLI names of the input kinds -> contract kind.
KIND_ALIASES = {
    "episodes": "episodes", "reports": "reports", "location_reports": "reports",
    "places": "places", "disruptions": "disruptions", "boundary": "boundary", "placements": "placements",
    "areas": "areas",
}


@dataclass(frozen=True)
class KindSpec:
    """How one input kind is stored: target table, staging SQL and H3 columns."""

    contract: InputContract
    table: str
    enum_params: tuple[str, ...]
    checks_future: bool
    cells: tuple[tuple[str, str, str], ...]  # (lat column, lon column, cell column)
    study_area_rejects: bool                  # points outside the study area are quarantined


SPECS: dict[str, KindSpec] = {
    "episodes": KindSpec(contracts.EPISODES, "episodes", ("placement_types", "risk_levels", "genders", "gender_aliases",
                                                          "gender_alias_values", "gender_recoded_to",
                                                          "not_stated_aliases"), True,
                         (("last_seen_lat", "last_seen_lon", "last_seen_cell"),
                          ("found_lat", "found_lon", "found_cell")), False),
    "reports": KindSpec(contracts.REPORTS, "location_reports", ("report_sources", "report_kinds"), True,
                        (("lat", "lon", "cell"),), True),
    "places": KindSpec(contracts.PLACES, "places", ("place_categories",), False,
                       (("lat", "lon", "cell"),), False),
    "disruptions": KindSpec(contracts.DISRUPTIONS, "disruptions", ("disruption_kinds",), True,
                            (("lat", "lon", "cell"),), False),
    "placements": KindSpec(contracts.PLACEMENTS, "placements", ("placement_types",), False,
                           (("lat", "lon", "cell"),), False),
}


def file_sha256(path: Path) -> str:
    """sha256 of a file, streamed."""
    return _scan_file(path, check_utf8=False)[0]


def _file_suffix(path: Path) -> str:
    """The suffix that says what a file holds: ``.csv`` for ``x.csv.gz`` (gzip is read directly)."""
    suffixes = [s.lower() for s in path.suffixes]
    if len(suffixes) >= 2 and suffixes[-1] == ".gz":
        return suffixes[-2]
    return path.suffix.lower()


def _is_gzip(path: Path) -> bool:
    return path.suffix.lower() == ".gz"


def _open_binary(path: Path):
    """The file's bytes; a ``.gz`` file decompressed as it streams."""
    return gzip.open(path, "rb") if _is_gzip(path) else open(path, "rb")


def _scan_file(path: Path, check_utf8: bool) -> tuple[str, tuple[int, int, int] | None]:
    """One streamed pass: (sha256, first invalid UTF-8 as (byte offset, line, byte) or None).

    A ``.gz`` file is hashed as stored and checked as decompressed (offsets and lines count
    decompressed bytes); a damaged gzip stream refuses the file."""
    if check_utf8 and _is_gzip(path):
        sha = _scan_file(path, check_utf8=False)[0]
        try:
            return sha, _scan_stream(path, check_utf8=True)[1]
        except (gzip.BadGzipFile, EOFError, OSError) as exc:
            raise RefusedFileError(f"{path.name}: cannot be read (not a complete gzip file: {exc}).") from exc
    return _scan_stream(path, check_utf8)


def _scan_stream(path: Path, check_utf8: bool) -> tuple[str, tuple[int, int, int] | None]:
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
    offset, lines, bad = 0, 1, None
    with (_open_binary(path) if check_utf8 else open(path, "rb")) as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
            if check_utf8 and bad is None:
                try:
                    decoder.decode(block)
                except UnicodeDecodeError as exc:
                    # exc.start counts from the decoder's buffered tail (<= 3 bytes) plus this block
                    pending = len(exc.object) - len(block)
                    at = offset - pending + exc.start
                    data = exc.object[: exc.start]
                    bad = (at, lines + data.count(b"\n"), exc.object[exc.start])
                else:
                    lines += block.count(b"\n")
            offset += len(block)
    if check_utf8 and bad is None:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:  # the file ends inside a multi-byte character
            bad = (offset - len(exc.object) + exc.start, lines, exc.object[exc.start])
    return digest.hexdigest(), bad


def resolve_kind(kind: str) -> str:
    """Normalise a CLI kind name, or raise a clear error listing the allowed ones."""
    key = kind.strip().lower()
    if key not in KIND_ALIASES:
        raise InvalidInputError(
            f"Unknown input kind {kind!r}; use one of: episodes, reports, places, disruptions, boundary, placements, areas."
        )
    return KIND_ALIASES[key]


# --------------------------------------------------------------------------- raw load

def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _csv_header(path: Path, delimiter: str) -> list[str]:
    """The header row as written (BOM removed), parsed with the same dialect DuckDB is given.

    Only the first ``MAX_HEADER_BYTES`` (+1) bytes are read: a header line longer than that, or
    with more than ``MAX_COLUMNS`` columns, is refused with bounded memory (issue 12 item 10).
    """
    opener = gzip.open if _is_gzip(path) else open
    with opener(path, "rb") as fh:
        head = fh.read(contracts.MAX_HEADER_BYTES + 1)
    text = head.decode("utf-8-sig", errors="ignore")  # a character cut at the end of the block is dropped
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar='"', doublequote=True,
                        strict=False)
    for row in _header_rows(path, reader):
        if not any(cell.strip() for cell in row):
            continue
        complete = text.count("\n") >= reader.line_num or len(head) <= contracts.MAX_HEADER_BYTES
        if len(row) > contracts.MAX_COLUMNS:
            raise _too_wide(path, f"at least {len(row)}" if not complete else str(len(row)))
        if not complete:
            raise RefusedFileError(
                f"{path.name}: refused, its header line is longer than {contracts.MAX_HEADER_BYTES} bytes; "
                f"the first line must be the header (at most {contracts.MAX_COLUMNS} columns).")
        return [cell if cell.strip() else f"_unnamed_{i + 1}" for i, cell in enumerate(row)]
    if len(head) > contracts.MAX_HEADER_BYTES:
        raise RefusedFileError(f"{path.name}: refused, no header row in its first {contracts.MAX_HEADER_BYTES} bytes.")
    raise RefusedFileError(f"{path.name}: empty file; nothing to ingest (a CSV needs at least a header row).")


def _header_rows(path: Path, reader) -> Iterator[list[str]]:
    """The rows of a header block; a field too long for the csv module refuses the file."""
    try:
        yield from reader
    except csv.Error as exc:
        raise RefusedFileError(f"{path.name}: refused, its header cannot be read ({exc}); "
                               f"the first line must be the header (at most {contracts.MAX_COLUMNS} columns).") from exc


def _too_wide(path: Path, n: str) -> RefusedFileError:
    return RefusedFileError(
        f"{path.name}: refused, its header has {n} columns (the limit is {contracts.MAX_COLUMNS}); "
        f"check the delimiter and that the first line is the header.")


def _columns_by_name(path: Path, columns: list[str]) -> dict[str, str]:
    """{normalised name: column as written}, refusing the file when two columns normalise alike."""
    by_name: dict[str, str] = {}
    for col in columns:
        name = normalise_column_name(col)
        if name in by_name:
            raise RefusedFileError(f"{path.name}: duplicate column {name!r} in the header.")
        by_name[name] = col
    return by_name


def _csv_relation(path: Path) -> tuple[str, list[str]]:
    """read_csv with a pinned dialect and the header's own column names: nothing is sniffed."""
    if path.stat().st_size == 0:
        raise RefusedFileError(f"{path.name}: empty file; nothing to ingest (a CSV needs at least a header row).")
    _, bad = _scan_file(path, check_utf8=True)
    if bad is not None:
        at, line, byte = bad
        raise RefusedFileError(
            f"{path.name}: not UTF-8 text: byte 0x{byte:02x} at offset {at} (line {line}) is not valid UTF-8; "
            f"save the file as UTF-8 (in Excel: 'CSV UTF-8') and ingest it again.")
    delimiter = "\t" if _file_suffix(path) == ".tsv" else ","
    header = _csv_header(path, delimiter)
    _columns_by_name(path, header)
    columns = "{" + ", ".join(f"{_literal(c)}: 'VARCHAR'" for c in header) + "}"
    relation = (f"read_csv($p, auto_detect = false, header = true, delim = {_literal(delimiter)}, "
                f"quote = '\"', escape = '\"', encoding = 'utf-8', strict_mode = true, "
                f"max_line_size = {contracts.MAX_LINE_BYTES}, columns = {columns})")
    return relation, header


def _check_parquet(path: Path) -> None:
    """Refuse a file that cannot be a whole Parquet file (both ends carry the magic PAR1)."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(4)
        fh.seek(max(size - 4, 0))
        tail = fh.read(4)
    if size == 0:
        raise RefusedFileError(f"{path.name}: empty file; nothing to ingest.")
    if head != b"PAR1":
        raise RefusedFileError(f"{path.name}: cannot be read (not a Parquet file: it does not start with PAR1).")
    if size < 12 or tail != b"PAR1":
        raise RefusedFileError(
            f"{path.name}: cannot be read (truncated or corrupt Parquet: no PAR1 footer); export it again.")
    with open(path, "rb") as fh:  # the footer's length sits just before the closing PAR1
        fh.seek(size - 8)
        footer = int.from_bytes(fh.read(4), "little")
    if footer > contracts.MAX_PARQUET_FOOTER_BYTES:
        raise RefusedFileError(
            f"{path.name}: refused, its schema and metadata take {footer} bytes (the limit is "
            f"{contracts.MAX_PARQUET_FOOTER_BYTES}); an input needs at most {contracts.MAX_COLUMNS} columns.")
    import pyarrow.parquet as pq
    try:  # the column names as written: DuckDB renames a second 'Lat' to 'Lat_1', hiding the clash
        names = pq.read_schema(path).names
    except Exception as exc:  # pyarrow raises several types for a damaged footer
        raise RefusedFileError(f"{path.name}: cannot be read ({str(exc).strip().splitlines()[0]}).") from exc
    if len(names) > contracts.MAX_COLUMNS:
        raise _too_wide(path, str(len(names)))
    _columns_by_name(path, names)


def _csv_error(path: Path, exc: duckdb.Error) -> RefusedFileError:
    """DuckDB's multi-line CSV error as one line naming the file, the line and the problem."""
    text = str(exc)
    line = re.search(r"CSV Error on Line: (\d+)", text)
    if line:
        problems = [ln.strip() for ln in text.splitlines()[1:]
                    if ln.strip() and not ln.startswith(("Original Line", "Possible", "*", "LINE", "  "))]
        problem = problems[0].rstrip(".") if problems else "malformed row"
        if "maximum line size" in text.lower():
            problem = f"a line longer than {contracts.MAX_LINE_BYTES} bytes"
        return RefusedFileError(f"{path.name}: malformed CSV at line {line.group(1)}: {problem}; "
                                f"fix that line (quote fields that contain commas) and ingest again.")
    return RefusedFileError(f"{path.name}: cannot be read ({text.strip().splitlines()[0]}).")


def _source(con: duckdb.DuckDBPyConnection, path: Path, kind: str,
            layer: str | None = None) -> tuple[str, dict, dict[str, str]]:
    """The file as a DuckDB relation: (FROM expression, its parameters, column name -> type).

    Nothing is loaded yet. A CSV's dialect is pinned (never sniffed) and its header read
    here (every column is text; ``.csv.gz`` is read directly); a Parquet file is checked for
    its magic bytes first. A point file (reports, episodes, disruptions) is read with
    geopandas, reprojected to EPSG:4326, its points given as ``geometry_lat``/``geometry_lon``
    text columns, and registered as a table that goes through the same staging as a CSV.
    """
    suffix = _file_suffix(path)
    params = {"p": str(path)}
    if _is_gzip(path) and suffix not in TABULAR_SUFFIXES:
        raise RefusedFileError(f"{path.name}: only CSV can be read gzipped (.csv.gz); decompress it first.")
    if suffix in PARQUET_SUFFIXES:
        _check_parquet(path)
        relation = "read_parquet($p)"
    elif suffix in TABULAR_SUFFIXES:
        relation, header = _csv_relation(path)
        return relation, params, dict.fromkeys(header, "VARCHAR")
    elif suffix in GEO_SUFFIXES and kind == "places":
        con.register("raw_file_df", geo_inputs.read_places(path, layer))
        relation, params = "raw_file_df", {}
    elif suffix in GEO_SUFFIXES and kind in POINT_KINDS:
        con.register("raw_file_df", geo_inputs.read_points(path, layer))
        relation, params = "raw_file_df", {}
    else:
        raise RefusedFileError(f"{path.name}: unsupported file type {suffix or '(none)'}; use {SUPPORTED_FILES}.")
    try:
        described = con.execute(f"describe select * from {relation}", params).fetchall()
    except duckdb.Error as exc:
        raise RefusedFileError(f"{path.name}: cannot be read ({str(exc).strip().splitlines()[0]}).") from exc
    return relation, params, {r[0]: r[1] for r in described}


def _map_columns(source_cols: list[str], path: Path, contract: InputContract,
                 drop_identifying: bool, user: ColumnMapping | None = None) -> tuple[dict, list, list]:
    """Contract column -> source column (or a ``column_mapping.Source`` for a column the user
    mapped, joined, gave a date format or set); refuse identifying or missing required columns,
    and mapped columns the file lacks."""
    if len(source_cols) == 1 and ";" in source_cols[0] and contract.kind != "places":
        raise RefusedFileError(
            f"{path.name}: only one column was found ({source_cols[0][:60]!r}); the file looks "
            f"semicolon-delimited. Save it as comma-separated CSV."
        )
    normalised = _columns_by_name(path, source_cols)
    identifying = sorted(
        n for n, written in normalised.items()
        if contracts.is_identifying_column(written) and n not in contract.columns)  # as written: camelCase
    if identifying and not drop_identifying:
        raise RefusedFileError(
            f"{path.name}: refused, it has identifying columns {', '.join(identifying)}; remove them, "
            f"or re-run with --drop-identifying-columns to drop them before anything is stored."
        )
    given = column_mapping.resolve(user, contract, source_cols, path) if user else {}
    used = {normalise_column_name(c) for src in given.values() for c in src.columns}
    missing = [c for c in contract.required if c not in normalised and c not in given]
    if contract.id_column in missing:
        raise RefusedFileError(column_mapping.missing_id_message(path, contract, source_cols))
    if missing:
        raise RefusedFileError(
            f"{path.name}: missing required column(s) {', '.join(missing)} for {contract.kind}; "
            f"found: {', '.join(sorted(normalised)) or '(none)'}."
        )
    mapping = {c: normalised[c] for c in contract.columns if c in normalised}
    for col, src in given.items():  # a plain rename keeps the typed pass-through of _raw_column
        plain = len(src.columns) == 1 and src.constant is None and src.date_format is None
        mapping[col] = src.columns[0] if plain else src
    taken = {normalise_column_name(v) for v in mapping.values() if isinstance(v, str)} | used
    ignored = sorted(n for n in normalised if n not in taken and n not in identifying)
    return mapping, identifying, ignored


def _raw_column(contract: InputContract, col: str, mapping: dict, types: dict[str, str]) -> str:
    """SELECT item of contract column ``col`` in the raw relation: the source column as it is
    when its type is in ``TYPED_PASSTHROUGH`` (never for a pseudonymised column, which is
    always text), else cast to text; null text when the file lacks it. A column the user
    joined, gave a date format or set comes from ``column_mapping.select_item``."""
    if col not in mapping:
        return f"cast(null as varchar) as {_quote(col)}"
    if isinstance(mapping[col], column_mapping.Source):
        return column_mapping.select_item(col, mapping[col], types)
    source = _quote(mapping[col])
    if types[mapping[col]] in TYPED_PASSTHROUGH and col not in contract.pseudonymised:
        return f"{source} as {_quote(col)}"
    return f"cast({source} as varchar) as {_quote(col)}"


def _build_raw_kind(con, path: Path, kind: str, contract: InputContract, mapping: dict,
                    types: dict[str, str], relation: str, params: dict) -> None:
    """``base_<kind>``: a 1-based ``_row`` and exactly the contract columns (absent ones null
    text). Identifying and unknown columns are never read.

    A Parquet file becomes a view that streams it (``file_row_number`` gives the row without
    a window over the whole file), read by staging and again only for quarantined rows. A CSV
    or geo file is loaded into a temp table here, where a malformed CSV is refused.
    """
    cols = ", ".join(_raw_column(contract, c, mapping, types) for c in contract.columns)
    if path.suffix.lower() in PARQUET_SUFFIXES:  # a view cannot take parameters: the path is a literal
        con.execute(f"create or replace temp view base_{kind} as select file_row_number + 1 as _row, {cols} "
                    f"from read_parquet({_literal(str(path))}, file_row_number = true)")
        return
    try:
        con.execute(f"create or replace temp table base_{kind} as "
                    f"select row_number() over () as _row, {cols} from {relation}", params)
    except duckdb.Error as exc:
        raise _csv_error(path, exc) from exc
    finally:
        if relation == "raw_file_df":
            con.unregister("raw_file_df")


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


# --------------------------------------------------------------------------- staging

def _stage(store: Store, kind: str, spec: KindSpec, stored: list[str], now: datetime, date_order: str,
           excel_dates: bool) -> None:
    """Temp table ``stg_<kind>``: every raw row validated, typed, H3-indexed and hashed (the
    staging SQL, in one pass), then rows outside the study area rejected when the kind has
    that rule.

    The staging SQL hashes each row with ``row_hash_<kind>(row)``, defined here from the
    stored columns by ``row_hash_sql`` (the one definition, which rekey uses too).
    """
    store.con.execute(f"create or replace temp macro row_hash_{kind}(r) as "
                      f"{row_hash_sql([f'r.{c}' for c in stored], LATE_COLUMNS.get(spec.table, ()))}")
    params: dict = {name: list(contracts.ENUM_PARAMS[name]) for name in spec.enum_params}
    params.update(
        not_before=datetime.fromisoformat(contracts.EARLIEST_TIMESTAMP), not_after=now + FUTURE_TOLERANCE,
        date_order=date_order, excel_dates=excel_dates, max_field_chars=contracts.MAX_FIELD_CHARS,
        max_episode_days=contracts.MAX_EPISODE_DAYS, resolution=store.resolution)
    run_sql(store.con, f"staging/stg_{kind}.sql", params)  # passes only the params the file declares
    con = store.con
    stg = f"stg_{kind}"
    if spec.study_area_rejects:
        has_area = con.execute(
            "select count(*) from study_area_cells where resolution = $res", {"res": store.resolution}
        ).fetchone()[0]
        if has_area:
            con.execute(
                f"update {stg} set reject = reject('outside_study_area', "
                f"cast(round(lat, 4) as varchar) || ',' || cast(round(lon, 4) as varchar)) "
                f"where reject is null and cell not in "
                f"(select cell from study_area_cells where resolution = $res)", {"res": store.resolution})


@contextmanager
def _refusing_unreadable(path: Path) -> Iterator[None]:
    """Refuse the file when DuckDB fails to read it inside the block: a streamed Parquet file
    is first read in full by pseudonymisation and staging, so damage past its footer shows up
    there. Other errors (also those the SQL runner wraps) pass unchanged."""
    try:
        yield
    except (duckdb.IOException, duckdb.InvalidInputException, StoreError) as exc:
        cause = exc.__cause__ if isinstance(exc, StoreError) else exc
        text = str(cause)
        if not isinstance(cause, (duckdb.IOException, duckdb.InvalidInputException)) or str(path) not in text:
            raise
        problem = text.strip().splitlines()[0].split(f'"{path}": ')[-1]
        raise RefusedFileError(f"{path.name}: cannot be read ({problem}).") from exc


def _refuse_swapped(store: Store, kind: str, spec: KindSpec, path: Path) -> None:
    """Refuse the file when every located row looks like lat and lon were exchanged.

    "Looks swapped": as given, the point is impossible (|lat| > 90) or outside the study
    area; exchanged, it is possible and (when there is a study area) inside it. Only
    when that holds for ALL located rows is the file refused; otherwise rows are judged
    one by one (lat_out_of_range, outside_study_area).
    """
    con = store.con
    has_area = bool(con.execute(
        "select count(*) from study_area_cells where resolution = $res", {"res": store.resolution}).fetchone()[0])
    area = "(select cell from study_area_cells where resolution = $res)"
    in_area = (f"coalesce(h3_cell(case when abs(lat) <= 90 then lat end, lon, $res) in {area}, false)"
               if has_area else "true")
    swapped_in = (f"coalesce(h3_cell(case when abs(lon) <= 90 then lon end, lat, $res) in {area}, false)"
                  if has_area else "true")
    params = {"res": store.resolution} if has_area else {}
    for lat, lon, cell in spec.cells:
        # cheap exit, the usual case: some row already indexed by _stage is fine as given
        fine = (f"{cell} in {area}" if has_area else f"abs({lat}) <= 90 and abs({lon}) <= 180")
        if con.execute(f"select exists (select 1 from stg_{kind} where {fine})", params).fetchone()[0]:
            continue
        n, n_swapped, row, a, b = con.execute(f"""
            with located as (
                select _row, {lat} as lat, {lon} as lon from stg_{kind}
                where isfinite({lat}) and isfinite({lon}) and not ({lat} = 0 and {lon} = 0)
                    and abs({lat}) <= 180 and abs({lon}) <= 180
            ),
            judged as (
                select _row, lat, lon,
                    (abs(lat) > 90 or not {in_area}) and abs(lon) <= 90 and {swapped_in} as swapped
                from located
            )
            select count(*), count(*) filter (where swapped), min(_row), arg_min(lat, _row), arg_min(lon, _row)
            from judged
        """, params).fetchone()
        if n and n == n_swapped:
            where = "the study area" if has_area else "the valid latitude range (-90 to 90)"
            raise RefusedFileError(
                f"{path.name}: refused, lat and lon look swapped: all {n} located row(s) fall outside {where} "
                f"but would be inside it with {lat} and {lon} exchanged (e.g. row {row}: {lat}={a:g}, {lon}={b:g}). "
                f"Swap the two columns and ingest again.")


def _hints(result: BatchResult, con=None) -> list[str]:
    """One line per reject reason that a re-run with an option would fix. With ``con``, the
    ambiguous_date hint says what the file's own dates show (``pipelines.date_hints``)."""
    hints = []
    evidence = con is not None and any(result.reasons.get(r) for r in date_hints.DATE_REASONS) and \
        date_hints.date_order_evidence(con, result.batch_id)
    settled = evidence and date_hints.date_order_hint(evidence)
    if settled:
        hints.append(settled)
    elif result.reasons.get("ambiguous_date"):
        hints.append(f"{result.reasons['ambiguous_date']} row(s) have day/month dates such as 03/04/2025 whose "
                     f"order is unknown; re-run with --date-order dmy (day first) or --date-order mdy (month first).")
    if result.reasons.get("excel_serial_date"):
        hints.append(f"{result.reasons['excel_serial_date']} row(s) have spreadsheet day numbers (e.g. 45717.5) "
                     f"as dates; export dates as ISO 8601 text, or re-run with --excel-dates to convert them.")
    return hints


def stored_columns(con, table: str) -> list[str]:
    """A data table's own columns: all but the bookkeeping ``row_hash`` and ``batch_id``."""
    return [r[0] for r in con.execute(f"describe {table}").fetchall() if r[0] not in ("row_hash", "batch_id")]


# --------------------------------------------------------------------------- classify + apply

#: Optional columns a migration added after rows had been hashed, per table: hashed only when not
#: null, so a row without them keeps the hash it had before (re-ingesting an older file stays a no-op).
LATE_COLUMNS: dict[str, tuple[str, ...]] = {"location_reports": ("reported_at",)}


def row_hash_sql(stored: list[str], late: tuple[str, ...] = ()) -> str:
    """SQL expression of a stored row's content hash (rekey recomputes it with this too).

    md5 over the text of every stored column (a unit separator between them, NUL for null):
    stable across DuckDB versions, unlike hash(), so re-ingesting old files stays a no-op.
    Columns named in ``late`` (:data:`LATE_COLUMNS`; ``r.col`` matches ``col``) are appended only
    when not null.
    """
    def is_late(c: str) -> bool:
        return c.rsplit(".", 1)[-1] in late

    content = ", ".join(f"coalesce(cast({c} as varchar), chr(0))" for c in stored if not is_late(c))
    extra = "".join(f" || coalesce(chr(31) || cast({c} as varchar), '')" for c in stored if is_late(c))
    return f"md5(concat_ws(chr(31), {content}){extra})"


def _classify(con, kind: str, spec: KindSpec) -> dict[str, int]:
    """Temp table ``cls_<kind>``, narrow: ``_row``, the id and ``outcome`` of each staged row
    (the wide rows stay in ``stg_<kind>``, which also holds their hash); returns the count of
    each outcome.

    Outcomes: rejected (failed a rule), conflict (same id, different content in this
    file), duplicate (repeat in this file, or identical to the stored row), new, update.
    Only ids given more than once (usually few) are aggregated further and joined back, so
    a file of distinct ids costs one grouping pass and a join with the stored ids.
    """
    idc = spec.contract.id_column
    con.execute(f"""
        create or replace temp table cls_{kind} as
        with repeated as materialized (
            select {idc} as id, min(_row) as first_row
            from stg_{kind} where reject is null group by {idc} having count(*) > 1
        ),
        conflicts as (
            select {idc} as id from stg_{kind}
            where reject is null and {idc} in (select id from repeated)
            group by {idc} having min(row_hash) <> max(row_hash)
        ),
        current as (select {idc} as id, row_hash as current_hash from {spec.table})
        select s._row, s.{idc},
            case
                when s.reject is not null then 'rejected'
                when x.id is not null then 'conflict'
                when s._row <> r.first_row then 'duplicate'
                when c.id is null then 'new'
                when c.current_hash = s.row_hash then 'duplicate'
                else 'update'
            end as outcome
        from stg_{kind} s
        left join repeated r on s.{idc} = r.id
        left join conflicts x on s.{idc} = x.id
        left join current c on s.{idc} = c.id and s._row = coalesce(r.first_row, s._row)
    """)
    return dict(con.execute(f"select outcome, count(*) from cls_{kind} group by outcome").fetchall())


def _count_adjustments(con, kind: str) -> tuple[dict[str, int], dict[str, int]]:
    """(recoded per column, flagged per flag) over the rows this batch stores (new or updated),
    from staging's ``adjust`` list ('recoded:<col>', 'flagged:<flag>'); empty for kinds without it."""
    columns = {r[0] for r in con.execute(f"describe stg_{kind}").fetchall()}
    if "adjust" not in columns:
        return {}, {}
    rows = con.execute(f"""
        with adjusted as (select _row, adjust from stg_{kind} where len(adjust) > 0)
        select a, count(*) from (
            select unnest(s.adjust) as a from adjusted s join cls_{kind} c using (_row)
            where c.outcome in ('new', 'update')
        ) group by a order by 2 desc, 1""").fetchall()
    got: dict[str, dict[str, int]] = {"recoded": {}, "flagged": {}}
    for tag, n in rows:
        what, _, name = tag.partition(":")
        got[what][name] = n
    return got["recoded"], got["flagged"]


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


def _insert_quarantine(con, kind: str, spec: KindSpec, batch_id: str) -> None:
    """One quarantine row per rejected or conflicting row: reason, detail, and the row as read
    (``row_json``: text, identifiers pseudonymised, each field cut at QUARANTINE_FIELD_CHARS).
    A streamed file is read again here, and only when some row is quarantined."""
    bad = f"select _row, outcome from cls_{kind} where outcome in ('rejected', 'conflict')"
    if not con.execute(f"select exists ({bad})").fetchone()[0]:
        return
    idc = spec.contract.id_column
    n = QUARANTINE_FIELD_CHARS
    raw_cols = ", ".join(
        f"{_quote(c)} := case when length({v}) > {n} then left({v}, {n}) || "
        f"'...[' || cast(length({v}) - {n} as varchar) || ' more characters]' else {v} end"
        for c, v in ((c, f"cast(r.{_quote(c)} as varchar)") for c in spec.contract.columns))
    con.execute(f"""
        insert into quarantine
        select $b, $k, s._row, s.{idc},
            coalesce(s.reject.r, 'conflicting_duplicate_id'),
            coalesce(s.reject.d, case when q.outcome = 'conflict'
                then '{idc} ' || s.{idc} || ' appears with different content in this file' end),
            to_json(struct_pack({raw_cols}))
        from ({bad}) q
        join stg_{kind} s using (_row)
        join raw_{kind} r using (_row)
        order by s._row
    """, {"b": batch_id, "k": kind})


def _count_read(con, kind: str) -> int:
    """Rows in the file (from the raw relation itself, so the accounting check can catch a
    row lost on the way)."""
    return con.execute(f"select count(*) from base_{kind}").fetchone()[0]


def _summarise(con, kind: str, spec: KindSpec, result: BatchResult, counts: dict[str, int], batch_id: str,
               read: int) -> None:
    """Fill ``result`` from the outcome counts and the quarantine rows of this batch."""
    result.read = read
    result.accepted = counts.get("new", 0)
    result.updated = counts.get("update", 0)
    result.duplicate = counts.get("duplicate", 0)
    result.rejected = counts.get("rejected", 0) + counts.get("conflict", 0)
    result.reasons = dict(con.execute(
        "select reason, count(*) from quarantine where batch_id = $b group by reason order by 2 desc, 1",
        {"b": batch_id}).fetchall())
    idc = spec.contract.id_column
    n_ids, n_syn = con.execute(
        f"select count({idc}), count(*) filter (where starts_with({idc}, '{SYNTHETIC_PREFIX}')) from cls_{kind}"
    ).fetchone()
    result.synthetic = n_ids > 0 and n_ids == n_syn


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
    mapping: ColumnMapping | None = None,
) -> list[BatchResult]:
    """Ingest several files, one batch each, in the order given.

    A file that fails (refused, rolled back) stops the run: the files before it stay committed,
    the ones after it are not read, and the error raised (``partial_ingest_error``) says so and
    carries ``committed`` (their results) and ``not_read`` (their paths).
    """
    results: list[BatchResult] = []
    paths = [Path(p) for p in paths]
    for i, path in enumerate(paths):
        try:
            result = ingest_file(store, kind, path, key, drop_identifying,
                                 date_order=date_order, excel_dates=excel_dates, mapping=mapping)
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
    ``committed`` and ``not_read``. With nothing before or after it, the error is ``exc`` itself."""
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
    return error
