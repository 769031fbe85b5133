"""The hotspot engine run for one ISO week: cube -> Gi* -> trend -> categories -> scan ->
ST-DBSCAN -> convergence -> places -> files.

Reads the store (read-only is enough), computes with ``analytics`` and writes, into the
owner-only ``analyst/`` subfolder of its folder (paths: :mod:`pipelines.layout`):
``cube.parquet``, ``hotspots.parquet`` (GeoParquet) + ``.geojson`` (+ ``.gpkg`` with
``--format gpkg``), ``scan_clusters.geojson``,
``clusters.geojson``, ``convergence.parquet`` and ``run.json`` (parameters, every
automatic choice, input hashes, versions, timings).
"""

from __future__ import annotations

import json
import platform
from concurrent.futures import ThreadPoolExecutor
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
from analytics.cluster_sources import DEFAULT_MIN_SOURCES, cluster_sources
from analytics.clusters import cluster_summaries, st_dbscan
from analytics.convergence import find_convergence
from analytics.emerging import EmergingParams, classify_emerging
from analytics.errors import InvalidInputError, NotEnoughData
from analytics.gistar import gi_star
from analytics.places import cells_to_polygons, choose_projected_crs, nearest_places, places_text
from analytics.scan import space_time_permutation_scan, track_clusters
from analytics.sufficiency import insufficiency, sufficiency_rule
from analytics.trend import mann_kendall
from analytics.weeks import parse_week, week_label
from pipelines import cube as cube_mod
from pipelines import layout
from pipelines.areas import area_names_for_cells
from pipelines.store import Store
from pipelines.timing import StepTimer

#: What the emerging rules' 90 % share counts (``--share-basis``).
SHARE_BASES = ("uncorrected", "fdr")

#: Rule sets (``--rules``): what each gives for the options it decides. ``arcgis`` is ESRI's published
#: Emerging Hot Spot Analysis (normal p, FDR over the cube, the 90 % share on the corrected classes, no
#: evidence for a rise); ``default`` is this product's (analytics.emerging, module docstring, says where and why).
RULE_SETS: dict[str, dict[str, str]] = {
    "default": {"p_method": "poisson", "fdr": "cube", "share_basis": "uncorrected"},
    "arcgis": {"p_method": "normal", "fdr": "cube", "share_basis": "fdr"},
}
#: The options a rule set decides unless given explicitly (an explicit value wins).
RULE_OPTIONS = ("p_method", "fdr", "share_basis")
#: The engine's output keys (paths: :func:`pipelines.layout.output_path`; all analyst-only), besides ``run``.
ENGINE_OUTPUTS = ("cube", "hotspots_parquet", "hotspots_geojson", "scan_clusters", "clusters", "convergence")

#: Cube columns that can be analysed (``--measure``).
MEASURES = ("reports", "found_episodes", "reports_sighting", "reports_found", "reports_rhi_disclosure")


