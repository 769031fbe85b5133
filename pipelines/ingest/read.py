"""Reading and checking an input file before anything is stored: its hash, its type, a CSV's
pinned dialect and header, a Parquet file's magic bytes and footer, and the file as a DuckDB
relation (:func:`_source`). A file that cannot be trusted is refused whole (``RefusedFileError``)."""

from __future__ import annotations

import codecs
import csv
import gzip
import hashlib
import io
import re
from pathlib import Path
from typing import Iterator

import duckdb

from analytics import contracts
from analytics.contracts import normalise_column_name
from analytics.errors import RefusedFileError
from pipelines import geo_inputs

TABULAR_SUFFIXES = {".csv", ".txt", ".tsv"}
PARQUET_SUFFIXES = {".parquet", ".pq"}
GEO_SUFFIXES = geo_inputs.GEO_SUFFIXES
#: Kinds that also come as point files (GeoJSON / GeoPackage / zipped shapefile); places are read as shapes.
POINT_KINDS = ("reports", "episodes", "disruptions")
SUPPORTED_FILES = "CSV (also .csv.gz), Parquet, GeoJSON, GeoPackage or a zipped shapefile"


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
