"""The weekly run (``hotspots weekly``): engine -> patrol plan -> maps -> report -> privacy scan.

One ISO week, one folder ``<out_root>/<week>/`` (shared files at its top, analyst-only files in
its owner-only ``analyst/`` subfolder: :mod:`pipelines.layout`; written into a temporary folder
and published only after the privacy check passes: :mod:`pipelines.publish`) holding

* the hotspot engine's outputs (``cube.parquet``, ``hotspots.parquet`` + ``.geojson``,
  ``scan_clusters.geojson``, ``clusters.geojson``, ``convergence.parquet``),
* ``patrol_plan.csv`` + ``patrol_plan.geojson`` (commanders; cells, places and times only),
* ``analyst_map.html`` (analyst) and ``patrol_map.html`` (commanders), both offline,
* ``report.html`` (the analyst's weekly report, shareable with partners),
* ``run.json``: the engine's record extended with the weekly parameters, every automatic
  choice, the backtest, timings and the privacy scan's result.

Steps, each recorded in run.json ``weekly.timings_s``:

1. the hotspot engine (:func:`pipelines.hotspots_run.run_hotspots`) on the week;
2. ``previous_week``: the same statistics on the window ending one week earlier (categories
   for the headline "new / intensifying / ended", and last week's plan for the backtest when
   no saved plan exists);
3. ``forecast``: next week's events per cell (:mod:`analytics.forecast`, :data:`WEEKLY_FORECAST`) fitted by
   rolling origin on the store's own cube history (past only);
4. ``patrol_plan``: the forecast's cells grouped into places of at most 7 cells
   (:func:`analytics.plan_places.group_places`, safeguarding-withheld cells left out first), each
   described by :func:`analytics.plan_places.place_plan` (kind, reason, interval); time windows
   from the hour-of-week (store time zone) of every found/report event in the planned cells up
   to the end of the week, shrunk toward the study area's (``episode_started`` events are left
   out: a last-seen location is often the placement itself);
5. ``maps``, ``report``, ``privacy_scan`` (:mod:`pipelines.privacy_scan` over the folder with
   every pseudonym, episode/report id and raw event coordinate of the store).

Configuration (``hotspots.toml``, read by :func:`load_config`)::

    tiles = "https://your-tile-server/{z}/{x}/{y}.png"   # or "city.mbtiles"/".pmtiles" (embedded); default: none
    k_suppression = 5       # counts of distinct young people below k show as "<k"
    top_n = 10              # hotspots in the report's table and equity section
    equity_weeks = 8        # weeks of events behind each hotspot's equity breakdown
    harm_weeks = 4          # weeks of cse_concern / high-risk events in the patrol score

    [patrol]                # analytics.patrol.PatrolParams
    n_cells = 10

    [hotspots]              # analytics.engine.HotspotParams (not week / resolution)
    scan_replicates = 999
    rules = "default"       # or "arcgis" (ESRI's published rules); --rules overrides
    bin_weeks = "auto"      # or 1, 2, 4: weeks per bin (analytics.bins); --bin-weeks overrides

    [ingest.reports]        # read by `hotspots ingest` (pipelines.column_mapping), checked by every command
    columns = {report_id = "OFFENSE_ID", observed_at = "FIRST_OCCURRENCE_DATE", lat = "GEO_LAT", lon = "GEO_LON"}
    date_format = "%m/%d/%Y %I:%M:%S %p"
    set = {source = "police"}
"""

from __future__ import annotations

import json
import math
import time
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

import geopandas as gpd
import h3
import numpy as np
import pandas as pd

from analytics import grid
from analytics.accuracy import hit_rate, max_capture, pai, pei_star
from analytics.engine import HotspotParams, analyse_statistics
from analytics.errors import HotspotError, NotEnoughData, InvalidInputError
from pipelines.render.analyst_map import analyst_map
from pipelines.render.context import map_notes
from pipelines.render.map_parts import render_html
from pipelines.render.map_ui import SERIES_WEEKS
from pipelines.render.tiles import check_tiles
from pipelines.render.patrol_map import patrol_map
from analytics.forecast import ForecastParams, poisson_interval, rolling_forecasts
from analytics.patrol import HOURS_PER_WEEK, PatrolParams, plan_cells, plan_geojson, rank_cells
from analytics.plan_places import JOIN_SHARE, MAX_PLACE_CELLS, group_places, place_plan
from analytics.privacy import DEFAULT_K
from analytics import safeguarding
from analytics.week_change import HOT_NOW, week_changes
from analytics.weeks import parse_week, week_label
from pipelines import column_mapping
from pipelines import cube as cube_mod
from pipelines import layout, publish
from pipelines.area_hotspots import read_area_hotspots
from pipelines.areas import load_areas, name_plan_areas
from pipelines.csv_out import write_csv
from pipelines.json_out import jsonable
from pipelines.privacy_scan import ANALYST_ONLY_FILES, SHARED_FILES
from pipelines.timing import StepTimer
from pipelines.hotspots_run import (SYNTHETIC_LABEL, HotspotRun, store_places, default_week, default_week_choice,
                                    run_hotspots)
from pipelines.store import Store

__all__ = ["WeeklyRun", "run_weekly", "load_config", "validate_config", "DEFAULT_CONFIG", "WEEKLY_STEPS",
           "SHARED_OUTPUTS", "ANALYST_OUTPUTS", "weekly_outputs_for_demo"]

#: Progress steps reported by :func:`run_weekly` (engine steps first), for a progress bar's total.
WEEKLY_STEPS = ("cube", "gi_star", "trend_and_categories", "scan", "st_dbscan", "convergence", "places", "write",
                "forecast", "previous_week", "patrol_plan", "maps", "report", "privacy_scan")
#: The forecast behind the plan (analytics.forecast): its defaults, but fitted on the last 13 past origins
#: (4 held out to choose the model), 30 boosting rounds and 10 % of the zero-count rows (weighted 10×), so
#: the weekly run stays fast; the benchmark (benchmarks.ranking) uses the full defaults.
WEEKLY_FORECAST = ForecastParams(train_origins=13, validation_origins=4, max_iter=30, zero_keep=0.1)
#: Files meant for commanders, partners and researchers: no person refs, placement or raw event
#: coordinates, and counts of distinct young people below k suppressed (scanned in full).
SHARED_OUTPUTS = SHARED_FILES
#: Analyst-only files (may hold exact counts and cluster hulls); scanned for person references only.
ANALYST_OUTPUTS = ANALYST_ONLY_FILES