@dataclass(frozen=True)
class HotspotParams:
    """Every tunable of the engine run, recorded in run.json."""

    week: str | None = None
    resolution: int | None = None
    weeks_back: int = 26
    measure: str = "reports"
    k: int = 1
    time_step: int = 1
    # Rule set (RULE_SETS): p_method, fdr and share_basis left as None take its values; the emerging
    # categories need evidence for a rise under "default" only (analytics.emerging.EmergingParams.arcgis).
    rules: str = "default"
    p_method: str | None = None
    fdr: str | None = None
    trend_method: str = "original"
    # Weeks counted toward the emerging rules' "90 % of weeks": each bin's own test ("uncorrected": the
    # share is one decision per cell, so the share itself is the error control) or the FDR classes ("fdr",
    # ArcGIS Pro). See analytics.emerging, "Counting the 90 % share".
    share_basis: str | None = None
    # Scan zones: rings 0..1 (the Gi* neighbourhood, ~350 m across at res 9). Rings 0..2 gave the same
    # recall on SYNTHETIC cities but flagged the empty outer ring around clusters (precision 0.73 vs 0.87).
    scan_radius: int = 1
    scan_window: int = 4
    scan_min_sources: int = DEFAULT_MIN_SOURCES  # young people + unnamed reports that make a cluster a place signal
    scan_replicates: int = 999
    seed: int = 0
    eps_space_m: float = 300.0
    eps_time_days: float = 14.0
    min_samples: int = 4
    cluster_weeks: int = 8
    st_max_events: int = 100_000     # ST-DBSCAN input cap (memory); above it a fixed-seed sample is used
    convergence_weeks: int = 8
    convergence_young_people: int = 3
    convergence_placements: int = 2
    places_radius_m: float = 400.0
    max_places: int = 3
    # Units of analysis (pipelines.area_hotspots.UNITS): "areas" adds Gi* / trend / categories per area of
    # one stored layer (area_layer; default the only one) -- the plan and the scan stay on cells.
    units: str = "cells"
    area_layer: str | None = None
    #: Where each of RULE_OPTIONS came from: ((name, value, "rules <set>" | "explicit"), ...); set on creation
    #: ("explicit" when given and different from the rule set's value, so dataclasses.replace keeps the record).
    rule_sources: tuple = field(default=(), init=False)

    def __post_init__(self) -> None:
        problems = []
        if self.rules not in RULE_SETS:
            problems.append(f"rules must be one of {', '.join(RULE_SETS)}; received {self.rules!r}")
        else:
            sources = []
            for name in RULE_OPTIONS:
                given = getattr(self, name)
                if given is None:
                    object.__setattr__(self, name, RULE_SETS[self.rules][name])
                explicit = given is not None and given != RULE_SETS[self.rules][name]
                sources.append((name, getattr(self, name), "explicit" if explicit else f"rules {self.rules}"))
            object.__setattr__(self, "rule_sources", tuple(sources))
        if self.measure not in MEASURES:
            problems.append(f"measure must be one of {', '.join(MEASURES)}; received {self.measure!r}")
        if self.weeks_back < 4:
            problems.append(f"weeks_back must be at least 4; received {self.weeks_back}")
        if self.time_step < 0 or self.k < 0:
            problems.append("time_step and k must be >= 0")
        if self.scan_replicates < 0:
            problems.append("scan_replicates must be >= 0")
        if self.share_basis is not None and self.share_basis not in SHARE_BASES:
            problems.append(f"share_basis must be one of {', '.join(SHARE_BASES)}; received {self.share_basis!r}")
        if self.units not in ("cells", "areas"):
            problems.append(f"units must be cells or areas; received {self.units!r}")
        if self.scan_min_sources < 1:
            problems.append(f"scan_min_sources must be >= 1; received {self.scan_min_sources}")
        if problems:
            raise InvalidInputError("Invalid hotspot parameters:\n- " + "\n- ".join(problems))


@dataclass
class HotspotRun:
    """What a run produced: output paths, summary figures, choices and timings."""

    week: str
    out_dir: Path
    outputs: dict[str, str] = field(default_factory=dict)
    summary: dict[str, object] = field(default_factory=dict)
    choices: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


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


def _events(store: Store, first: date, last: date) -> pd.DataFrame:
    return store.con.execute(
        "select event, cell, week_start, \"at\", lat, lon, person_key, placement_key from int_cell_events "
        "where cell in (select cell from cube_cells) and week_start between $a and $b "
        "and event <> 'episode_started'", {"a": first, "b": last}).df()


def _places(store: Store) -> gpd.GeoDataFrame | None:
    rows = store.con.execute("select place_id, name, category, geometry_wkt from places").df()
    if rows.empty:
        return None
    geometry = rows.pop("geometry_wkt").map(shapely_wkt.loads)
    return gpd.GeoDataFrame(rows, geometry=geometry, crs=4326)


def _st_clusters(events: pd.DataFrame, params: HotspotParams, first: date,
                 choices: list[str]) -> gpd.GeoDataFrame:
    """ST-DBSCAN over the recent events; above ``st_max_events`` a fixed-seed sample keeps memory bounded."""
    recent = events[pd.to_datetime(events["week_start"]) >= pd.Timestamp(first)].dropna(subset=["lat", "lon"]).reset_index(drop=True)
    empty = gpd.GeoDataFrame({"label": []}, geometry=[], crs=4326)
    min_samples = params.min_samples
    if len(recent) > params.st_max_events:
        # The neighbour graph grows with the square of the events at busy places; a uniform
        # sample with min_samples scaled by the sampling fraction keeps the same density rule.
        share = params.st_max_events / len(recent)
        # DuckDB returns rows in no fixed order: sort first, so that the seed fixes the sample.
        recent = recent.sort_values(["at", "cell", "lat", "lon", "event"], kind="stable", ignore_index=True)
        recent = recent.sample(n=params.st_max_events, random_state=params.seed).reset_index(drop=True)
        min_samples = max(2, int(round(params.min_samples * share)))
        choices.append(f"ST-DBSCAN ran on a fixed-seed sample of {params.st_max_events:,} of the recent events "
                       f"({share:.0%}), with min_samples scaled to {min_samples}.")
    if len(recent) < min_samples:
        return empty
    crs = choose_projected_crs(recent["lon"].to_numpy(), recent["lat"].to_numpy())
    pts = gpd.GeoSeries(gpd.points_from_xy(recent["lon"], recent["lat"]), crs=4326).to_crs(crs)
    t_days = (pd.to_datetime(recent["at"], utc=True) - pd.Timestamp("1970-01-01", tz="UTC")).dt.total_seconds() / 86400
    labels = st_dbscan(pts.x.to_numpy(), pts.y.to_numpy(), t_days.to_numpy(), params.eps_space_m,
                       params.eps_time_days, min_samples)
    if (labels < 0).all():
        return empty
    frame = pd.DataFrame({"lon": recent["lon"], "lat": recent["lat"], "t": pd.to_datetime(recent["at"], utc=True),
                          "person_key": recent["person_key"]})
    return cluster_summaries(frame, labels)


