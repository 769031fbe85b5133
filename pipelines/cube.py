"""Build the cube (counts per H3 cell x ISO week over the study area) from the store.

The cube lives in a temp table of the connection (``mart_cell_week_counts``), so it can
be built on a read-only connection; ``write_cube`` exports it to Parquet. The study
area is the ingested boundary's cells, or, without a boundary, the observed cells plus
``ring`` rings around them (and the cube info says so).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo
from pathlib import Path

import numpy as np
import pandas as pd

from analytics import grid
from analytics.errors import InvalidInputError
from analytics.weeks import last_complete_week, parse_week, week_label
from pipelines import as_reported
from pipelines.checks import require_checks
from pipelines.geo_inputs import current_boundary
from pipelines.sqlrunner import run_sql
from pipelines.store import Store


@dataclass
class CubeInfo:
    """What the cube covers and every automatic choice made to build it."""

    resolution: int
    n_cells: int
    n_weeks: int
    first_week: str
    last_week: str
    study_area: str
    n_events: int
    choices: list[str] = field(default_factory=list)
    time_zone: str = ""   # the store's zone: weeks run Monday to Sunday there

    def as_json(self) -> dict:
        return asdict(self)


def _study_cells(store: Store, resolution: int, ring: int, choices: list[str]) -> tuple[np.ndarray, str]:
    con = store.con
    stored = con.execute(
        "select cell from study_area_cells where resolution = $r order by cell", {"r": resolution}
    ).fetchnumpy()["cell"]
    if len(stored):
        return np.asarray(stored, dtype=np.uint64), "boundary"
    polygon = current_boundary(con)
    if polygon is not None:
        return grid.polygon_to_cells(polygon, resolution), "boundary"
    observed = con.execute(
        "select distinct cell from int_cell_events where cell is not null").fetchnumpy()["cell"]
    if not len(observed):
        raise InvalidInputError("The store holds no located events yet; ingest episodes or reports first.")
    choices.append(
        f"No boundary ingested: study area set to the {len(observed)} observed cells plus {ring} ring(s)."
    )
    return grid.grid_disk_cells(np.asarray(observed, dtype=np.uint64), ring), f"observed cells + {ring} ring(s)"


def prepare_events(store: Store, resolution: int | None = None) -> int:
    """Build ``int_cell_events`` (every located event at the cube resolution); return the resolution."""
    res = store.resolution if resolution is None else grid.check_resolution(resolution)
    run_sql(store.con, "intermediate/int_cell_events.sql",
            {"resolution": res, "store_resolution": store.resolution, "tz": store.timezone})
    return res


def build_cube(
    store: Store, resolution: int | None = None, first_week: str | None = None,
    last_week: str | None = None, ring: int = 1, check: bool = True, events_ready: bool = False,
) -> CubeInfo:
    """Build ``mart_cell_week_counts`` for the study area and run the cube checks.

    ``events_ready=True`` reuses ``int_cell_events`` that :func:`prepare_events` built on this
    connection at this resolution since the last ingest (a weekly run builds two cubes from
    the same events; preparing them is a full pass over every episode and report).

    The cube counts every event; for the counts as reported by an origin week see
    :mod:`pipelines.as_reported`.
    """
    con = store.con
    choices: list[str] = []
    res = (store.resolution if resolution is None else grid.check_resolution(resolution)) if events_ready \
        else prepare_events(store, resolution)
    cells, area = _study_cells(store, res, ring, choices)
    con.register("cube_cells_df", pd.DataFrame({"cell": cells}))
    con.execute("create or replace temp table cube_cells as select cast(cell as ubigint) as cell from cube_cells_df")
    con.unregister("cube_cells_df")
    lo, hi, n_events = con.execute(
        "select min(week_start), max(week_start), count(*) from int_cell_events "
        "where cell in (select cell from cube_cells)").fetchone()
    if first_week:
        lo = parse_week(first_week)
    if last_week:
        hi = parse_week(last_week)
    if lo is None or hi is None:
        raise InvalidInputError("No events fall inside the study area; nothing to build a cube from.")
    if lo > hi:
        raise InvalidInputError(f"First week {week_label(lo)} is after last week {week_label(hi)}.")
    if not first_week:
        choices.append(f"First week set to {week_label(lo)}, the earliest week with data.")
    if not last_week:
        choices.append(f"Last week set to {week_label(hi)}, the latest week with data.")
    run_sql(con, "marts/mart_cell_week_counts.sql", {"first_week": lo, "last_week": hi})
    if check:
        require_checks(con, cube=True)
    n_weeks = (hi - lo).days // 7 + 1
    return CubeInfo(res, int(len(cells)), n_weeks, week_label(lo), week_label(hi), area, int(n_events), choices,
                    store.timezone)


def cube_frame(store: Store) -> pd.DataFrame:
    """The built cube as a DataFrame (cells uint64)."""
    got = store.con.execute("select * from mart_cell_week_counts order by cell, week_start").fetchnumpy()
    frame = pd.DataFrame({k: np.asarray(v) for k, v in got.items()})
    frame["cell"] = frame["cell"].astype(np.uint64)
    return frame


def cube_arrays(store: Store, measure: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[date]]:
    """The built cube as dense arrays: cells (uint64), counts and exposure (n_cells x n_weeks), weeks.

    Fetches only the columns the statistics need (much faster than the whole frame).
    """
    if measure not in {r[0] for r in store.con.execute("describe mart_cell_week_counts").fetchall()}:
        raise InvalidInputError(f"The cube has no column {measure!r}.")
    got = store.con.execute(
        f"select cell, week_start, {measure} as n, exposure from mart_cell_week_counts "
        f"order by cell, week_start").fetchnumpy()
    weeks = np.unique(got["week_start"])
    n_weeks = len(weeks)
    cells = np.asarray(got["cell"][::n_weeks], dtype=np.uint64)
    shape = (len(cells), n_weeks)
    counts = np.asarray(got["n"], dtype=np.int64).reshape(shape)
    exposure = np.asarray(got["exposure"], dtype=np.float64).reshape(shape)
    return cells, counts, exposure, [pd.Timestamp(w).date() for w in weeks]


def week_end(week: str, tz: str) -> datetime:
    """The instant ISO week ``week`` ends in zone ``tz``: the next Monday, 00:00 local.

    >>> week_end("2025-W10", "Australia/Sydney").isoformat()
    '2025-03-10T00:00:00+11:00'
    """
    return datetime.combine(parse_week(week) + timedelta(weeks=1), time(0), tzinfo=ZoneInfo(tz))


def as_reported_arrays(store: Store, origin_week: str, first_week: str, measure: str = "reports",
                       resolution: int | None = None, events_ready: bool = False,
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[date], CubeInfo]:
    """The cube from ``first_week`` to ``origin_week`` as the service knew it when ``origin_week`` ended.

    A report whose ``reported_at`` is at or after the end of ``origin_week``
    (:func:`week_end`, in the store's zone) is left out; a report without
    ``reported_at`` counts as known when it happened; episode events count as known at their
    own time (:mod:`pipelines.as_reported`, the one implementation shared with the backtest).
    What a backtest at that origin may use (no leakage from late reports). Returns
    :func:`cube_arrays` for ``measure`` plus the cube's info (its choices say how
    many events were left out). Replaces the connection's built cube (which counts every event).
    """
    info = build_cube(store, resolution, first_week, origin_week, events_ready=events_ready)
    cells, counts, exposure, weeks = cube_arrays(store, measure)
    origin = len(weeks) - 1
    late = as_reported.late_reports(store, info.resolution, weeks)
    n_late = 0
    if late is not None:
        now = late.at(origin)
        rows = np.searchsorted(cells, now["cell"].to_numpy(dtype=np.uint64))
        ok = (rows < len(cells)) & (cells[np.minimum(rows, len(cells) - 1)] == now["cell"].to_numpy(np.uint64))
        n_late = int((ok & (now["week"].to_numpy() >= 0)).sum())
        late = late.for_measure(measure) if n_late else None  # nothing late here: every count is exact
    counts = as_reported.counts_as_reported(counts, cells, origin, late).astype(np.int64)
    end = week_end(origin_week, store.timezone)
    info.choices.append(f"Counts as reported by {end.isoformat(timespec='minutes')}: {n_late} event(s) in these "
                        "weeks reported later are left out.")
    return cells, counts, exposure, weeks, info


def write_cube(store: Store, path: Path, label: str | None = None) -> Path:
    """Export the cube to Parquet with cells as H3 hex strings (the edge format).

    ``label`` (e.g. the SYNTHETIC label) is written as a ``synthetic`` column in every row.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    # An H3 index's hex string is its uint64 in lower-case hex without padding (h3.int_to_str),
    # so DuckDB's to_hex gives it without a Python UDF call per row (~1.4 us x cells x weeks).
    extra = ", cast($label as varchar) as synthetic" if label else ""
    params = {"p": str(path), **({"label": label} if label else {})}
    store.con.execute(
        f"copy (select lower(to_hex(cell)) as cell, * exclude (cell){extra} from mart_cell_week_counts "
        "order by mart_cell_week_counts.cell, week_start) to $p (format parquet)", params)
    return path


def last_event_day(store: Store) -> date | None:
    """Local date (store's time zone) of the latest event in ``int_cell_events``, or None."""
    rows = store.con.execute('select max(cast("at" as date)) from int_cell_events').fetchall()
    return rows[0][0] if rows and rows[0][0] is not None else None


def latest_complete_week(store: Store, today: date | None = None) -> str | None:
    """The default week: the last *complete* ISO week (see :func:`analytics.weeks.last_complete_week`),
    or None when the store holds no complete week yet. Needs ``int_cell_events`` (:func:`prepare_events`).

    ``today`` defaults to today's date in the store's time zone.
    """
    last_day = last_event_day(store)
    if last_day is None:
        return None
    today = today or datetime.now(ZoneInfo(store.timezone)).date()
    monday = last_complete_week(last_day, today)
    first = store.con.execute("select min(week_start) from int_cell_events").fetchall()[0][0]
    if first is None or monday < first:
        return None
    return week_label(monday)