_PATROL_KEYS = ("n_cells", "window_hours", "n_windows", "visit_minutes", "revisit_minutes", "w_category",
                "w_excess", "w_convergence", "w_harm", "n_bands", "smoothing_hours")
_HOTSPOT_KEYS = tuple(f.name for f in fields(HotspotParams) if f.init and f.name not in ("week", "resolution"))
#: Top-level keys and their defaults (``patrol`` and ``hotspots`` are tables).
DEFAULT_CONFIG: dict = {
    "tiles": None, "k_suppression": DEFAULT_K, "top_n": 10, "equity_weeks": 8, "harm_weeks": 4,
    "patrol": {}, "hotspots": {}, "ingest": {},
}


# ------------------------------------------------------------------------------------ config
def _config_error(source: str, problems: list[str]) -> InvalidInputError:
    return InvalidInputError(f"Invalid configuration in {source}: " + "; ".join(problems) + ".")


def validate_config(raw: dict | None, source: str = "config") -> dict:
    """Check a configuration dict (as parsed from ``hotspots.toml``) and fill in defaults.

    Unknown keys, wrong types and out-of-range values raise :class:`InvalidInputError`
    naming the key, the value received and what is allowed.
    """
    raw = dict(raw or {})
    problems: list[str] = []
    unknown = sorted(set(raw) - set(DEFAULT_CONFIG))
    if unknown:
        problems.append(f"unknown key(s) {', '.join(unknown)} (allowed: {', '.join(DEFAULT_CONFIG)})")
    cfg = {**DEFAULT_CONFIG, **{k: v for k, v in raw.items() if k in DEFAULT_CONFIG}}
    tiles = cfg["tiles"]
    if tiles in ("", "none", "None"):
        cfg["tiles"] = tiles = None
    if check_tiles(tiles):
        problems.append(check_tiles(tiles))
    for key, low, high in (("k_suppression", DEFAULT_K, 100), ("top_n", 1, 100), ("equity_weeks", 1, 104),
                           ("harm_weeks", 1, 52)):
        v = cfg[key]
        if key == "k_suppression" and isinstance(v, int) and not isinstance(v, bool) and v < low:
            problems.append(f"k_suppression = {v} is refused: shared outputs need k_suppression of at least {low} "
                            "(counts of young people below it are hidden); --analyst-detail gives analysts exact counts")
        elif isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high:
            problems.append(f"{key} must be an integer from {low} to {high}; received {v!r}")
    for table, allowed in (("patrol", _PATROL_KEYS), ("hotspots", _HOTSPOT_KEYS)):
        sub = cfg[table]
        if not isinstance(sub, dict):
            problems.append(f"[{table}] must be a table; received {sub!r}")
            continue
        bad = sorted(set(sub) - set(allowed))
        if bad:
            problems.append(f"unknown key(s) {', '.join(bad)} in [{table}] (allowed: {', '.join(allowed)})")
        cfg[table] = {k: v for k, v in sub.items() if k in allowed}
    problems += column_mapping.validate_config_section(cfg["ingest"])
    if problems:
        raise _config_error(source, problems)
    try:  # the parameter objects validate values and say what is allowed
        PatrolParams(**cfg["patrol"])
        HotspotParams(**cfg["hotspots"])
    except (InvalidInputError, TypeError) as exc:
        raise _config_error(source, [str(exc).replace("\n", " ")]) from exc
    return cfg


def load_config(path: Path | None) -> dict:
    """Read ``hotspots.toml`` (or return the defaults when ``path`` is None) and validate it."""
    if path is None:
        return validate_config({})
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"Config file {path} not found; create it or leave out --config.")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInputError(f"Config file {path} is not valid TOML: {exc}.") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"Config file {path} cannot be read: {exc}.") from exc
    return validate_config(raw, source=str(path))


# ------------------------------------------------------------------------------------ run
@dataclass
class WeeklyRun(HotspotRun):
    """What a weekly run produced: the engine run's fields, plus the data's origin and privacy findings."""

    synthetic: bool = False
    privacy_findings: list = field(default_factory=list)
    #: The safeguarding rules' verdict (analytics.safeguarding.SafeguardDecision), None before the plan step.
    safeguard: object = None


def _hot_now(categories: pd.Series) -> np.ndarray:
    """Cells that are hot spots this week (every hot category but ``historical_hot``)."""
    return categories.isin(HOT_NOW).to_numpy()


def _harm_events(store, weeks: list[date], harm_weeks: int) -> pd.Series:
    """Episodes with a CSE concern or high risk per cell over the last ``harm_weeks`` weeks of the cube."""
    return _harm_between(store, weeks[max(0, len(weeks) - harm_weeks)], weeks[-1])


def _harm_between(store, first: date, last: date) -> pd.Series:
    """Episodes with a CSE concern or high risk per cell in the built cube's weeks ``first``..``last``."""
    got = store.con.execute(
        "select cell, sum(cse_concern_episodes + high_risk_episodes) as n from mart_cell_week_counts "
        "where week_start between $a and $b group by cell", {"a": first, "b": last}).fetchnumpy()
    return pd.Series(np.asarray(got["n"], dtype=float), index=np.asarray(got["cell"], dtype=np.uint64))


@dataclass
class _PreviousWindow:
    """The window ending one week before the analysed week: arrays as :func:`cube_mod.cube_arrays` and harm."""

    cells: np.ndarray
    counts: np.ndarray
    exposure: np.ndarray
    weeks: list[date]
    harm: pd.Series