def _scan(counts: np.ndarray, cells: np.ndarray, params: HotspotParams, weeks: list[date]) -> pd.DataFrame:
    # Cells with no event in the period add nothing to any zone's observed or expected
    # count, so scanning only cells with events gives the same statistic, much faster.
    active = counts.sum(axis=1) > 0
    counts, cells = counts[active], cells[active]

    def scan(window: np.ndarray) -> pd.DataFrame:
        # Only significant clusters are used below, so the Monte Carlo may stop as soon as none
        # can be significant (sequential Monte Carlo: the same clusters, fewer replicates).
        return space_time_permutation_scan(window, cells, params.scan_radius, params.scan_window,
                                           params.scan_replicates, params.seed, stop_early=True).clusters

    previous = None
    if counts.shape[1] > params.scan_window + 1:
        # The two scans are independent (each seeds its own generator), and their numpy work
        # releases the GIL: run them side by side (same results, ~2 cores instead of 1).
        with ThreadPoolExecutor(max_workers=2) as pool:
            fut_previous = pool.submit(scan, counts[:, :-1])
            current = scan(counts)
            previous = fut_previous.result()
        # astype(bool): an empty result's column is object dtype, and a frame indexed by an empty
        # object Series selects no *columns* (then track_clusters finds no 'cells'; issue 13, item 5)
        previous = track_clusters(None, previous[previous["significant"].astype(bool)], week=week_label(weeks[-2]))
    else:
        current = scan(counts)
    significant = current[current["significant"].astype(bool)]
    return track_clusters(previous, significant, week=week_label(weeks[-1]))


def scan_sources(scan: pd.DataFrame, events: pd.DataFrame, last_week: int, params: HotspotParams) -> pd.DataFrame:
    """Scan clusters with their sources and pattern (``place`` / ``repeat_missing``), see
    :mod:`analytics.cluster_sources`. ``events`` carry ``week_index`` counted from the cube's first week."""
    return cluster_sources(scan, events, last_week, params.scan_min_sources)


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


@dataclass(frozen=True)
class CubeAnalysis:
    """The statistics of one analysed window: Gi*, trend, emerging categories, scan clusters."""

    gi: object
    mk: object
    emerging: pd.DataFrame
    scan: pd.DataFrame


def emerging_params(params: HotspotParams) -> EmergingParams:
    """The emerging rules of the run's rule set: ESRI's for ``arcgis``, with evidence for a rise for ``default``."""
    return EmergingParams.arcgis() if params.rules == "arcgis" else EmergingParams()


def rules_record(params: HotspotParams) -> dict:
    """What run.json records about the rule set: its name and, per option, the value used and where it came from."""
    record: dict = {"set": params.rules, "evidence_for_rise": emerging_params(params).needs_evidence}
    for name, value, source in params.rule_sources:
        record[name] = {"value": value, "from": source}
    return record


def analyse_statistics(counts: np.ndarray, cells: np.ndarray, exposure: np.ndarray | None,
                       params: HotspotParams, timer: StepTimer | None = None) -> CubeAnalysis:
    """Gi* -> Mann-Kendall -> emerging categories on a (cells x weeks) window; no scan (``scan`` empty).

    What the weekly run needs for last week's headline and plan, without the Monte Carlo.
    """
    timer = timer or StepTimer()
    with timer.step("gi_star"):
        spatial = grid.neighbour_matrix(cells, params.k)
        uniform = exposure is None or bool(np.all(exposure == 1.0))
        gi = gi_star(counts, spatial, params.time_step, None if uniform else exposure,
                     params.p_method, params.fdr)
    with timer.step("trend_and_categories"):
        mk = mann_kendall(gi.z, method=params.trend_method)
        share = gi.uncorrected_class if params.share_basis == "uncorrected" else None
        emerging = classify_emerging(gi.gi_class, mk, counts, emerging_params(params), spatial=spatial,
                                     share_class=share)
    return CubeAnalysis(gi, mk, emerging, pd.DataFrame())


