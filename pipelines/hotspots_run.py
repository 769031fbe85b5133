"""The hotspot engine run for one ISO week: cube -> Gi* -> trend -> categories -> scan ->
ST-DBSCAN -> convergence -> places -> files.

Reads the store (read-only is enough), computes with ``analytics`` (the analysis itself:
:mod:`analytics.engine`) and writes, into the
owner-only ``analyst/`` subfolder of its folder (paths: :mod:`pipelines.layout`):
``cube.parquet``, ``hotspots.parquet`` (GeoParquet) + ``.geojson`` (+ ``.gpkg`` with
``--format gpkg``), ``scan_clusters.geojson``,
``clusters.geojson``, ``convergence.parquet`` and ``run.json`` (parameters, every
automatic choice, input hashes, versions, timings).
"""

from __future__ import annotations

import json
import platform
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely import wkt as shapely_wkt
from shapely.geometry import Polygon
from shapely.ops import unary_union

from analytics import __version__ as TOOL_VERSION
from analytics import grid
from analytics.bins import BIN_RULE, MAX_COARSER, BinChoice
from analytics.convergence import find_convergence
from analytics.engine import HotspotParams, analyse_cube, choose_bins, rules_record, scan_sources, space_time_clusters
from analytics.errors import InvalidInputError, NotEnoughData
from analytics.places import cells_to_polygons, nearest_places, places_text
from analytics.sufficiency import insufficiency, sufficiency_rule
from analytics.weeks import parse_week, week_label
from pipelines import cube as cube_mod
from pipelines import layout
from pipelines.areas import area_names_for_cells
from pipelines.engine_frames import EngineFrames, write_geojson_layer
from pipelines.store import Store
from pipelines.timing import StepTimer

#: The engine's output keys (paths: :func:`pipelines.layout.output_path`; all analyst-only), besides ``run``.
ENGINE_OUTPUTS = ("cube", "hotspots_parquet", "hotspots_geojson", "scan_clusters", "clusters", "convergence")


@dataclass
class HotspotRun:
    """What a run produced: output paths, summary figures, choices and timings."""

    week: str
    out_dir: Path
    outputs: dict[str, str] = field(default_factory=dict)
    summary: dict[str, object] = field(default_factory=dict)
    choices: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    resolution: int | None = None   # the H3 resolution analysed (the sparse-data rule may coarsen the store's)
    bin_weeks: int = 1              # weeks per bin of Gi*, trend and categories (resolved from "auto")
    #: The frames written, as their files read back: the next step takes them from here (not the files).
    frames: EngineFrames | None = None
    #: run.json as written (what reading it back gives), for a job that extends it.
    record: dict | None = None


def default_week(store: Store, today: date | None = None) -> str:
    """The last complete ISO week: ended before today, and the store holds events on or after its Sunday."""
    week = cube_mod.latest_complete_week(store, today)
    if week is not None:
        return week
    last_day = cube_mod.last_event_day(store)
    if last_day is None:
        raise InvalidInputError("The store has no events yet; ingest reports first.")
    raise NotEnoughData(f"No complete ISO week of data yet: the events run to {last_day} and no week both ended "
                        f"before today and is covered to its Sunday. Name a week with --week to analyse a "
                        f"part week.", "no_complete_week")


def default_week_choice(week: str, tz: str) -> str:
    """The note recorded when the week was chosen automatically."""
    return (f"Week set to {week}, the last complete ISO week (it ended before today and the data reaches its "
            f"Sunday); weeks run Monday to Sunday in {tz}.")