def _previous_window(store: Store, res: int, measure: str, harm_weeks: int, cells: np.ndarray,
                     counts: np.ndarray, exposure: np.ndarray, weeks: list[date]) -> _PreviousWindow:
    """Last week's window from this week's cube plus the one week it adds at the start.

    Why: cube rows are per (cell, week) with nothing shared between weeks, so the window
    ending last week is this window without its last week, plus the week before its
    first. Only that week is built from the events (rebuilding every week of the window
    was most of the step); the built cube (temp table) is then that one week. Harm
    events for the previous plan are summed from this week's cube before it is replaced.
    """
    first_prev = weeks[0] - timedelta(weeks=1)
    p_weeks = [first_prev, *weeks[:-1]]
    harm_from = p_weeks[max(0, len(p_weeks) - harm_weeks)]
    harm = _harm_between(store, max(harm_from, weeks[0]), weeks[-2])
    cube_mod.build_cube(store, res, week_label(first_prev), week_label(first_prev), events_ready=True)
    w_cells, w_counts, w_exposure, _ = cube_mod.cube_arrays(store, measure)
    if not np.array_equal(w_cells, cells):  # not the same study area: build the whole window instead
        cube_mod.build_cube(store, res, week_label(first_prev), week_label(weeks[-2]), events_ready=True)
        p_cells, p_counts, p_exposure, p_weeks = cube_mod.cube_arrays(store, measure)
        return _PreviousWindow(p_cells, p_counts, p_exposure, p_weeks, _harm_events(store, p_weeks, harm_weeks))
    if harm_from <= first_prev:
        harm = harm.add(_harm_between(store, first_prev, first_prev), fill_value=0.0)
    return _PreviousWindow(cells, np.hstack([w_counts, counts[:, :-1]]), np.hstack([w_exposure, exposure[:, :-1]]),
                           p_weeks, harm)


def _rank_frame(cells: np.ndarray, categories, count, expected, z, harm: pd.Series,
                convergence: pd.Series | None, places=None) -> pd.DataFrame:
    frame = pd.DataFrame({"cell": cells, "category": np.asarray(categories), "count": count, "expected": expected,
                          "z": z})
    frame["harm_events"] = harm.reindex(cells).fillna(0).to_numpy()
    frame["convergence_score"] = (convergence.reindex(cells).fillna(0).to_numpy()
                                  if convergence is not None else 0.0)
    if places is not None:
        frame["places"] = places
    return frame


def _event_times(store: Store, cells: np.ndarray, last_week: date) -> pd.DataFrame:
    """Found/report events in ``cells`` up to the end of the analysed week (all history), for the
    hour-of-week windows: a report given as a date only (``time_known`` false) is left out."""
    if len(cells) == 0:
        return pd.DataFrame({"cell": np.array([], dtype=np.uint64), "timestamp": pd.to_datetime([], utc=True)})
    store.con.register("weekly_plan_cells", pd.DataFrame({"cell": cells.astype(np.uint64)}))
    try:
        ev = store.con.execute(
            "select cell, \"at\" as timestamp from int_cell_events "
            "where event <> 'episode_started' and week_start <= $last and time_known "
            "and cell in (select cast(cell as ubigint) from weekly_plan_cells)", {"last": last_week}).df()
    finally:
        store.con.unregister("weekly_plan_cells")
    ev["cell"] = ev["cell"].astype(np.uint64)
    return ev


def _backtest(plan_cells: np.ndarray, cells: np.ndarray, this_week: np.ndarray, areas: np.ndarray) -> dict:
    """Last week's plan cells scored against this week's events (hit rate, PAI, PEI*)."""
    chosen = np.isin(cells, plan_cells)
    n, N = float(this_week[chosen].sum()), float(this_week.sum())
    a, A = float(areas[chosen].sum()), float(areas.sum())
    n_star = max_capture(this_week, int(chosen.sum()))

    def clean(v: float) -> float | None:
        return None if v is None or (isinstance(v, float) and math.isnan(v)) else round(float(v), 4)

    return {"n_cells": int(chosen.sum()), "n": int(n), "N": int(N), "a_km2": round(a, 4), "A_km2": round(A, 3),
            "n_star": int(n_star), "hit_rate": clean(hit_rate(n, N)), "pai": clean(pai(n, N, a, A)),
            "pei_star": clean(pei_star(n, n_star)), "cells": grid.cells_to_hex(cells[chosen])}


def _read_layer(path: Path) -> gpd.GeoDataFrame | None:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not data.get("features"):
        return None
    return gpd.read_file(path)


def _synthetic(out_dir: Path) -> bool:
    return bool(json.loads(layout.output_path(out_dir, "run").read_text(encoding="utf-8")).get("synthetic"))

# ------------------------------------------------------------------------------------ forecast plan
@dataclass
class _History:
    """The cube over the weeks the forecast needs, rows in this week's cube's cell order."""

    counts: np.ndarray
    weeks: list[date]
    note: str


def _forecast_history(store: Store, res: int, measure: str, cells: np.ndarray, counts: np.ndarray,
                      weeks: list[date], fparams: ForecastParams) -> _History:
    """Counts from ``train_origins`` + the longest feature window before the analysed week (or from the first
    week with data) to the analysed week, rows in ``cells`` order.

    Only the weeks before this week's cube are built (the built cube, a temp table, is replaced by them);
    the analysed window's ``counts`` are reused.
    """
    need = fparams.train_origins + max(max(fparams.windows), fparams.kde_weeks, max(fparams.ring_windows))
    first_data = store.con.execute("select min(week_start) from int_cell_events").fetchone()[0]
    first = weeks[-1] - timedelta(weeks=need - 1)
    if first_data is not None:
        first = max(first, first_data - timedelta(days=first_data.weekday()))
    if first >= weeks[0]:
        return _History(counts, list(weeks), f"{week_label(weeks[0])} to {week_label(weeks[-1])} "
                                             f"({len(weeks)} weeks)")
    cube_mod.build_cube(store, res, week_label(first), week_label(weeks[0] - timedelta(weeks=1)),
                        events_ready=True, check=False)
    h_cells, h_counts, _, h_weeks = cube_mod.cube_arrays(store, measure)
    if not np.array_equal(h_cells, cells):  # same study area expected; align defensively
        out = np.zeros((len(cells), h_counts.shape[1]))
        pos = np.clip(np.searchsorted(h_cells, cells), 0, max(len(h_cells) - 1, 0))
        hit = h_cells[pos] == cells if len(h_cells) else np.zeros(len(cells), dtype=bool)
        out[hit] = h_counts[pos[hit]]
        h_counts = out
    all_weeks = [*h_weeks, *weeks]
    return _History(np.hstack([h_counts, counts]), all_weeks,
                    f"{week_label(all_weeks[0])} to {week_label(all_weeks[-1])} ({len(all_weeks)} weeks)")


