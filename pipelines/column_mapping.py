"""Bring your own files: a file's own column names, date format and constants onto an input contract.

Real exports never use the contract's column names (``analytics.contracts``). A
:class:`ColumnMapping` says, per input kind, which of the file's columns is which contract
column, how its dates are written, and which contract columns take one value for the whole
file. It comes from the ``ingest`` options (``--columns``, ``--date-format``, ``--set``,
``--layer``) or from ``[ingest.<kind>]`` in ``hotspots.toml`` (options win per column)::

    [ingest.reports]
    columns = {report_id = "OFFENSE_ID", observed_at = "FIRST_OCCURRENCE_DATE", lat = "GEO_LAT", lon = "GEO_LON"}
    date_format = "%m/%d/%Y %I:%M:%S %p"
    set = {source = "police"}

* ``observed_at = "DATE+TIME"`` (or a list ``["DATE", "TIME"]``) joins two columns with a
  space before parsing; a column whose own name holds a ``+`` is matched whole first.
* ``date_format`` is a strptime format (DuckDB ``strptime``: ``%d %m %Y %H %M %S %I %p %z`` ...)
  applied, in SQL, to every timestamp column of the kind that is text. A value that does not
  match is not guessed: it reaches staging as ``"<value>" does not match --date-format <fmt>``
  and is rejected as ``bad_timestamp`` with that detail. A matching value becomes ISO text
  (naive times are then read in the store's zone as usual; ``%z`` keeps the offset).
* A mapped column that is not in the file refuses the file, naming it and listing the file's
  columns. Targets must be contract columns. A required id that nothing provides is refused
  with a suggestion (ids are never invented).

Nothing here touches the store: ingest calls :func:`resolve` with the file's header and
:func:`select_item` for each mapped column of the raw relation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping

import duckdb

from analytics import contracts
from analytics.contracts import InputContract, normalise_column_name
from analytics.errors import InvalidInputError, RefusedFileError

#: Keys of one ``[ingest.<kind>]`` table in hotspots.toml.
CONFIG_KEYS = ("columns", "date_format", "set", "layer")
#: Input kinds that take an ``[ingest.<kind>]`` table (boundary takes only ``layer``).
CONFIG_KINDS = ("episodes", "reports", "places", "disruptions", "boundary")
#: Source column names a point file's geometry is given as (after reprojection to EPSG:4326).
GEOMETRY_LAT, GEOMETRY_LON = "geometry_lat", "geometry_lon"
#: Kinds whose point geometry becomes ``lat``/``lon`` unless mapped otherwise.
POINT_DEFAULT_KINDS = ("reports", "disruptions")


@dataclass(frozen=True)
class ColumnMapping:
    """What the user said about one file's layout (all optional)."""

    columns: Mapping[str, str | tuple[str, ...]] = field(default_factory=dict)  # contract column -> source
    date_format: str | None = None
    constants: Mapping[str, str] = field(default_factory=dict)  # contract column -> value for every row
    layer: str | None = None

    def __bool__(self) -> bool:
        return bool(self.columns or self.date_format or self.constants or self.layer)


@dataclass(frozen=True)
class Source:
    """A contract column's resolved source: file columns (two = date + time), or a constant."""

    columns: tuple[str, ...] = ()
    constant: str | None = None
    date_format: str | None = None


# --------------------------------------------------------------------------- parsing

def _pairs(text: str, option: str) -> list[tuple[str, str]]:
    pairs = []
    for item in (p for p in text.split(",") if p.strip()):
        if "=" not in item:
            raise InvalidInputError(f"{option}: {item.strip()!r} is not NAME=VALUE (e.g. {option} "
                                    f"{'report_id=OFFENSE_ID,lat=GEO_LAT' if option == '--columns' else 'source=police'}).")
        name, value = item.split("=", 1)
        if not name.strip() or not value.strip():
            raise InvalidInputError(f"{option}: {item.strip()!r} needs a name and a value on both sides of '='.")
        pairs.append((normalise_column_name(name), value.strip()))
    return pairs


