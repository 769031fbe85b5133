"""Ingest input files into the store: load -> pseudonymise -> validate -> index -> dedupe/upsert.

One file is one batch and one transaction: an error half-way leaves the store as it
was. Every row read is accounted for as accepted, updated, duplicate or rejected
(quarantined with a machine-readable reason), and ``read == accepted + updated +
duplicate + rejected`` is checked before the batch commits. A file that cannot be
trusted at all (unreadable, missing required columns, identifying columns) is refused
whole with a message naming the file and the problem.

Validation rules live in ``sql/staging/stg_<kind>.sql``; this module runs them and
does the generic bookkeeping (raw load, pseudonyms, H3, dedupe, history, batches).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Sequence

import duckdb
import pandas as pd

from analytics import contracts
from analytics.contracts import InputContract, normalise_column_name
from analytics.errors import InvalidInputError, RefusedFileError, StoreError
from analytics.privacy import pseudonymise
from pipelines import geo_inputs
from pipelines.sqlrunner import run_sql
from pipelines.store import Store

TABULAR_SUFFIXES = {".csv", ".txt", ".tsv"}
PARQUET_SUFFIXES = {".parquet", ".pq"}
GEO_SUFFIXES = {".geojson", ".json", ".gpkg"}
FUTURE_TOLERANCE = timedelta(minutes=15)  # clock skew allowed before "future_timestamp"
SYNTHETIC_PREFIX = "SYN-"

#: CLI names of the input kinds -> contract kind.
KIND_ALIASES = {
    "episodes": "episodes", "reports": "reports", "location_reports": "reports",
    "places": "places", "disruptions": "disruptions", "boundary": "boundary",
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
    "episodes": KindSpec(contracts.EPISODES, "episodes", ("placement_types", "risk_levels"), True,
                         (("last_seen_lat", "last_seen_lon", "last_seen_cell"),
                          ("found_lat", "found_lon", "found_cell")), False),
    "reports": KindSpec(contracts.REPORTS, "location_reports", ("report_sources", "report_kinds"), True,
                        (("lat", "lon", "cell"),), True),
    "places": KindSpec(contracts.PLACES, "places", ("place_categories",), False,
                       (("lat", "lon", "cell"),), False),
    "disruptions": KindSpec(contracts.DISRUPTIONS, "disruptions", ("disruption_kinds",), True,
                            (("lat", "lon", "cell"),), False),
}


@dataclass
class BatchResult:
    """What happened to one file."""

    file: str
    kind: str
    batch_id: str | None
    read: int = 0
    accepted: int = 0
    updated: int = 0
    duplicate: int = 0
    rejected: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    dropped_columns: list[str] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    synthetic: bool = False

    def as_json(self) -> dict:
        return asdict(self)

    def balanced(self) -> bool:
        return self.read == self.accepted + self.updated + self.duplicate + self.rejected


def file_sha256(path: Path) -> str:
    """sha256 of a file, streamed."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def resolve_kind(kind: str) -> str:
    """Normalise a CLI kind name, or raise a clear error listing the allowed ones."""
    key = kind.strip().lower()
    if key not in KIND_ALIASES:
        raise InvalidInputError(
            f"Unknown input kind {kind!r}; use one of: episodes, reports, places, disruptions, boundary."
        )
    return KIND_ALIASES[key]


# --------------------------------------------------------------------------- raw load