def _forecasts(history: _History, cells: np.ndarray, origins: list[int], fparams: ForecastParams,
               choices: list[str]) -> dict[int, pd.DataFrame]:
    """Expected events next week per cell at each origin (week index into the history), from the past only.

    With too little history for the fitted forecast, the forecast is each cell's mean weekly count over the
    weeks available (up to 52) with its Poisson interval, and the run's choices say so.
    """
    out: dict[int, pd.DataFrame] = {}
    try:
        for f in rolling_forecasts(history.counts, cells, origins, fparams):
            frame = f.as_frame()
            frame.attrs["choices"] = f.choices
            out[f.origin] = frame
    except InvalidInputError as exc:
        choices.append(f"Patrol plan: {exc} The plan ranks cells by their mean weekly count over the weeks "
                       "available instead.")
        for o in origins:
            past = history.counts[:, max(0, o - 51):o + 1]
            mu = past.mean(axis=1) if past.shape[1] else np.zeros(len(cells))
            lo, hi = poisson_interval(mu, fparams.level)
            frame = pd.DataFrame({"cell": cells, "expected": mu, "expected_low": lo, "expected_high": hi})
            frame.attrs["choices"] = {"model": "mean weekly count (fallback)", "weeks": int(past.shape[1])}
            out[o] = frame
    return out


def _area_profile(store: Store, last_week: date, tz: str) -> np.ndarray:
    """Found/report events per local hour of the week over the study area (all history to ``last_week``):
    the prior every plan entry's hour-of-week profile is shrunk toward. Uses the built cube's cells."""
    got = store.con.execute(
        "select date_trunc('hour', \"at\") as h, count(*) as n from int_cell_events "
        "where event <> 'episode_started' and week_start <= $last and time_known "
        "and cell in (select cell from cube_cells) group by 1", {"last": last_week}).df()
    if not len(got):
        return np.zeros(HOURS_PER_WEEK)
    t = pd.to_datetime(got["h"], utc=True).dt.tz_convert(tz)
    how = (t.dt.day_of_week * 24 + t.dt.hour).to_numpy(dtype=np.int64)
    return np.bincount(how, weights=got["n"].to_numpy(dtype=np.float64), minlength=HOURS_PER_WEEK)


def _plan_cells_of(groups: pd.DataFrame) -> np.ndarray:
    return np.array(sorted({int(c) for cs in groups["cells"] for c in cs}), dtype=np.uint64)


def run_weekly(store: Store, week: str | None, out_root: Path, resolution: int | None = None,
               config: dict | None = None, progress: Callable[[str], None] | None = None,
               analyst_detail: bool = False, formats: tuple[str, ...] = ()) -> WeeklyRun:
    """Run the whole weekly job for one ISO week into ``out_root/<week>/``, published only when it is whole.

    The run writes into a new owner-only folder beside the destination (same file system,
    :mod:`pipelines.publish`); only after its privacy check passes does that folder replace
    ``out_root/<week>/`` (an older folder of the same week is kept until the new one is in
    place). A run that fails leaves nothing behind; one whose privacy check finds a leak is
    kept, owner-only, in ``out_root/.<week>.withheld/`` and ``privacy_findings`` says why.
    Paths in the returned run and in its ``run.json`` are the published ones.
    Parameters as :func:`_run_weekly`.
    """
    with publish.staged_folder(out_root) as stage:
        try:
            run = _run_weekly(store, week, out_root, stage.folder, resolution=resolution, config=config,
                              progress=progress, analyst_detail=analyst_detail, formats=formats)
        except NotEnoughData as exc:  # an honest outcome: publish the run.json that says so
            if exc.week is None or exc.record is None:
                raise
            raise NotEnoughData(exc.message, exc.status, exc.week, stage.publish_record(exc.week)) from None
        if run.privacy_findings:
            stage.withhold(run.week, run)
        else:
            stage.publish(run.week, run)
    return run