def require_enough_events(store: Store, out_dir: Path, params: HotspotParams, res: int, week: str,
                          weeks: list[date], counts: np.ndarray) -> None:
    """Stop with :class:`NotEnoughData` (after writing a run.json that says so) when the week has
    no events or the window too few to call hot spots (:mod:`analytics.sufficiency`)."""
    in_week, in_window = int(counts[:, -1].sum()) if counts.size else 0, int(counts.sum())
    verdict = insufficiency(week, in_week, in_window, week_label(weeks[0]) if weeks else week, params.measure)
    if verdict is None:
        return
    status, message = verdict
    layout.prepare_folder(out_dir)
    payload = {
        "tool": "safeguard-hotspots", "command": "hotspots", "week": week, "status": status, "message": message,
        "time_zone": store.timezone, "synthetic": store_is_synthetic(store),
        "events_in_week": in_week, "events_in_window": in_window, "sufficiency_rule": sufficiency_rule(),
        "parameters": {**asdict(params), "resolution": res}, "versions": _versions(),
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    path = layout.output_path(out_dir, "run")
    path.write_text(json.dumps(payload, indent=2, default=str))
    raise NotEnoughData(message, status, week=week, record=path)


def _hex_polygon(cell: int) -> Polygon:
    return Polygon(grid.cell_boundary_lonlat(cell))


def store_events(store: Store, first: date, last: date) -> pd.DataFrame:
    """Events (one row per report/episode point) of the weeks ``first``..``last`` from the built cube's events."""
    return store.con.execute(
        "select event, cell, week_start, \"at\", lat, lon, person_key, placement_key from int_cell_events "
        "where cell in (select cell from cube_cells) and week_start between $a and $b "
        "and event <> 'episode_started'", {"a": first, "b": last}).df()


def store_places(store: Store) -> gpd.GeoDataFrame | None:
    """The stored places as points (EPSG:4326), or None when the store has none."""
    rows = store.con.execute("select place_id, name, category, geometry_wkt from places").df()
    if rows.empty:
        return None
    geometry = rows.pop("geometry_wkt").map(shapely_wkt.loads)
    return gpd.GeoDataFrame(rows, geometry=geometry, crs=4326)


def _scan_geojson(scan: pd.DataFrame, weeks: list[date]) -> gpd.GeoDataFrame:
    rows = []
    for r in scan.itertuples():
        rows.append({
            "cluster_id": r.cluster_id, "status": r.status, "kind": r.kind, "center_cell": r.center_hex,
            "radius": int(r.radius), "n_cells": int(r.n_cells), "pattern": r.pattern,
            "young_people": int(r.young_people), "unnamed_events": int(r.unnamed_events),
            "window_start": week_label(weeks[int(r.window_start)]), "window_end": week_label(weeks[int(r.window_end)]),
            "observed": int(r.observed), "expected": round(float(r.expected), 3),
            "relative_risk": round(float(r.relative_risk), 3), "llr": round(float(r.llr), 3),
            "p": float(r.p_value), "recurrence_weeks": float(r.recurrence_weeks),
            "geometry": unary_union([_hex_polygon(c) for c in r.cells]),
        })
    if not rows:
        return gpd.GeoDataFrame({"cluster_id": []}, geometry=[], crs=4326)
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=4326)


def _write_geojson(frame: gpd.GeoDataFrame, path: Path) -> None:
    if frame.empty:
        path.write_text(json.dumps({"type": "FeatureCollection", "features": []}))
    else:
        frame.to_file(path, driver="GeoJSON")


def _versions() -> dict[str, str]:
    import duckdb
    import h3
    import scipy
    import sklearn
    return {"safeguard_hotspots": TOOL_VERSION, "python": platform.python_version(), "duckdb": duckdb.__version__,
            "h3": h3.__version__, "numpy": np.__version__, "pandas": pd.__version__, "scipy": scipy.__version__,
            "scikit_learn": sklearn.__version__, "geopandas": gpd.__version__}