def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _source(con: duckdb.DuckDBPyConnection, path: Path, kind: str) -> tuple[str, dict, list[str]]:
    """The file as a DuckDB relation: (FROM expression, its parameters, its column names).

    Nothing is loaded yet; DESCRIBE only sniffs the header (and a sample, for CSV).
    """
    suffix = path.suffix.lower()
    params = {"p": str(path)}
    if suffix in PARQUET_SUFFIXES:
        relation = "read_parquet($p)"
    elif suffix in TABULAR_SUFFIXES:
        relation = ("read_csv($p, all_varchar = true, header = true, encoding = 'utf-8', "
                    "strict_mode = true)")
    elif suffix in GEO_SUFFIXES and kind == "places":
        con.register("raw_file_df", geo_inputs.read_places(path))
        relation, params = "raw_file_df", {}
    else:
        allowed = "CSV or Parquet" + (" or GeoJSON/GeoPackage" if kind == "places" else "")
        raise RefusedFileError(f"{path.name}: unsupported file type {suffix or '(none)'}; use {allowed}.")
    try:
        columns = [r[0] for r in con.execute(f"describe select * from {relation}", params).fetchall()]
    except duckdb.Error as exc:
        raise RefusedFileError(f"{path.name}: cannot be read ({str(exc).strip().splitlines()[0]}).") from exc
    return relation, params, columns


def _map_columns(source_cols: list[str], path: Path, contract: InputContract,
                 drop_identifying: bool) -> tuple[dict, list, list]:
    """Contract column -> source column; refuse identifying or missing required columns."""
    if len(source_cols) == 1 and ";" in source_cols[0] and contract.kind != "places":
        raise RefusedFileError(
            f"{path.name}: only one column was found ({source_cols[0][:60]!r}); the file looks "
            f"semicolon-delimited. Save it as comma-separated CSV."
        )
    normalised: dict[str, str] = {}
    for col in source_cols:
        name = normalise_column_name(col)
        if name in normalised:
            raise RefusedFileError(f"{path.name}: duplicate column {name!r} in the header.")
        normalised[name] = col
    identifying = sorted(
        n for n in normalised if n in contracts.IDENTIFYING_COLUMNS and n not in contract.columns)
    if identifying and not drop_identifying:
        raise RefusedFileError(
            f"{path.name}: refused, it has identifying columns {', '.join(identifying)}; remove them, "
            f"or re-run with --drop-identifying-columns to drop them before anything is stored."
        )
    missing = [c for c in contract.required if c not in normalised]
    if missing:
        raise RefusedFileError(
            f"{path.name}: missing required column(s) {', '.join(missing)} for {contract.kind}; "
            f"found: {', '.join(sorted(normalised)) or '(none)'}."
        )
    mapping = {c: normalised[c] for c in contract.columns if c in normalised}
    ignored = sorted(n for n in normalised if n not in contract.columns and n not in identifying)
    return mapping, identifying, ignored


def _build_raw_kind(con, path: Path, kind: str, contract: InputContract, mapping: dict,
                    relation: str, params: dict) -> None:
    """Temp table ``raw_<kind>`` in one pass: a 1-based ``_row`` and exactly the contract
    columns as text (absent ones null). Identifying and unknown columns are never read."""
    cols = ", ".join(
        f"cast({_quote(mapping[c])} as varchar) as {_quote(c)}" if c in mapping
        else f"cast(null as varchar) as {_quote(c)}"
        for c in contract.columns
    )
    try:
        con.execute(f"create or replace temp table raw_{kind} as "
                    f"select row_number() over () as _row, {cols} from {relation}", params)
    except duckdb.Error as exc:
        raise RefusedFileError(f"{path.name}: cannot be read ({str(exc).strip().splitlines()[0]}).") from exc
    finally:
        if relation == "raw_file_df":
            con.unregister("raw_file_df")


def _pseudonymise_raw(con, kind: str, contract: InputContract, key: bytes) -> None:
    """Replace person/placement references by keyed pseudonyms before anything else sees them."""
    for col in contract.pseudonymised:
        values = [r[0] for r in con.execute(
            f"select distinct clean({col}) from raw_{kind} where clean({col}) is not null").fetchall()]
        if not values:
            continue
        mapping = pd.DataFrame({"raw": values, "pseudonym": pseudonymise(values, key)})
        con.register("pseudonym_map_df", mapping)
        con.execute(
            f"update raw_{kind} set {col} = m.pseudonym from pseudonym_map_df m "
            f"where clean(raw_{kind}.{col}) = m.raw")
        con.unregister("pseudonym_map_df")


# --------------------------------------------------------------------------- staging