def _run_weekly(store: Store, week: str | None, out_root: Path, stage_dir: Path, resolution: int | None = None,
                config: dict | None = None, progress: Callable[[str], None] | None = None,
                analyst_detail: bool = False, formats: tuple[str, ...] = ()) -> WeeklyRun:
    """Run the whole weekly job for one ISO week into ``stage_dir`` (``out_root`` holds earlier weeks).

    Parameters
    ----------
    store : Store
        An open store (read-only is enough).
    week : str or None
        ISO week ``YYYY-Www``; default: the last complete ISO week with data (recorded as a choice).
    out_root : Path
        Parent folder of the published weeks (last week's saved plan is read from it).
    stage_dir : Path
        Where this run's files are written (see :func:`run_weekly`).
    resolution : int, optional
        H3 resolution of the cube; default the store's.
    config : dict, optional
        As returned by :func:`load_config` (validated again here).
    progress : callable, optional
        Called with each step's name (:data:`WEEKLY_STEPS`) as it starts.
    """
    cfg = validate_config(config)
    k = cfg["k_suppression"]
    timings: dict[str, float] = {}
    step = StepTimer(timings, progress)
    choices: list[str] = []
    res = store.resolution if resolution is None else grid.check_resolution(resolution)
    t0 = time.perf_counter()
    cube_mod.prepare_events(store, res)  # once: both cubes below (this week, last week) use these events
    events_s = round(time.perf_counter() - t0, 4)
    if week is None:
        week = default_week(store)
        choices.append(default_week_choice(week, store.timezone))
    else:
        week = week_label(parse_week(week))
    out_dir = Path(stage_dir)
    params = HotspotParams(week=week, resolution=resolution, **cfg["hotspots"])
    pparams = PatrolParams(**cfg["patrol"])

    t0 = time.perf_counter()
    engine = run_hotspots(store, params, out_dir, progress=progress, events_ready=True, formats=formats)
    engine_s = round(time.perf_counter() - t0, 4)
    # the engine's sparse-data rule may widen the bins and coarsen the grid: the rest of the run follows it
    res, params = engine.resolution, replace(params, bin_weeks=engine.bin_weeks)
    synthetic = _synthetic(out_dir)

    cells, counts, exposure, weeks = cube_mod.cube_arrays(store, params.measure)
    cube_now = cube_mod.cube_frame(store)  # before the previous week's rebuild replaces the mart
    hotspots = pd.read_parquet(layout.output_path(out_dir, "hotspots_parquet")).drop(columns="geometry", errors="ignore")
    if grid.cells_to_hex(cells) != hotspots["cell"].tolist():
        raise HotspotError("Internal error: hotspots.parquet and the cube list different cells.")
    conv = pd.read_parquet(layout.output_path(out_dir, "convergence"))
    conv_score = (pd.Series(conv["score"].to_numpy(dtype=float), index=grid.hex_to_cells(conv["cell"]))
                  if len(conv) else None)
    harm = _harm_events(store, weeks, cfg["harm_weeks"])
    prev_week = week_label(parse_week(week) - timedelta(weeks=1))
    saved_plan = layout.output_path(Path(out_root) / prev_week, "patrol_plan_csv")

    # --- forecast of next week's events per cell (and of this week's, for last week's plan when not saved)
    with step("forecast"):
        fparams = WEEKLY_FORECAST
        history = _forecast_history(store, res, params.measure, cells, counts, weeks, fparams)
        T = len(history.weeks)
        origins = [T - 1] if saved_plan.is_file() or T < 2 else [T - 2, T - 1]
        forecasts = _forecasts(history, cells, origins, fparams, choices)
        forecast = forecasts[T - 1]
        area_profile = _area_profile(store, weeks[-1], store.timezone)

    # --- previous week: categories for the headline, and the plan it would have produced
    with step("previous_week"):
        pw = _previous_window(store, res, params.measure, cfg["harm_weeks"], cells, counts, exposure, weeks)
        p_cells, p_counts = pw.cells, pw.counts
        prev = analyse_statistics(p_counts, p_cells, pw.exposure, params)  # last week: no scan needed
        prev_gi, prev_emerging = prev.gi, prev.emerging
        previous = pd.DataFrame({"cell": grid.cells_to_hex(p_cells), "category": prev_emerging["category"].to_numpy()})
        last_plan_cells = None  # recomputed below, once this week's safeguarding verdict is known
        if saved_plan.is_file():
            last_plan_cells = grid.hex_to_cells([c for cs in plan_cells(pd.read_csv(saved_plan, dtype=str))
                                                 for c in cs])
            plan_source = f"the saved plan {prev_week}/patrol_plan.csv"

    # --- patrol plan (cells withheld by the safeguarding rules never enter a shared output)
    with step("patrol_plan"):
        rank_in = _rank_frame(cells, hotspots["category"], hotspots["count"], hotspots["expected"], hotspots["z"],
                              harm, conv_score, hotspots["places"].fillna("").to_numpy())
        placements = _placements(store)
        # the rules assess every cell the plan could take: the forecast's top cells, then any cell of the
        # plan's places not yet assessed, until the places lie inside what was assessed (withheld cells are
        # never seeded, joined or grown through); each cell is judged on its own, so verdicts are merged
        scan_path = Path(engine.outputs.get("scan_clusters", out_dir / "scan_clusters.geojson"))
        by_forecast = forecast.sort_values(["expected", "cell"], ascending=[False, True], kind="mergesort")
        by_forecast = by_forecast[by_forecast["expected"] > 0]["cell"].to_numpy(dtype=np.uint64)
        guard = _safeguard(store, rank_in, hotspots, previous, placements, pparams, weeks, res, scan_path,
                           extra=by_forecast[:3 * MAX_PLACE_CELLS * pparams.n_cells])
        while True:
            groups = group_places(forecast, withheld=guard.withheld, n=pparams.n_cells)
            missing = set(_plan_cells_of(groups).tolist()) - set(guard.cells["cell"].astype(np.uint64).tolist())
            if not missing:
                break
            more = _safeguard(store, rank_in, hotspots, previous, placements, pparams, weeks, res, scan_path,
                              extra=np.array(sorted(missing), dtype=np.uint64), only_extra=True)
            guard = safeguarding.SafeguardDecision(pd.concat([guard.cells, more.cells], ignore_index=True),
                                                   tuple(guard.approvals) + tuple(more.approvals))
        withheld_hex = set(grid.cells_to_hex(np.array(sorted(guard.withheld), dtype=np.uint64)))
        _write_withheld(guard, rank_in, pparams, layout.output_path(out_dir, "withheld"), week, synthetic, forecast)
        rank_in = rank_in[~rank_in["cell"].isin(np.array(sorted(guard.withheld), dtype=np.uint64))]
        rank_in = rank_in.reset_index(drop=True)
        if withheld_hex:
            choices.append(safeguarding_note())
        chosen = _plan_cells_of(groups)
        events = _event_times(store, chosen, weeks[-1])
        plan, plan_record = place_plan(
            groups, history.counts, cells, pd.Series(hotspots["category"].to_numpy(), index=cells),
            event_times=events, area_profile=area_profile,
            places=dict(zip(cells.tolist(), hotspots["places"].fillna("").tolist())), convergence=conv_score,
            harm=harm, params=pparams, tz=store.timezone)
        if len(plan) < pparams.n_cells:
            choices.append(f"Patrol plan holds {len(plan)} place(s), fewer than n_cells = {pparams.n_cells}: "
                           "only cells with a positive forecast are planned.")
        fitted = forecast.attrs.get("choices", {})
        choices.append(
            f"Patrol plan: next week's forecast per cell ({fitted.get('model', '?')} model"
            + (f", KDE σ {fitted['kde_sigma_rings']:g} ring(s) over the {fitted['kde_memory']}"
               if "kde_sigma_rings" in fitted else "")
            + f"; chosen on past weeks only, history {history.note}), grouped into {len(plan)} place(s) of at most "
            f"{MAX_PLACE_CELLS} cells.")
        if plan_record["note"]:
            choices.append(f"Patrol plan: {plan_record['note']} (no entry shows a recent rise; the plan is next "
                           "week's forecast).")
        if last_plan_cells is None:  # the same builder on the history up to last week (this week's verdict)
            prev_groups = (group_places(forecasts[T - 2], withheld=guard.withheld, n=pparams.n_cells)
                           if T - 2 in forecasts else group_places(pd.Series([], dtype=float)))
            last_plan_cells = _plan_cells_of(prev_groups)
            plan_source = (f"recomputed: no saved plan for {prev_week} in the output folder, so last week's plan was "
                           "rebuilt the same way (forecast from the weeks up to then, grouped into places) with the "
                           "same patrol parameters and this week's safeguarding verdict")
            choices.append(f"Backtest plan for {prev_week} {plan_source}.")
        backtest = _backtest(last_plan_cells, cells, counts[:, -1], grid.cell_area_km2(cells))
        backtest.update({"plan_week": prev_week, "events_week": week, "source": plan_source,
                         "measure": params.measure})
        plan_paths = {k_: layout.output_path(out_dir, k_) for k_ in ("patrol_plan_csv", "patrol_plan_geojson")}
        if "gpkg" in formats:
            plan_paths["patrol_plan_gpkg"] = layout.output_path(out_dir, "patrol_plan_gpkg")
        plan = name_plan_areas(plan, load_areas(store.con))  # area_name from the entries' cells
        _write_plan(plan, plan_paths["patrol_plan_csv"], plan_paths["patrol_plan_geojson"], synthetic, week,
                    plan_paths.get("patrol_plan_gpkg"))

    # --- maps
    generated = datetime.now(timezone.utc).astimezone().strftime("%Y-%m-%d %H:%M")
    with step("maps"):
        recent = cube_now[pd.to_datetime(cube_now["week_start"]) >= pd.Timestamp(weeks[max(0, len(weeks) - 4)])]
        recent = recent[recent[params.measure] > 0]
        recent_weeks = pd.DataFrame({"cell": recent["cell"].to_numpy(dtype=np.uint64), "week": recent["week"],
                                     "count": recent[params.measure]})
        past = cube_now[pd.to_datetime(cube_now["week_start"]) >= pd.Timestamp(weeks[max(0, len(weeks) - SERIES_WEEKS)])]
        cell_history = pd.DataFrame({"cell": past["cell"].to_numpy(dtype=np.uint64), "week": past["week"],
                                     "count": past[params.measure]})
        map_places = store_places(store)
        area_results = read_area_hotspots(out_dir)
        map_areas, area_history = _areas_for_maps(store, area_results, weeks, params.measure)
        amap = analyst_map(
            hotspots, places=map_places, scan_clusters=_read_layer(layout.output_path(out_dir, "scan_clusters")),
            st_clusters=_read_layer(layout.output_path(out_dir, "clusters")), convergence=conv if len(conv) else None,
            recent_weeks=recent_weeks, tiles=cfg["tiles"], synthetic=synthetic, k=k, areas=map_areas, history=cell_history,
            area_history=area_history,
            subtitle=f"Week {week} · {params.measure} · H3 resolution {res} · times in {store.timezone} · generated {generated}")
        from pipelines.geo_inputs import current_boundary
        from pipelines.patrol_sheet import plan_week_dates, study_outline
        outline, outline_note = study_outline(current_boundary(store.con), cells, placements)
        choices.append(outline_note)
        pmap = patrol_map(plan, tiles=cfg["tiles"], synthetic=synthetic, dates=plan_week_dates(week),
                          time_zone=store.timezone, outline=outline, places=map_places, areas=map_areas,
                          placements=placements,
                          subtitle=f"Plan for the week after {week} · {len(plan)} entries · generated {generated}")
        choices.extend(dict.fromkeys(map_notes(amap) + map_notes(pmap)))
        map_paths = {k_: layout.output_path(out_dir, k_) for k_ in ("analyst_map", "patrol_map")}
        map_paths["analyst_map"].write_text(render_html(amap), encoding="utf-8")
        map_paths["patrol_map"].write_text(render_html(pmap), encoding="utf-8")

    # --- run.json (extended) and report
    meta = json.loads(layout.output_path(out_dir, "run").read_text(encoding="utf-8"))
    headline = _headline(hotspots, previous)
    # the shared report sees only cells the safeguarding rules allow
    shared_hotspots = hotspots[~hotspots["cell"].isin(withheld_hex)].reset_index(drop=True)
    shared_previous = previous[~previous["cell"].isin(withheld_hex)].reset_index(drop=True)
    outputs = {**engine.outputs, **{k_: str(v) for k_, v in {**plan_paths, **map_paths}.items()},
               "report": str(layout.output_path(out_dir, "report"))}
    meta.update({
        "command": "hotspots weekly", "outputs": outputs, "choices": choices + meta.get("choices", []),
    })
    meta["weekly"] = {
        "parameters": {"config": cfg, "patrol": jsonable(asdict(pparams)), "k_suppression": k,
                       "top_n": cfg["top_n"], "equity_weeks": cfg["equity_weeks"], "harm_weeks": cfg["harm_weeks"],
                       "tiles": cfg["tiles"], "previous_week_scan_replicates": 0},
        "previous_week": prev_week, "headline": headline, "backtest": backtest,
        "plan_cells": [c for cs in plan_cells(plan) for c in cs],
        "plan": {**plan_record, "places": {"builder": "analytics.plan_places.group_places",
                                           "max_cells": MAX_PLACE_CELLS, "join_share": JOIN_SHARE,
                                           "entries": int(len(plan))},
                 "forecast": {"origin_week": week, "history": history.note, "measure": params.measure,
                              "params": jsonable(asdict(fparams)), "fitted": forecast.attrs.get("choices", {})}},
        "privacy": {"shared_outputs": list(SHARED_OUTPUTS), "analyst_only": list(ANALYST_OUTPUTS), "k": k},
        "safeguarding": _safeguard_record(guard, placements),
    }
    outputs["withheld"] = str(layout.output_path(out_dir, "withheld"))
    shared_meta = {**meta, "weekly": {**meta["weekly"], "headline": _headline(shared_hotspots, shared_previous)}}
    with step("report"):
        from pipelines.report import build_report
        html = build_report(store, meta=shared_meta, hotspots=shared_hotspots, cube=cube_now, weeks=weeks,
                            measure=params.measure, previous=shared_previous, plan=plan, k=k, top_n=cfg["top_n"],
                            equity_weeks=cfg["equity_weeks"], generated=generated, area_results=area_results, outline=outline,
                            out_root=Path(out_root))
        Path(outputs["report"]).write_text(html, encoding="utf-8")
        if analyst_detail:  # unsuppressed counts: an analyst-only file, never the shared report
            outputs["report_analyst_detail"] = str(layout.output_path(out_dir, "report_analyst_detail"))
            detail = build_report(store, meta=meta, hotspots=hotspots, cube=cube_now, weeks=weeks,
                                  measure=params.measure, previous=previous, plan=plan, k=1, top_n=cfg["top_n"],
                                  equity_weeks=cfg["equity_weeks"], generated=generated, area_results=area_results, analyst_detail=True,
                                  outline=outline, out_root=Path(out_root))
            Path(outputs["report_analyst_detail"]).write_text(detail, encoding="utf-8")
            meta["choices"].append("--analyst-detail: report_analyst_detail.html shows unsuppressed counts (analyst only).")

    with step("privacy_scan"):  # always against known + derived placements, 300 m, approvals with evidence
        from pipelines.privacy_scan import scan_outputs, store_forbidden, store_raw_points
        findings = scan_outputs(out_dir, placements, store_forbidden(store), store_raw_points(store), k=k,
                                approved=guard.approvals)
    timings_weekly = {"events": events_s, "engine": engine_s, **timings}
    meta["weekly"]["privacy"]["findings"] = [f.as_dict() for f in findings]
    meta["weekly"]["timings_s"] = timings_weekly
    meta["timings_s"] = {**meta.get("timings_s", {}), **timings}
    layout.output_path(out_dir, "run").write_text(json.dumps(jsonable(meta), indent=2, default=str),
                                                  encoding="utf-8")
    outputs["run"] = str(layout.output_path(out_dir, "run"))

    summary = {**engine.summary, "plan_cells": len(plan), "headline": {k_: len(v) for k_, v in headline.items()},
               "backtest": {k_: backtest[k_] for k_ in ("plan_week", "n", "N", "hit_rate", "pai", "pei_star")},
               "privacy_findings": len(findings)}
    return WeeklyRun(week=week, out_dir=out_dir, outputs=outputs, summary=summary, choices=meta["choices"],
                     timings={**engine.timings, **timings}, synthetic=synthetic, privacy_findings=findings,
                     safeguard=guard)


