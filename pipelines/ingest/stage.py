"""Staging one file's raw rows (``sql/staging/stg_<kind>.sql``: validated, typed, H3-indexed,
hashed), the refusals judged on the staged rows, and the row-hash definition rekey shares."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Iterator

import duckdb

from analytics import contracts
from analytics.errors import RefusedFileError, StoreError
from pipelines.ingest.kinds import KindSpec
from pipelines.sqlrunner import run_sql
from pipelines.store import Store

FUTURE_TOLERANCE = timedelta(minutes=15)  # clock skew allowed before "future_timestamp"


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


def stored_columns(con, table: str) -> list[str]:
    """A data table's own columns: all but the bookkeeping ``row_hash`` and ``batch_id``."""
    return [r[0] for r in con.execute(f"describe {table}").fetchall() if r[0] not in ("row_hash", "batch_id")]


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