def analyse_cube(counts: np.ndarray, cells: np.ndarray, exposure: np.ndarray | None, weeks: list[date],
                 params: HotspotParams, timer: StepTimer | None = None) -> CubeAnalysis:
    """Gi* -> Mann-Kendall -> emerging categories -> prospective scan on a (cells x weeks) window.

    The window's last week is the analysed week. Used by the weekly run and by the
    recovery benchmark (which slides the window over a SYNTHETIC history).
    """
    timer = timer or StepTimer()
    stats = analyse_statistics(counts, cells, exposure, params, timer)
    with timer.step("scan"):
        scan = _scan(counts, cells, params, weeks)
    return replace(stats, scan=scan)


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
        choices += [c for c in info.choices if not c.startswith(("First week", "Last week"))]
        cells, counts, exposure, weeks = cube_mod.cube_arrays(store, params.measure)
        require_enough_events(store, out_dir, params, res, week, weeks, counts)
    analysis = analyse_cube(counts, cells, exposure, weeks, params, timer)
    gi, mk, emerging, scan = analysis.gi, analysis.mk, analysis.emerging, analysis.scan
    with timer.step("st_dbscan"):
        events = _events(store, weeks[0], weeks[-1])
        cluster_first = weeks[-1] - timedelta(weeks=params.cluster_weeks - 1)
        st = _st_clusters(events, params, cluster_first, choices)
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
        places = _places(store)
        near = (nearest_places(cells[hot], places, params.places_radius_m, params.max_places)
                if places is not None and hot.any() else pd.DataFrame())
        text = places_text(near) if len(near) else {}
    with timer.step("write"):
        run = _write_outputs(store, out_dir, week, cells, counts, gi, mk, emerging, scan, st, convergence,
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
    }
    if params.units == "areas":
        from pipelines.area_hotspots import run_area_hotspots
        with timer.step("areas"):
            areas = run_area_hotspots(store, params, out_dir, weeks,
                                      SYNTHETIC_LABEL if store_is_synthetic(store) else None)
        run.outputs.update(areas.outputs)
        run.summary["areas"] = areas.summary
        choices += areas.choices
    run.choices = choices + list(gi.notes)
    run.timings = timings
    _write_run_json(store, run, params, res)
    return run


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
    _write_geojson(_label(_scan_geojson(scan, weeks), synthetic), paths["scan_clusters"])
    st_out = st.copy()
    for col in ("first_t", "last_t"):
        if col in st_out:
            st_out[col] = st_out[col].astype(str)
    _write_geojson(_label(st_out, synthetic), paths["clusters"])
    conv = convergence.copy()
    if len(conv):
        conv["cell"] = grid.cells_to_hex(conv["cell"].to_numpy(dtype=np.uint64))
        for col in ("first_week", "last_week"):
            if col in conv:
                conv[col] = [week_label(weeks[int(i)]) for i in conv[col]]
    _label(conv, synthetic).to_parquet(paths["convergence"], index=False)
    return HotspotRun(week=week, out_dir=out_dir, outputs={k: str(v) for k, v in paths.items()})


def _write_run_json(store: Store, run: HotspotRun, params: HotspotParams, res: int) -> None:
    batches = store.con.execute(
        "select batch_id, kind, file_name, file_sha256, synthetic from batches order by batch_id").fetchall()
    payload = {
        "tool": "safeguard-hotspots", "command": "hotspots", "week": run.week, "time_zone": store.timezone,
        "synthetic": store_is_synthetic(store),
        "parameters": {**{k: v for k, v in asdict(params).items() if k != "rule_sources"}, "resolution": res},
        "rules": rules_record(params), "choices": run.choices,
        "inputs": [{"batch_id": b[0], "kind": b[1], "file": b[2], "sha256": b[3]} for b in batches],
        "outputs": run.outputs, "summary": run.summary, "timings_s": run.timings, "versions": _versions(),
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    path = layout.output_path(run.out_dir, "run")
    path.write_text(json.dumps(payload, indent=2, default=str))
    layout.seal_analyst_files(run.out_dir)
    run.outputs["run"] = str(path)