def _areas_for_maps(store: Store, area_results, weeks: list[date], measure: str):
    """(areas, area_history) for the maps: every stored area layer (None without one); under
    ``--units areas`` the analysed layer's areas carry their category and reason, and their weekly
    counts (each event by its own point) feed the analyst map's click chart."""
    areas = load_areas(store.con)
    if not len(areas):
        return None, None
    if area_results is None or not len(area_results):
        return areas, None
    layer = str(area_results["layer"].iloc[0])
    found = area_results[["area_id", "category", "reason"]].astype({"area_id": str})
    areas = areas.merge(found.assign(layer=layer), on=["layer", "area_id"], how="left")  # keeps the row order
    from pipelines.area_hotspots import area_counts
    analysed = areas[areas["layer"] == layer].reset_index(drop=True)  # the layer's areas, in file order
    window = weeks[-SERIES_WEEKS:]
    counts, _, _ = area_counts(store.con, analysed, window, measure)
    history = pd.DataFrame({"area_id": np.repeat(analysed["area_id"].astype(str).to_numpy(), len(window)),
                            "week": [week_label(w) for w in window] * len(analysed),
                            "count": counts.ravel()})
    return areas, history


# ------------------------------------------------------------------------------------ safeguarding
#: Columns of the analyst-only ``withheld.csv`` (cells only: never a placement's location).
WITHHELD_COLUMNS = ["week", "cell", "category", "rank_without_rule", "rule", "reason", "sources", "young_people",
                    "unnamed_events", "near_placements", "min_unlinked_sources"]