def _stage(store: Store, kind: str, spec: KindSpec, now: datetime) -> None:
    params = {name: list(contracts.ENUM_PARAMS[name]) for name in spec.enum_params}
    if spec.checks_future:
        params["not_after"] = now + FUTURE_TOLERANCE
    run_sql(store.con, f"staging/stg_{kind}.sql", params)
    con = store.con
    stg = f"stg_{kind}"
    if kind == "disruptions":
        con.execute(
            f"update {stg} set cell = h3_cell_to_parent(h3_hex_to_cell(h3_cell), $res) "
            f"where reject is null and h3_cell is not null", {"res": store.resolution})
        con.execute(
            f"update {stg} set reject = reject('bad_h3_cell', h3_cell) "
            f"where reject is null and h3_cell is not null and cell is null")
    for lat, lon, cell in spec.cells:
        con.execute(
            f"update {stg} set {cell} = h3_cell({lat}, {lon}, $res) "
            f"where reject is null and {lat} is not null and {cell} is null", {"res": store.resolution})
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


def _stored_columns(con, table: str) -> list[str]:
    return [r[0] for r in con.execute(f"describe {table}").fetchall() if r[0] not in ("row_hash", "batch_id")]


# --------------------------------------------------------------------------- classify + apply

def _classify(con, kind: str, spec: KindSpec, stored: list[str]) -> None:
    """Temp table ``cls_<kind>``: the staged rows with ``row_hash`` and ``outcome``.

    Outcomes: rejected (failed a rule), conflict (same id, different content in this
    file), duplicate (repeat in this file, or identical to the stored row), new, update.
    """
    idc = spec.contract.id_column
    # md5 over the text of every stored column (a unit separator between them, NUL for null):
    # stable across DuckDB versions, unlike hash(), so re-ingesting old files stays a no-op.
    content = ", ".join(f"coalesce(cast({c} as varchar), chr(0))" for c in stored)
    con.execute(f"""
        create or replace temp table cls_{kind} as
        with hashed as (
            select *, md5(concat_ws(chr(31), {content})) as row_hash from stg_{kind}
        ),
        grp as (
            select {idc} as id, min(row_hash) <> max(row_hash) as conflict, min(_row) as first_row
            from hashed where reject is null group by {idc}
        ),
        current as (select {idc} as id, row_hash as current_hash from {spec.table})
        select h.*,
            case
                when h.reject is not null then 'rejected'
                when g.conflict then 'conflict'
                when h._row <> g.first_row then 'duplicate'
                when c.id is null then 'new'
                when c.current_hash = h.row_hash then 'duplicate'
                else 'update'
            end as outcome
        from hashed h
        left join grp g on h.{idc} = g.id
        left join current c on h.{idc} = c.id and h._row = g.first_row
    """)
    con.execute(f"drop table stg_{kind}")


def _apply(con, kind: str, spec: KindSpec, stored: list[str], batch_id: str, now: datetime) -> None:
    """Write history, current rows and quarantine for one classified batch."""
    idc = spec.contract.id_column
    cols = ", ".join(stored)
    updates = f"(select {idc} from cls_{kind} where outcome = 'update')"
    con.execute(
        f"insert into {spec.table}_history select *, $b, $now from {spec.table} where {idc} in {updates}",
        {"b": batch_id, "now": now})
    con.execute(f"delete from {spec.table} where {idc} in {updates}")
    con.execute(
        f"insert into {spec.table} ({cols}, row_hash, batch_id) "
        f"select {cols}, row_hash, $b from cls_{kind} where outcome in ('new', 'update')",
        {"b": batch_id})
    _insert_quarantine(con, kind, spec, batch_id)


def _insert_quarantine(con, kind: str, spec: KindSpec, batch_id: str) -> None:
    idc = spec.contract.id_column
    raw_cols = ", ".join(f"{_quote(c)} := r.{_quote(c)}" for c in spec.contract.columns)
    con.execute(f"""
        insert into quarantine
        select $b, $k, s._row, s.{idc},
            coalesce(s.reject.r, 'conflicting_duplicate_id'),
            coalesce(s.reject.d, case when s.outcome = 'conflict'
                then '{idc} ' || s.{idc} || ' appears with different content in this file' end),
            to_json(struct_pack({raw_cols}))
        from (select * from cls_{kind} where outcome in ('rejected', 'conflict')) s
        join raw_{kind} r using (_row)
        order by s._row
    """, {"b": batch_id, "k": kind})