def parse_columns_option(text: str | None) -> dict[str, str]:
    """``"report_id=OFFENSE_ID,observed_at=DATE+TIME"`` -> {contract column: source spec}."""
    return dict(_pairs(text or "", "--columns"))


def parse_set_option(items: list[str] | None) -> dict[str, str]:
    """``--set source=police`` (repeatable; ``a=x,b=y`` also works) -> {contract column: value}."""
    out: dict[str, str] = {}
    for item in items or []:
        out.update(_pairs(item, "--set"))
    return out


def from_options(columns: str | None, date_format: str | None, set_items: list[str] | None,
                 layer: str | None) -> ColumnMapping:
    """The ``ingest`` command's options as a mapping (not yet checked against a contract)."""
    return ColumnMapping(parse_columns_option(columns), date_format or None, parse_set_option(set_items),
                         layer or None)


def from_config(section: Mapping | None) -> ColumnMapping:
    """One validated ``[ingest.<kind>]`` table as a mapping."""
    section = section or {}
    columns = {normalise_column_name(k): (tuple(v) if isinstance(v, list) else v)
               for k, v in (section.get("columns") or {}).items()}
    constants = {normalise_column_name(k): str(v) for k, v in (section.get("set") or {}).items()}
    return ColumnMapping(columns, section.get("date_format"), constants, section.get("layer"))


def combine(options: ColumnMapping, config: ColumnMapping | None) -> ColumnMapping:
    """Options over configuration: a column, constant, date format or layer given on the
    command line replaces the configured one; the rest of the configuration stays."""
    if not config:
        return options
    return ColumnMapping({**config.columns, **options.columns}, options.date_format or config.date_format,
                         {**config.constants, **options.constants}, options.layer or config.layer)


def validate_config_section(raw) -> list[str]:
    """Problems in the ``[ingest]`` table of hotspots.toml (empty when it is fine)."""
    if not isinstance(raw, dict):
        return [f"[ingest] must be a table; received {raw!r}"]
    problems = []
    unknown = sorted(set(raw) - set(CONFIG_KINDS))
    if unknown:
        problems.append(f"unknown key(s) {', '.join(unknown)} in [ingest] (allowed: {', '.join(CONFIG_KINDS)})")
    for kind in (k for k in CONFIG_KINDS if k in raw):
        sub, where = raw[kind], f"[ingest.{kind}]"
        if not isinstance(sub, dict):
            problems.append(f"{where} must be a table; received {sub!r}")
            continue
        allowed = ("layer",) if kind == "boundary" else CONFIG_KEYS
        bad = sorted(set(sub) - set(allowed))
        if bad:
            problems.append(f"unknown key(s) {', '.join(bad)} in {where} (allowed: {', '.join(allowed)})")
        for key in ("date_format", "layer"):
            if key in sub and (not isinstance(sub[key], str) or not sub[key].strip()):
                problems.append(f"{key} in {where} must be a non-empty string; received {sub[key]!r}")
        for key in ("columns", "set"):
            table = sub.get(key, {})
            if not isinstance(table, dict):
                problems.append(f"{key} in {where} must be a table like {{name = \"value\"}}; received {table!r}")
                continue
            for name, value in table.items():
                ok = isinstance(value, str) and value.strip() or (
                    key == "columns" and isinstance(value, list) and len(value) == 2
                    and all(isinstance(v, str) and v.strip() for v in value))
                if key == "set" and isinstance(value, (int, float, bool)):
                    ok = True
                if not ok:
                    problems.append(f"{where} {key}.{name} must be a column name"
                                    f"{' or [DATE, TIME]' if key == 'columns' else ''}; received {value!r}")
        if kind in contracts.CONTRACTS and not problems:
            try:
                check_against_contract(from_config(sub), contracts.CONTRACTS[kind])
            except InvalidInputError as exc:
                text = str(exc).rstrip(".")
                for option, key in (("--columns", "columns"), ("--set", "set"), ("--date-format", "date_format")):
                    text = text.replace(option, key)
                problems.append(f"{where}: {text}")
    return problems


# --------------------------------------------------------------------------- checks

