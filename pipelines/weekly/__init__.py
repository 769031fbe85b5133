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

Modules, one per step (the orchestrator :func:`_run_weekly` hands each step's result to the next in
memory): :mod:`~pipelines.weekly.config`, :mod:`~pipelines.weekly.engine` (events + engine),
:mod:`~pipelines.weekly.forecast`, :mod:`~pipelines.weekly.history` (previous week),
:mod:`~pipelines.weekly.plan` (with :mod:`~pipelines.weekly.safeguard`), :mod:`~pipelines.weekly.maps`,
:mod:`~pipelines.weekly.report` (run.json and the reports), :mod:`~pipelines.weekly.privacy`. Every name
the job offered before is importable from ``pipelines.weekly``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from analytics.errors import NotEnoughData
from analytics.patrol import PatrolParams
from pipelines import layout, publish
from pipelines.hotspots_run import HotspotRun
from pipelines.privacy_scan import ANALYST_ONLY_FILES, SHARED_FILES
from pipelines.render.analyst_map import analyst_map
from pipelines.render.patrol_map import patrol_map
from pipelines.store import Store
from pipelines.timing import StepTimer
from pipelines.weekly.config import DEFAULT_CONFIG, load_config, validate_config
from pipelines.weekly.engine import run_engine
from pipelines.weekly.forecast import WEEKLY_FORECAST, forecast_params_for, weekly_forecast
from pipelines.weekly.harm import _harm_events  # noqa: F401  (tests import it from here)
from pipelines.weekly.history import _previous_window, previous_week  # noqa: F401
from pipelines.weekly.maps import draw_maps
from pipelines.weekly.plan import _event_times, patrol_plan  # noqa: F401
from pipelines.weekly.privacy import scan_folder
from pipelines.weekly.report import finish_record, weekly_record, write_reports
from pipelines.weekly.safeguard import WITHHELD_COLUMNS, safeguarding_note

__all__ = ["WeeklyRun", "run_weekly", "load_config", "validate_config", "DEFAULT_CONFIG", "WEEKLY_STEPS",
           "SHARED_OUTPUTS", "ANALYST_OUTPUTS", "weekly_outputs_for_demo", "WEEKLY_FORECAST", "WITHHELD_COLUMNS",
           "safeguarding_note"]

#: Progress steps reported by :func:`run_weekly` (engine steps first), for a progress bar's total.
WEEKLY_STEPS = ("cube", "gi_star", "trend_and_categories", "scan", "st_dbscan", "convergence", "places", "write",
                "forecast", "previous_week", "patrol_plan", "maps", "report", "privacy_scan")
#: Files meant for commanders, partners and researchers: no person refs, placement or raw event
#: coordinates, and counts of distinct young people below k suppressed (scanned in full).
SHARED_OUTPUTS = SHARED_FILES
#: Analyst-only files (may hold exact counts and cluster hulls); scanned for person references only.
ANALYST_OUTPUTS = ANALYST_ONLY_FILES


@dataclass
class WeeklyRun(HotspotRun):
    """What a weekly run produced: the engine run's fields, plus the data's origin and privacy findings."""

    synthetic: bool = False
    privacy_findings: list = field(default_factory=list)
    #: The safeguarding rules' verdict (analytics.safeguarding.SafeguardDecision), None before the plan step.
    safeguard: object = None


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
    timings: dict[str, float] = {}
    step = StepTimer(timings, progress)
    choices: list[str] = []
    pparams = PatrolParams(**cfg["patrol"])
    eng = run_engine(store, week, Path(stage_dir), cfg, resolution, progress, formats, choices)
    saved_plan = layout.output_path(Path(out_root) / eng.prev_week, "patrol_plan_csv")
    # --- forecast of next week's events per cell (and of this week's, for last week's plan when not saved)
    with step("forecast"):
        fc = weekly_forecast(store, eng, saved_plan.is_file(), forecast_params_for(cfg, WEEKLY_FORECAST), choices)
    # --- previous week: categories for the headline, and the plan it would have produced
    with step("previous_week"):
        prev = previous_week(store, eng, cfg, saved_plan)
    # --- patrol plan (cells withheld by the safeguarding rules never enter a shared output)
    with step("patrol_plan"):
        plan = patrol_plan(store, eng, fc, prev, pparams, formats, choices)
    generated = datetime.now(timezone.utc).astimezone().strftime("%Y-%m-%d %H:%M")
    with step("maps"):  # the map makers held here (a test may replace them)
        maps = draw_maps(store, eng, plan, cfg, generated, choices, analyst_map=analyst_map, patrol_map=patrol_map)
    # --- run.json (extended) and report
    meta, outputs, headline = weekly_record(eng, fc, prev, plan, maps, cfg, pparams, choices)
    with step("report"):
        write_reports(store, eng, prev, plan, maps, meta, outputs, cfg, generated, analyst_detail, out_root)
    with step("privacy_scan"):  # always against known + derived placements, 300 m, approvals with evidence
        findings = scan_folder(store, eng.out_dir, plan.placements, plan.guard, cfg["k_suppression"])
    finish_record(meta, outputs, eng, findings, timings)
    backtest = plan.backtest
    summary = {**eng.engine.summary, "plan_cells": len(plan.plan),
               "headline": {k_: len(v) for k_, v in headline.items()},
               "backtest": {k_: backtest[k_] for k_ in ("plan_week", "n", "N", "hit_rate", "pai", "pei_star")},
               "privacy_findings": len(findings)}
    return WeeklyRun(week=eng.week, out_dir=eng.out_dir, outputs=outputs, summary=summary, choices=meta["choices"],
                     timings={**eng.engine.timings, **timings}, synthetic=eng.synthetic, privacy_findings=findings,
                     safeguard=plan.guard)


def weekly_outputs_for_demo(db: Path, out_root: Path, week: str | None = None, config: dict | None = None,
                            progress: Callable[[str], None] | None = None) -> WeeklyRun:
    """Open the store read-only and run the weekly job (what ``hotspots demo`` calls at its end)."""
    from pipelines import store as store_mod
    with store_mod.opened(db, read_only=True) as st:
        return run_weekly(st, week, out_root, config=config, progress=progress)