def safeguarding_note() -> str:
    """The line the run's choices (and the report) carry when cells were withheld."""
    return ("Safeguarding: cells whose signal is carried by one or two young people, or that lie within "
            f"{safeguarding.PLACEMENT_RADIUS_M:.0f} m of a care placement without {safeguarding.MIN_UNLINKED_SOURCES} "
            "independent sources unlinked to it, are left out of every shared output (for the analyst: withheld.csv).")


def _placements(store: Store) -> pd.DataFrame:
    from pipelines.placements import known_and_derived_placements
    return known_and_derived_placements(store)


def _safeguard(store: Store, rank_in: pd.DataFrame, hotspots: pd.DataFrame, previous: pd.DataFrame,
               placements: pd.DataFrame, pparams: PatrolParams, weeks: list[date], res: int,
               scan_path: Path, extra: np.ndarray | None = None,
               only_extra: bool = False) -> "safeguarding.SafeguardDecision":
    """Apply the safeguarding rules to every cell a shared output could show.

    Candidates: cells the plan could take (``extra``: the forecast's top cells; and a positive
    :func:`rank_cells` score), hot spots this week and last week (report's top list and headline).
    Sources are counted over the last
    :data:`analytics.safeguarding.DEFAULT_SOURCE_WEEKS` weeks of found/report events
    (episode starts are left out, as everywhere in the engine). ``only_extra``: assess ``extra`` alone
    (the rules judge each cell on its own, so decisions on disjoint sets can be merged).
    """
    from pipelines.placements import person_placements
    cand: set[int] = set()
    if not only_extra:
        ranked = rank_cells(rank_in, pparams, all_cells=True)
        cand = set(ranked.loc[ranked["score"] > 0, "cell"].astype(np.uint64).tolist())
        cand |= set(grid.hex_to_cells(hotspots.loc[_hot_now(hotspots["category"]), "cell"].tolist()).tolist())
        cand |= set(grid.hex_to_cells(previous.loc[_hot_now(previous["category"]), "cell"].tolist()).tolist())
    if extra is not None:
        cand |= set(np.asarray(extra, dtype=np.uint64).tolist())
    cand_arr = np.array(sorted(cand), dtype=np.uint64)
    first = weeks[max(0, len(weeks) - safeguarding.DEFAULT_SOURCE_WEEKS)]
    store.con.register("weekly_guard_cells", pd.DataFrame({"cell": cand_arr}))
    try:
        events = store.con.execute(
            "select cell, person_key, placement_key, kind, source from int_cell_events "
            "where event <> 'episode_started' and week_start between $a and $b "
            "and cell in (select cast(cell as ubigint) from weekly_guard_cells)",
            {"a": first, "b": weeks[-1]}).df()
    finally:
        store.con.unregister("weekly_guard_cells")
    return safeguarding.assess_cells(cand_arr, events, placements, person_placements(store),
                                     _scan_cluster_cells(scan_path, res))