def check_date_format(fmt: str) -> None:
    """Refuse a date format DuckDB's strptime cannot use, or one without a day, month and year."""
    try:
        duckdb.connect().execute("select try_strptime('', $f)", {"f": fmt}).fetchall()
    except duckdb.Error as exc:
        raise InvalidInputError(f"--date-format {fmt!r} is not a strptime format "
                                f"({str(exc).splitlines()[0].split('Error: ', 1)[-1]}); e.g. \"%m/%d/%Y %I:%M:%S %p\".") from exc
    if not (re.search(r"%[dj]", fmt) and re.search(r"%[mbBj]", fmt) and re.search(r"%[Yy]", fmt)):
        raise InvalidInputError(f"--date-format {fmt!r} needs a day (%d), a month (%m or %b) and a year (%Y); "
                                f"e.g. \"%d/%m/%Y %H:%M\".")


def check_against_contract(mapping: ColumnMapping, contract: InputContract) -> None:
    """Targets must be contract columns; a column is either mapped or set, not both; the id is
    never a constant; a date format needs a kind with timestamps."""
    allowed = contract.columns
    for option, names in (("--columns", mapping.columns), ("--set", mapping.constants)):
        unknown = [n for n in names if n not in allowed]
        if unknown:
            raise InvalidInputError(f"{option}: {', '.join(unknown)} is not a column of {contract.kind}; "
                                    f"map to one of: {', '.join(allowed)}.")
    both = sorted(set(mapping.columns) & set(mapping.constants))
    if both:
        raise InvalidInputError(f"{', '.join(both)} is both mapped (--columns) and set (--set); keep one.")
    if contract.id_column in mapping.constants:
        raise InvalidInputError(f"--set: {contract.id_column} identifies each row and cannot be one value for "
                                f"the whole file; map it to a column with --columns {contract.id_column}=COLUMN.")
    for name, value in mapping.columns.items():
        parts = value if isinstance(value, tuple) else (value,)
        if len(parts) > 1 and name not in contracts.TIMESTAMP_COLUMNS.get(contract.kind, ()):
            raise InvalidInputError(f"--columns {name}: only a timestamp column can join a date and a time column.")
    if mapping.date_format:
        if not contracts.TIMESTAMP_COLUMNS.get(contract.kind):
            raise InvalidInputError(f"--date-format: {contract.kind} have no timestamp columns.")
        check_date_format(mapping.date_format)


def with_point_geometry(mapping: ColumnMapping, kind: str, path: Path) -> ColumnMapping:
    """A point file's geometry (``geometry_lat``/``geometry_lon``) as ``lat``/``lon`` for reports
    and disruptions unless they are mapped. Episodes have two locations (last seen, found): the
    user must say which the point is; a last-seen point is often the placement itself."""
    cols = dict(mapping.columns)
    if kind in POINT_DEFAULT_KINDS:
        if "lat" not in cols and "lon" not in cols:
            cols.update(lat=GEOMETRY_LAT, lon=GEOMETRY_LON)
    elif kind == "episodes" and not any(v in (GEOMETRY_LAT, GEOMETRY_LON) for v in cols.values()):
        raise InvalidInputError(
            f"{path.name}: say which location of the episode the points are: --columns "
            f"found_lat={GEOMETRY_LAT},found_lon={GEOMETRY_LON} (where the young person was found) or "
            f"last_seen_lat={GEOMETRY_LAT},last_seen_lon={GEOMETRY_LON}.")
    return replace(mapping, columns=cols)


# --------------------------------------------------------------------------- resolve + SQL

def _find(spec: str, by_name: Mapping[str, str], header: list[str]) -> str | None:
    if spec in header:
        return spec
    return by_name.get(normalise_column_name(spec))


