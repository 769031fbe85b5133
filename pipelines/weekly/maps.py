"""The weekly run's maps: the analyst map and the commanders' patrol map, both offline HTML."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from analytics.weeks import week_label
from pipelines import layout
from pipelines.areas import load_areas
from pipelines.hotspots_run import store_places
from pipelines.render.analyst_map import analyst_map as _analyst_map
from pipelines.render.context import map_notes
from pipelines.render.map_parts import render_html
from pipelines.render.map_ui import SERIES_WEEKS
from pipelines.render.patrol_map import patrol_map as _patrol_map
from pipelines.store import Store
from pipelines.weekly.engine import EngineResult
from pipelines.weekly.plan import PlanStep


@dataclass
class MapsStep:
    """The ``maps`` step's result: the files written and what the report shares with the maps."""

    map_paths: dict[str, Path]
    area_results: pd.DataFrame | None
    outline: object


def draw_maps(store: Store, eng: EngineResult, ps: PlanStep, cfg: dict, generated: str, choices: list[str],
              analyst_map: Callable = _analyst_map, patrol_map: Callable = _patrol_map) -> MapsStep:
    """The ``maps`` step. ``analyst_map``/``patrol_map`` draw the maps (the orchestrator passes the ones
    :mod:`pipelines.weekly` holds, so they can be replaced there)."""
    week, out_dir, params, res, synthetic = eng.week, eng.out_dir, eng.params, eng.res, eng.synthetic
    cells, weeks, cube_now, hotspots, conv = eng.cells, eng.weeks, eng.cube_now, eng.hotspots, eng.conv
    plan, placements, k = ps.plan, ps.placements, cfg["k_suppression"]
    recent = cube_now[pd.to_datetime(cube_now["week_start"]) >= pd.Timestamp(weeks[max(0, len(weeks) - 4)])]
    recent = recent[recent[params.measure] > 0]
    recent_weeks = pd.DataFrame({"cell": recent["cell"].to_numpy(dtype=np.uint64), "week": recent["week"],
                                 "count": recent[params.measure]})
    past = cube_now[pd.to_datetime(cube_now["week_start"]) >= pd.Timestamp(weeks[max(0, len(weeks) - SERIES_WEEKS)])]
    cell_history = pd.DataFrame({"cell": past["cell"].to_numpy(dtype=np.uint64), "week": past["week"],
                                 "count": past[params.measure]})
    map_places = store_places(store)
    area_results = eng.frames.areas
    map_areas, area_history = _areas_for_maps(store, area_results, weeks, params.measure)
    amap = analyst_map(
        hotspots, places=map_places, scan_clusters=eng.frames.scan_layer,
        st_clusters=eng.frames.clusters_layer, convergence=conv if len(conv) else None,
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
    return MapsStep(map_paths, area_results, outline)


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
