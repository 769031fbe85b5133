"""The weekly run's patrol plan: the forecast's cells grouped into places (withheld cells left out),
their windows and reasons, last week's plan scored against this week, the plan files."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from analytics import grid, safeguarding
from analytics.accuracy import hit_rate, max_capture, pai, pei_star
from analytics.patrol import PatrolParams, plan_geojson
from analytics.plan_places import MAX_PLACE_CELLS, group_places, place_plan
from pipelines import layout
from pipelines.areas import load_areas, name_plan_areas
from pipelines.csv_out import write_csv
from pipelines.hotspots_run import SYNTHETIC_LABEL
from pipelines.store import Store
from pipelines.weekly.engine import EngineResult
from pipelines.weekly.forecast import WeeklyForecast
from pipelines.weekly.history import PreviousWeek
from pipelines.weekly.safeguard import _placements, _safeguard, _write_withheld, safeguarding_note


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


def _plan_cells_of(groups: pd.DataFrame) -> np.ndarray:
    return np.array(sorted({int(c) for cs in groups["cells"] for c in cs}), dtype=np.uint64)


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


@dataclass
class PlanStep:
    """The ``patrol_plan`` step's result."""

    plan: pd.DataFrame
    plan_record: dict
    plan_paths: dict[str, Path]
    placements: pd.DataFrame
    guard: "safeguarding.SafeguardDecision"
    withheld_hex: set[str]
    backtest: dict


def patrol_plan(store: Store, eng: EngineResult, fc: WeeklyForecast, prev: PreviousWeek,
                pparams: PatrolParams, formats: tuple[str, ...], choices: list[str]) -> PlanStep:
    """The ``patrol_plan`` step (cells withheld by the safeguarding rules never enter a shared output)."""
    week, out_dir, params, synthetic = eng.week, eng.out_dir, eng.params, eng.synthetic
    cells, counts, weeks, hotspots, harm, conv_score = (eng.cells, eng.counts, eng.weeks, eng.hotspots, eng.harm,
                                                        eng.conv_score)
    history, forecasts, T, forecast, area_profile = fc.history, fc.forecasts, fc.T, fc.forecast, fc.area_profile
    previous, last_plan_cells, plan_source = prev.previous, prev.last_plan_cells, prev.plan_source
    prev_week = eng.prev_week
    rank_in = _rank_frame(cells, hotspots["category"], hotspots["count"], hotspots["expected"], hotspots["z"],
                          harm, conv_score, hotspots["places"].fillna("").to_numpy())
    placements = _placements(store)
    # the rules assess every cell the plan could take: the forecast's top cells, then any cell of the
    # plan's places not yet assessed, until the places lie inside what was assessed (withheld cells are
    # never seeded, joined or grown through); each cell is judged on its own, so verdicts are merged
    by_forecast = forecast.sort_values(["expected", "cell"], ascending=[False, True], kind="mergesort")
    by_forecast = by_forecast[by_forecast["expected"] > 0]["cell"].to_numpy(dtype=np.uint64)
    guard = _safeguard(store, rank_in, hotspots, previous, placements, pparams, weeks, eng.frames.scan,
                       extra=by_forecast[:3 * MAX_PLACE_CELLS * pparams.n_cells])
    while True:
        groups = group_places(forecast, withheld=guard.withheld, n=pparams.n_cells)
        missing = set(_plan_cells_of(groups).tolist()) - set(guard.cells["cell"].astype(np.uint64).tolist())
        if not missing:
            break
        more = _safeguard(store, rank_in, hotspots, previous, placements, pparams, weeks, eng.frames.scan,
                          extra=np.array(sorted(missing), dtype=np.uint64), only_extra=True)
        guard = safeguarding.SafeguardDecision(pd.concat([guard.cells, more.cells], ignore_index=True),
                                               tuple(guard.approvals) + tuple(more.approvals))
    withheld_hex = set(grid.cells_to_hex(np.array(sorted(guard.withheld), dtype=np.uint64)))
    _write_withheld(guard, rank_in, pparams, layout.output_path(out_dir, "withheld"), week, synthetic, forecast)
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
    return PlanStep(plan, plan_record, plan_paths, placements, guard, withheld_hex, backtest)