def resolve(mapping: ColumnMapping, contract: InputContract, header: list[str],
            path: Path) -> dict[str, Source]:
    """{contract column: Source} for every mapped or set column, against the file's header
    (matched as written, else by normalised name). A column that is not in the file refuses
    the file, naming it and listing the file's columns."""
    by_name = {normalise_column_name(c): c for c in header}
    listing = ", ".join(header) or "(none)"
    stamps = contracts.TIMESTAMP_COLUMNS.get(contract.kind, ())
    out: dict[str, Source] = {}
    for target, spec in mapping.columns.items():
        parts = spec if isinstance(spec, tuple) else (spec,)
        whole = _find(spec, by_name, header) if isinstance(spec, str) else None
        if whole is not None:
            found = (whole,)
        else:
            if isinstance(spec, str) and "+" in spec:
                parts = tuple(p.strip() for p in spec.split("+"))
                if len(parts) != 2 or target not in stamps:
                    raise RefusedFileError(f"{path.name}: --columns {target}={spec}: only a timestamp column joins "
                                           f"two columns (DATE+TIME), and {spec!r} is not a column of the file.")
            found = tuple(_find(p, by_name, header) for p in parts)
            missing = [p for p, f in zip(parts, found) if f is None]
            if missing:
                raise RefusedFileError(
                    f"{path.name}: the column mapping maps {target} to {', '.join(map(repr, missing))}, which is "
                    f"not a column of the file; its columns are: {listing}.")
        out[target] = Source(columns=found, date_format=mapping.date_format if target in stamps else None)
    for target, value in mapping.constants.items():
        out[target] = Source(constant=value)
    for target in stamps:  # unmapped timestamp columns found by name also follow the date format
        if mapping.date_format and target not in out and target in by_name:
            out[target] = Source(columns=(by_name[target],), date_format=mapping.date_format)
    return out


def suggest_id_columns(header: list[str], limit: int = 3) -> list[str]:
    """Columns that look like a record id (``OFFENSE_ID``, ``IncidntNum``, ``Case Number``)."""
    pattern = re.compile(r"(^|_)(id|num|no|number|nbr)$|id$|num$|^(case|incident|offense|report)")
    return [c for c in header if pattern.search(normalise_column_name(c))][:limit]


def missing_id_message(path: Path, contract: InputContract, header: list[str]) -> str:
    """Refusal text when no column provides the contract's id (ids are never invented)."""
    hint = suggest_id_columns(header)
    example = f" (this file has {', '.join(hint)})" if hint else ""
    return (f"{path.name}: no {contract.id_column} column: every {contract.kind[:-1]} needs an id that stays the "
            f"same when the file is exported again; map one with --columns {contract.id_column}=COLUMN{example}.")


def _literal(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def select_item(target: str, source: Source, types: Mapping[str, str]) -> str:
    """The raw relation's SELECT item for a mapped contract column (always text).

    A date + time pair is joined with a space (null when the date is blank). With a date
    format, a text value matching it becomes ISO text; one that does not is marked so
    staging rejects it as ``bad_timestamp`` naming the value and the format.
    """
    if source.constant is not None:
        return f"cast({_literal(source.constant)} as varchar) as {_quote(target)}"
    texts = [f"trim(cast({_quote(c)} as varchar))" for c in source.columns]
    if len(texts) == 2:
        expr = (f"case when nullif({texts[0]}, '') is null then null "
                f"else trim({texts[0]} || ' ' || coalesce({texts[1]}, '')) end")
    else:
        expr = f"cast({_quote(source.columns[0])} as varchar)"
    typed = len(texts) == 1 and types.get(source.columns[0], "VARCHAR") != "VARCHAR"
    if source.date_format and not typed:  # a typed date or timestamp is already a time
        fmt = _literal(source.date_format)
        parsed = f"try_strptime(trim({expr}), {fmt})"
        # a format without a clock gives a date only: staging keeps it with time_known = false
        as_text = (f"cast({parsed} as varchar)" if _has_clock(source.date_format)
                   else f"cast(cast({parsed} as date) as varchar)")
        expr = (f"case when nullif(trim({expr}), '') is null then {expr} "
                f"when {parsed} is not null then {as_text} "
                f"else '\"' || trim({expr}) || '\" does not match --date-format ' || {fmt} end")
    return f"{expr} as {_quote(target)}"


#: strptime codes that give a time of day (without one, a format reads dates only).
_CLOCK_CODES = ("%H", "%I", "%M", "%S", "%T", "%R", "%X", "%c", "%s")


def _has_clock(fmt: str) -> bool:
    """True when the strptime format ``fmt`` reads a time of day, not only a date."""
    return any(code in fmt for code in _CLOCK_CODES)
