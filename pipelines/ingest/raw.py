"""The file's columns mapped to the input contract, loaded as ``base_<kind>``: a row number
and exactly the contract's columns (identifying and unknown columns are never read)."""

from __future__ import annotations

from pathlib import Path

import duckdb

from analytics import contracts
from analytics.contracts import InputContract, normalise_column_name
from analytics.errors import RefusedFileError
from pipelines import column_mapping
from pipelines.column_mapping import ColumnMapping
from pipelines.ingest.read import PARQUET_SUFFIXES, _columns_by_name, _csv_error, _literal, _quote

#: Source column types staged as they are, without a round trip through text: the staging
#: macros give these exactly the outcome their text would. Any other type is read as text.
TYPED_PASSTHROUGH = frozenset({"VARCHAR", "DOUBLE", "TIMESTAMP WITH TIME ZONE"})


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
