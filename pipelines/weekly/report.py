"""The weekly run's record (run.json extended with the weekly figures) and its reports (shared, and the
analyst-only detail)."""

from __future__ import annotations

import copy
import json
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from analytics.patrol import PatrolParams, plan_cells
from analytics.plan_places import JOIN_SHARE, MAX_PLACE_CELLS
from analytics.week_change import week_changes
from pipelines import layout
from pipelines.json_out import jsonable
from pipelines.privacy_scan import ANALYST_ONLY_FILES, SHARED_FILES
from pipelines.store import Store
from pipelines.weekly.engine import EngineResult
from pipelines.weekly.forecast import WeeklyForecast
from pipelines.weekly.history import PreviousWeek
from pipelines.weekly.maps import MapsStep
from pipelines.weekly.plan import PlanStep
from pipelines.weekly.safeguard import _safeguard_record


def _headline(hotspots: pd.DataFrame, previous: pd.DataFrame) -> dict[str, list[str]]:
    """Cells new (category), became hot, intensifying, ended or continuing since last week
    (:func:`analytics.week_change.week_changes`, the one definition)."""
    return week_changes(hotspots, previous)


def weekly_record(eng: EngineResult, fc: WeeklyForecast, prev: PreviousWeek, ps: PlanStep, maps: MapsStep,
                  cfg: dict, pparams: PatrolParams, choices: list[str]) -> tuple[dict, dict, dict]:
    """The engine's run.json extended with the weekly run (``meta``), its ``outputs`` (the same dict
    ``meta["outputs"]`` holds) and this week's headline."""
    week, out_dir, params, engine, hotspots = eng.week, eng.out_dir, eng.params, eng.engine, eng.hotspots
    prev_week = eng.prev_week
    history, fparams, forecast, previous = fc.history, fc.fparams, fc.forecast, prev.previous
    plan, plan_record, plan_paths, placements, guard, backtest = (ps.plan, ps.plan_record, ps.plan_paths, ps.placements,
                                                                  ps.guard, ps.backtest)
    map_paths, k = maps.map_paths, cfg["k_suppression"]
    meta = copy.deepcopy(engine.record)  # the engine's run.json as written, extended below
    headline = _headline(hotspots, previous)
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
                              "params": jsonable(asdict(fparams)), "fitted": forecast.attrs.get("choices", {}),
                              **fc.inputs_record()}},
        "privacy": {"shared_outputs": list(SHARED_FILES), "analyst_only": list(ANALYST_ONLY_FILES), "k": k},
        "safeguarding": _safeguard_record(guard, placements),
    }
    outputs["withheld"] = str(layout.output_path(out_dir, "withheld"))
    return meta, outputs, headline


def write_reports(store: Store, eng: EngineResult, prev: PreviousWeek, ps: PlanStep, maps: MapsStep,
                  meta: dict, outputs: dict, cfg: dict, generated: str, analyst_detail: bool, out_root: Path) -> None:
    """The ``report`` step: the shared report (withheld cells left out) and, with ``analyst_detail``, the
    analyst-only report with unsuppressed counts."""
    out_dir, params, hotspots, cube_now, weeks = eng.out_dir, eng.params, eng.hotspots, eng.cube_now, eng.weeks
    previous, plan, withheld_hex, k = prev.previous, ps.plan, ps.withheld_hex, cfg["k_suppression"]
    area_results, outline = maps.area_results, maps.outline
    # the shared report sees only cells the safeguarding rules allow
    shared_hotspots = hotspots[~hotspots["cell"].isin(withheld_hex)].reset_index(drop=True)
    shared_previous = previous[~previous["cell"].isin(withheld_hex)].reset_index(drop=True)
    shared_meta = {**meta, "weekly": {**meta["weekly"], "headline": _headline(shared_hotspots, shared_previous)}}
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


def finish_record(meta: dict, outputs: dict, eng: EngineResult, findings: list, timings: dict) -> None:
    """Write run.json with the privacy scan's findings and the weekly timings."""
    out_dir, events_s, engine_s = eng.out_dir, eng.events_s, eng.engine_s
    timings_weekly = {"events": events_s, "engine": engine_s, **timings}
    meta["weekly"]["privacy"]["findings"] = [f.as_dict() for f in findings]
    meta["weekly"]["timings_s"] = timings_weekly
    meta["timings_s"] = {**meta.get("timings_s", {}), **timings}
    layout.output_path(out_dir, "run").write_text(json.dumps(jsonable(meta), indent=2, default=str),
                                                  encoding="utf-8")
    outputs["run"] = str(layout.output_path(out_dir, "run"))