def run_hotspots(store: Store, params: HotspotParams, out_dir: Path,
                 progress: Callable[[str], None] | None = None, events_ready: bool = False,
                 formats: tuple[str, ...] = ()) -> HotspotRun:
    """Run the engine for one week and write its outputs into ``out_dir``.

    ``formats``: extra output formats (:func:`parse_formats`); ``("gpkg",)`` adds ``hotspots.gpkg``.

    ``events_ready``: ``int_cell_events`` is already prepared on this connection at the run's
    resolution (see :func:`pipelines.cube.build_cube`).
    """
    timings: dict[str, float] = {}
    timer = StepTimer(timings, progress)
    choices: list[str] = [store.notice] if store.notice else []
    if params.units == "areas":  # refuse a missing / unknown area layer before the long work
        from pipelines.area_hotspots import resolve_area_layer
        params = replace(params, area_layer=resolve_area_layer(store.con, params.area_layer))
    requested, given_res = params.bin_weeks, params.resolution is not None
    with timer.step("cube"):
        res = store.resolution if params.resolution is None else params.resolution
        week = params.week
        if week is None:
            if not events_ready:
                cube_mod.prepare_events(store, res)
                events_ready = True
            week = default_week(store)
            choices.append(default_week_choice(week, store.timezone))
        last = parse_week(week)
        first = last - timedelta(weeks=params.weeks_back - 1)
        info = cube_mod.build_cube(store, res, week_label(first), week, events_ready=events_ready)
        cells, counts, exposure, weeks = cube_mod.cube_arrays(store, params.measure)
        require_enough_events(store, out_dir, params, res, week, weeks, counts)
        tried = [(res, choose_bins(counts, cells, params))]
        while tried[-1][1].thin and params.resolution is None and res > store.resolution - MAX_COARSER and res > 0:
            best = max(tried[-1][1].power_by_width.values())
            choices.append(f"At H3 resolution {res} even the widest bins are too thin: the busiest places that stand "
                           f"out would be hot in at most {best:.0%} of bins at a steady rate (the share categories "
                           f"need {tried[-1][1].target:.0%}), so H3 resolution lowered to {res - 1} (--res not given).")
            res -= 1  # a coarser grid: more events per neighbourhood (analytics.bins, "The rule")
            cube_mod.prepare_events(store, res)
            info = cube_mod.build_cube(store, res, week_label(first), week, events_ready=True)
            cells, counts, exposure, weeks = cube_mod.cube_arrays(store, params.measure)
            tried.append((res, choose_bins(counts, cells, params)))
        choices += [c for c in info.choices if not c.startswith(("First week", "Last week"))]
        choice = tried[-1][1]
        choices.append(choice.sentence(res))
        params = replace(params, bin_weeks=choice.bin_weeks)
    analysis = analyse_cube(counts, cells, exposure, weeks, params, timer)
    if analysis.dropped_weeks:
        choices.append(f"The first {analysis.dropped_weeks} week(s) of the window do not fill a {params.bin_weeks}-week "
                       "bin and are left out of Gi*, the trend and the categories (the scan uses them).")
    gi, mk, emerging, scan = analysis.gi, analysis.mk, analysis.emerging, analysis.scan
    with timer.step("st_dbscan"):
        events = store_events(store, weeks[0], weeks[-1])
        cluster_first = weeks[-1] - timedelta(weeks=params.cluster_weeks - 1)
        st = space_time_clusters(events, params, cluster_first, choices)
    with timer.step("convergence"):
        conv_events = events.assign(week_index=((pd.to_datetime(events["week_start"]) - pd.Timestamp(weeks[0])).dt.days // 7))
        convergence = find_convergence(
            conv_events[["cell", "week_index", "person_key", "placement_key"]].astype(
                {"cell": np.uint64, "week_index": np.int64}),
            window_weeks=params.convergence_weeks, min_young_people=params.convergence_young_people,
            min_placements=params.convergence_placements, end_week=len(weeks) - 1)
        scan = scan_sources(scan, conv_events, len(weeks) - 1, params)
    with timer.step("places"):
        hot = emerging["category"].to_numpy() != "no_pattern"
        hot |= gi.gi_class[:, -1] != 0
        places = store_places(store)
        near = (nearest_places(cells[hot], places, params.places_radius_m, params.max_places)
                if places is not None and hot.any() else pd.DataFrame())
        text = places_text(near) if len(near) else {}
    with timer.step("write"):
        run = _write_outputs(store, out_dir, week, cells, analysis.counts, gi, mk, emerging, scan, st, convergence,
                             text, weeks, formats)
    hexes = grid.cells_to_hex(cells)
    run.summary = {
        "cells": int(len(cells)), "weeks": len(weeks), "first_week": week_label(weeks[0]), "last_week": week,
        "events_in_week": int(counts[:, -1].sum()),
        "hot_cells": int((gi.gi_class[:, -1] > 0).sum()), "cold_cells": int((gi.gi_class[:, -1] < 0).sum()),
        "categories": emerging["category"].value_counts().to_dict(),
        "scan_clusters": int(len(scan)), "scan_place_clusters": int((scan["pattern"] == "place").sum()) if len(scan) else 0,
        "st_clusters": int(len(st)), "convergence_cells": int(len(convergence)),
        "study_area": info.study_area,
        "top_cells": [hexes[i] for i in np.argsort(-gi.z[:, -1])[:10]],
        "resolution": res, "bin_weeks": params.bin_weeks,
    }
    if params.units == "areas":
        from pipelines.area_hotspots import run_area_hotspots
        with timer.step("areas"):
            areas = run_area_hotspots(store, params, out_dir, weeks,
                                      SYNTHETIC_LABEL if store_is_synthetic(store) else None)
        run.outputs.update(areas.outputs)
        run.frames.areas = areas.results
        run.summary["areas"] = areas.summary
        choices += areas.choices
    run.choices = choices + list(gi.notes)
    run.timings = timings
    run.resolution, run.bin_weeks = res, int(params.bin_weeks)
    _write_run_json(store, run, params, res, bins_record(tried, requested, store.resolution,
                                                         analysis.dropped_weeks, resolution_given=given_res))
    return run


def bins_record(tried: list[tuple[int, BinChoice]], requested: int | str, store_resolution: int,
                dropped_weeks: int, resolution_given: bool) -> dict:
    """What run.json records under ``bins``: the width and resolution analysed, what was asked for, the
    rule and its figures at every resolution tried (for the report's header)."""
    res, choice = tried[-1]
    return {"bin_weeks": choice.bin_weeks, "requested": requested, "resolution": res,
            "store_resolution": store_resolution, "resolution_given": resolution_given,
            "auto": choice.auto, "thin": choice.thin, "dropped_weeks": dropped_weeks, "rule": BIN_RULE,
            "tried": [{"resolution": r, **c.as_json()} for r, c in tried]}


SYNTHETIC_LABEL = "SYNTHETIC — not real young people"


def store_is_synthetic(store: Store) -> bool:
    """True when every data batch (boundary, areas and placements aside: placement refs are pseudonymised before
    the SYN- prefix could be seen, and placements never reach an output) came from the SYNTHETIC generator."""
    flags = [r[0] for r in store.con.execute(
        "select synthetic from batches where kind not in ('boundary', 'placements', 'areas')").fetchall()]
    return bool(flags) and all(flags)


def _label(frame: pd.DataFrame, synthetic: bool) -> pd.DataFrame:
    """Outputs made from synthetic data say so on their face: a ``synthetic`` column in every row."""
    return frame.assign(synthetic=SYNTHETIC_LABEL) if synthetic and len(frame) else frame


#: Extra output formats (``--format``): ``gpkg`` adds GeoPackage copies of hotspots and the patrol plan.
OUTPUT_FORMATS = ("gpkg",)


def parse_formats(text: str | None) -> tuple[str, ...]:
    """``--format`` as a tuple of :data:`OUTPUT_FORMATS` (comma list; None or empty: none)."""
    wanted = tuple(dict.fromkeys(p.strip().lower() for p in (text or "").split(",") if p.strip()))
    bad = [f for f in wanted if f not in OUTPUT_FORMATS]
    if bad:
        raise InvalidInputError(f"--format {', '.join(bad)} is not supported; use {' or '.join(OUTPUT_FORMATS)} "
                                "(GeoParquet and GeoJSON are always written).")
    return wanted


def write_gpkg(frame: gpd.GeoDataFrame, path: Path, layer: str) -> None:
    """One layer of a GeoPackage (replacing an older file, so a re-run never appends)."""
    if path.exists():
        path.unlink()
    frame.to_file(path, driver="GPKG", layer=layer)


def _write_outputs(store, out_dir, week, cells, counts, gi, mk, emerging, scan, st, convergence, text, weeks,
                   formats: tuple[str, ...] = ()):
    layout.prepare_folder(out_dir)  # every engine output is analyst-only: it goes to the owner-only analyst/
    synthetic = store_is_synthetic(store)
    hexes = grid.cells_to_hex(cells)
    hotspots = pd.DataFrame({
        "cell": hexes, "week": week, "count": counts[:, -1].astype(np.int64),
        "z": gi.z[:, -1], "p": gi.p[:, -1], "p_fdr": gi.p_fdr[:, -1], "gi_class": gi.gi_class[:, -1].astype(np.int8),
        "expected": gi.expected[:, -1],
        "category": emerging["category"].to_numpy(), "reason": emerging["reason"].to_numpy(),
        "mk_tau": mk.tau, "mk_p": mk.p, "hot_weeks": emerging["hot_weeks"].to_numpy(),
        "share_hot_weeks": emerging["share_hot_weeks"].to_numpy(),
        "rise_weeks": emerging["rise_weeks"].to_numpy(), "rise_events": emerging["rise_events"].to_numpy(),
        "rise_p": emerging["rise_p"].to_numpy(),
        "places": [text.get(int(c), "") for c in cells],
        "area_name": area_names_for_cells(store.con, cells),  # "Five Points · District 2"; "" without areas
    })
    hotspots = _label(hotspots, synthetic)
    paths = {key: layout.output_path(out_dir, key) for key in ENGINE_OUTPUTS}
    paths["cube"] = cube_mod.write_cube(store, paths["cube"], label=SYNTHETIC_LABEL if synthetic else None)
    if "gpkg" in formats:
        paths["hotspots_gpkg"] = layout.output_path(out_dir, "hotspots_gpkg")
    # GeoParquet (geometry = the cells' hexagons, EPSG:4326; geopandas.read_parquet and QGIS open it);
    # `cell` stays as H3 hex for joins.
    geo = gpd.GeoDataFrame(hotspots, geometry=cells_to_polygons(cells).to_numpy(), crs=4326)
    geo.to_parquet(paths["hotspots_parquet"], index=False)
    _write_geojson(geo, paths["hotspots_geojson"])
    if "gpkg" in formats:
        write_gpkg(geo, paths["hotspots_gpkg"], "hotspots")
    scan_layer = write_geojson_layer(_label(_scan_geojson(scan, weeks), synthetic), paths["scan_clusters"])
    st_out = st.copy()
    for col in ("first_t", "last_t"):
        if col in st_out:
            st_out[col] = st_out[col].astype(str)
    clusters_layer = write_geojson_layer(_label(st_out, synthetic), paths["clusters"])
    conv = convergence.copy()
    if len(conv):
        conv["cell"] = grid.cells_to_hex(conv["cell"].to_numpy(dtype=np.uint64))
        for col in ("first_week", "last_week"):
            if col in conv:
                conv[col] = [week_label(weeks[int(i)]) for i in conv[col]]
    conv = _label(conv, synthetic)
    conv.to_parquet(paths["convergence"], index=False)
    frames = EngineFrames(
        hotspots=hotspots, convergence=conv, scan=scan, scan_layer=scan_layer, clusters_layer=clusters_layer)
    return HotspotRun(week=week, out_dir=out_dir, outputs={k: str(v) for k, v in paths.items()}, frames=frames)


def _write_run_json(store: Store, run: HotspotRun, params: HotspotParams, res: int, bins: dict) -> None:
    batches = store.con.execute(
        "select batch_id, kind, file_name, file_sha256, synthetic from batches order by batch_id").fetchall()
    payload = {
        "tool": "safeguard-hotspots", "command": "hotspots", "week": run.week, "time_zone": store.timezone,
        "synthetic": store_is_synthetic(store),
        "parameters": {**{k: v for k, v in asdict(params).items() if k != "rule_sources"}, "resolution": res},
        "rules": rules_record(params), "bins": bins, "choices": run.choices,
        "inputs": [{"batch_id": b[0], "kind": b[1], "file": b[2], "sha256": b[3]} for b in batches],
        "outputs": run.outputs, "summary": run.summary, "timings_s": run.timings, "versions": _versions(),
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    path = layout.output_path(run.out_dir, "run")
    text = json.dumps(payload, indent=2, default=str)
    path.write_text(text)
    run.record = json.loads(text)  # what reading run.json back gives (JSON types)
    layout.seal_analyst_files(run.out_dir)
    run.outputs["run"] = str(path)