def _next_batch_id(con) -> str:
    n = con.execute("select count(*) from batches").fetchone()[0]
    return f"B{n + 1:06d}"


def _summarise(con, kind: str, spec: KindSpec, result: BatchResult, batch_id: str) -> None:
    counts = dict(con.execute(f"select outcome, count(*) from cls_{kind} group by outcome").fetchall())
    result.read = con.execute(f"select count(*) from raw_{kind}").fetchone()[0]
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


def _record_batch(con, result: BatchResult, sha: str, started: datetime) -> None:
    con.execute(
        "insert into batches values ($b, $k, $f, $sha, $s, $e, $r, $a, $u, $d, $j, $dc, $ic, $syn)",
        {"b": result.batch_id, "k": result.kind, "f": result.file, "sha": sha, "s": started,
         "e": datetime.now(timezone.utc), "r": result.read, "a": result.accepted, "u": result.updated,
         "d": result.duplicate, "j": result.rejected,
         "dc": ",".join(result.dropped_columns) or None, "ic": ",".join(result.ignored_columns) or None,
         "syn": result.synthetic})


def _drop_temp(con, kind: str) -> None:
    for t in (f"raw_{kind}", f"stg_{kind}", f"cls_{kind}"):
        con.execute(f"drop table if exists {t}")
    try:
        con.unregister("raw_file_df")
    except duckdb.Error:
        pass


def ingest_file(
    store: Store, kind: str, path: Path, key: bytes, drop_identifying: bool = False,
    now: datetime | None = None,
) -> BatchResult:
    """Ingest one file as one batch in one transaction; return its accounting."""
    kind = resolve_kind(kind)
    path = Path(path)
    if not path.is_file():
        raise RefusedFileError(f"{path}: no such file.")
    if kind == "boundary":
        return geo_inputs.ingest_boundary(store, path, file_sha256(path))
    spec = SPECS[kind]
    now = now or datetime.now(timezone.utc)
    started = datetime.now(timezone.utc)
    sha = file_sha256(path)
    con = store.con
    result = BatchResult(file=path.name, kind=kind, batch_id=None)
    try:
        relation, params, columns = _source(con, path, kind)
        mapping, identifying, ignored = _map_columns(columns, path, spec.contract, drop_identifying)
        result.dropped_columns, result.ignored_columns = identifying, ignored
        _build_raw_kind(con, path, kind, spec.contract, mapping, relation, params)
        with store.transaction():
            _pseudonymise_raw(con, kind, spec.contract, key)
            _stage(store, kind, spec, now)
            stored = _stored_columns(con, spec.table)
            _classify(con, kind, spec, stored)
            result.batch_id = _next_batch_id(con)
            _apply(con, kind, spec, stored, result.batch_id, now)
            _summarise(con, kind, spec, result, result.batch_id)
            if not result.balanced():
                raise StoreError(f"{path.name}: row accounting does not balance ({result.as_json()}); rolled back.")
            _record_batch(con, result, sha, started)
    except duckdb.Error as exc:
        raise StoreError(f"{path.name}: ingest failed and was rolled back ({str(exc).splitlines()[0]}).") from exc
    finally:
        _drop_temp(con, kind)
    return result


def ingest_files(
    store: Store, kind: str, paths: Sequence[Path], key: bytes, drop_identifying: bool = False,
    on_file: Callable[[BatchResult], None] | None = None,
) -> list[BatchResult]:
    """Ingest several files, one batch each, in the order given."""
    results = []
    for path in paths:
        result = ingest_file(store, kind, Path(path), key, drop_identifying)
        results.append(result)
        if on_file:
            on_file(result)
    return results