def _scan_cluster_cells(path: Path, res: int) -> pd.DataFrame | None:
    """The scan's clusters as (``cells``, ``pattern``) from scan_clusters.geojson (cells by centre containment)."""
    if not path.is_file():
        return None
    layer = _read_layer(path)
    if layer is None or "pattern" not in layer.columns:
        return None
    cells = [tuple(int(h3.str_to_int(c)) for c in h3.geo_to_cells(g.__geo_interface__, res))
             for g in layer.geometry]
    return pd.DataFrame({"cells": cells, "pattern": layer["pattern"].to_numpy()})


def _write_withheld(guard, rank_in: pd.DataFrame, pparams: PatrolParams, path: Path, week: str,
                    synthetic: bool, forecast: pd.DataFrame | None = None) -> None:
    """The analyst-only list of withheld cells: what the rules kept out of the shared outputs, and why.

    ``rank_without_rule``: the plan entry the cell would have been in without the rules (the forecast's
    places with nothing withheld, first 5 × ``n_cells`` entries); without ``forecast``, its
    :func:`rank_cells` rank.
    """
    table = guard.cells[guard.cells["withheld"]].copy()
    if forecast is not None:
        unruled = group_places(forecast, n=5 * pparams.n_cells)
        rank = {int(c): int(e) for e, cs in zip(unruled["entry"], unruled["cells"]) for c in cs}
        score = {c: 1.0 for c in rank}
    else:
        ranked = rank_cells(rank_in, pparams, all_cells=True)
        rank = dict(zip(ranked["cell"].astype(np.uint64).tolist(), ranked["rank"].tolist()))
        score = dict(zip(ranked["cell"].astype(np.uint64).tolist(), ranked["score"].tolist()))
    category = dict(zip(rank_in["cell"].astype(np.uint64).tolist(), rank_in["category"].tolist()))
    table["rank_without_rule"] = [rank[c] if score.get(c, 0) > 0 else None for c in table["cell"].tolist()]
    table["category"] = [category.get(c, "") for c in table["cell"].tolist()]
    table["reason"] = table["rule"].map(safeguarding.WITHHELD_REASONS)
    table["week"] = week
    table = table.sort_values(["rank_without_rule", "cell"], na_position="last", kind="mergesort")
    table["cell"] = grid.cells_to_hex(table["cell"].to_numpy(dtype=np.uint64))
    table = table[WITHHELD_COLUMNS]
    if synthetic:
        table = table.assign(synthetic=SYNTHETIC_LABEL)
    write_csv(table, path)  # text cells cannot run as spreadsheet formulas


def _safeguard_record(guard, placements: pd.DataFrame) -> dict:
    """The safeguarding rules' figures for run.json (analyst-only): counts, withheld cells, approvals."""
    return {
        "radius_m": safeguarding.PLACEMENT_RADIUS_M, "min_unlinked_sources": safeguarding.MIN_UNLINKED_SOURCES,
        "source_weeks": safeguarding.DEFAULT_SOURCE_WEEKS,
        "placements": {"file": int((placements["source"] == "file").sum()),
                       "derived": int((placements["source"] == "derived").sum())},
        "cells_assessed": int(len(guard.cells)),
        "withheld": grid.cells_to_hex(np.array(sorted(guard.withheld), dtype=np.uint64)),
        "approved": [{"cell": h3.int_to_str(a.cell), "placements": a.placements,
                      "min_unlinked_sources": a.min_unlinked_sources} for a in guard.approvals],
    }




def _write_plan(plan: pd.DataFrame, csv_path: Path, geojson_path: Path, synthetic: bool, week: str,
                gpkg_path: Path | None = None) -> None:
    """Plan as CSV and GeoJSON (and a GeoPackage layer with ``gpkg_path``); from synthetic data each says so on
    its face (a ``synthetic`` column / property and the collection's ``name``). Real data gets exactly
    :data:`analytics.patrol.PLAN_COLUMNS`."""
    out = plan.assign(synthetic=SYNTHETIC_LABEL) if synthetic else plan
    write_csv(out, csv_path)  # text cells cannot run as spreadsheet formulas
    gj = plan_geojson(plan)
    gj = {"type": gj["type"], "name": f"{'SYNTHETIC ' if synthetic else ''}patrol plan for the week after {week}",
          "features": gj["features"]}
    if synthetic:
        for feature in gj["features"]:
            feature["properties"]["synthetic"] = SYNTHETIC_LABEL
    geojson_path.write_text(json.dumps(gj, ensure_ascii=False), encoding="utf-8")
    if gpkg_path is not None:  # the same features as the GeoJSON (cells' hexagons, no event point)
        from pipelines.hotspots_run import write_gpkg
        frame = (gpd.GeoDataFrame.from_features(gj["features"], crs=4326) if gj["features"]
                 else gpd.GeoDataFrame({"cells": []}, geometry=[], crs=4326))
        write_gpkg(frame, gpkg_path, "patrol_plan")


def _headline(hotspots: pd.DataFrame, previous: pd.DataFrame) -> dict[str, list[str]]:
    """Cells new (category), became hot, intensifying, ended or continuing since last week
    (:func:`analytics.week_change.week_changes`, the one definition)."""
    return week_changes(hotspots, previous)




def weekly_outputs_for_demo(db: Path, out_root: Path, week: str | None = None, config: dict | None = None,
                            progress: Callable[[str], None] | None = None) -> WeeklyRun:
    """Open the store read-only and run the weekly job (what ``hotspots demo`` calls at its end)."""
    from pipelines import store as store_mod
    with store_mod.opened(db, read_only=True) as st:
        return run_weekly(st, week, out_root, config=config, progress=progress)
