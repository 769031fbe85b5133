"""Hot spots by area (``--units areas``): the same Gi*, Mann-Kendall and emerging categories on
weekly counts per area of one stored layer (:mod:`analytics.area_stats`).

Each event of the analysed measure is counted in the area holding its own point (never by the
centre of its H3 cell); the weeks are the cell engine's window; neighbours are queen contiguity;
each area's size (km²) is the exposure of the calibrated null. The patrol plan and the
space-time scan stay on cells: this adds ``area_hotspots.parquet`` (GeoParquet, one row per
area, the areas' polygons) and ``area_hotspots.geojson`` to the run's owner-only ``analyst/``
folder, for the report and the analyst map.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from analytics.area_stats import area_statistics, area_week_counts, areas_km2, points_to_areas, queen_contiguity
from analytics.errors import InvalidInputError
from analytics.weeks import week_label
from pipelines import layout
from pipelines.areas import area_layers, load_areas
from pipelines.sqlrunner import run_sql

__all__ = ["UNITS", "AREA_OUTPUTS", "measure_events", "resolve_area_layer", "area_counts", "AreaRun",
           "run_area_hotspots", "read_area_hotspots"]

#: Units of analysis (``--units``): H3 cells, or the areas of a stored layer.
UNITS = ("cells", "areas")
#: Output keys (:data:`pipelines.layout.OUTPUT_FILES`) written under ``--units areas``.
AREA_OUTPUTS = ("area_hotspots_parquet", "area_hotspots_geojson")


def measure_events(measure: str) -> tuple[str | None, str | None]:
    """(event, report kind) that a cube measure counts (``mart_cell_week_counts``): ``reports`` ->
    every report, ``found_episodes`` -> found locations, ``reports_<kind>`` -> reports of that kind."""
    if measure == "reports":
        return "report", None
    if measure == "found_episodes":
        return "episode_found", None
    if measure.startswith("reports_"):
        return None, measure.removeprefix("reports_")
    raise InvalidInputError(f"--units areas cannot count measure {measure!r}; use reports, found_episodes or "
                            f"reports_<kind>.")


def resolve_area_layer(con, layer: str | None) -> str:
    """The layer to analyse: the one named, or the only one stored; refused (listing them) otherwise."""
    layers = area_layers(con)
    if not layers:
        raise InvalidInputError("--units areas needs an area layer; load one first with "
                                "hotspots ingest areas FILE --layer-name NAME.")
    if layer is None:
        if len(layers) > 1:
            raise InvalidInputError(f"The store holds {len(layers)} area layers; choose one with --area-layer NAME: "
                                    f"{', '.join(layers)}.")
        return layers[0]
    if layer not in layers:
        raise InvalidInputError(f"No area layer {layer!r}; the stored layers are: {', '.join(layers)}.")
    return layer


def area_counts(con, areas: gpd.GeoDataFrame, weeks: list[date], measure: str) -> tuple[np.ndarray, int, int]:
    """(counts ``(n_areas, n_weeks)``, events read, events in no area) of ``measure`` over ``weeks``,
    each event placed by its own point. Needs ``int_cell_events`` (:func:`pipelines.cube.prepare_events`)."""
    event, kind = measure_events(measure)
    got = run_sql(con, "intermediate/int_area_events.sql",
                  {"first_week": weeks[0], "last_week": weeks[-1], "event": event, "kind": kind}).fetchnumpy()
    lat, lon = np.asarray(got["lat"], dtype=float), np.asarray(got["lon"], dtype=float)
    week_start = pd.to_datetime(pd.Series(got["week_start"]))
    t = ((week_start - pd.Timestamp(weeks[0])).dt.days // 7).to_numpy(dtype=np.int64)
    index = points_to_areas(lon, lat, areas.geometry.to_numpy())
    counts = area_week_counts(index, t, len(areas), len(weeks))
    return counts, int(len(lat)), int((index < 0).sum())


@dataclass
class AreaRun:
    """What the area analysis wrote and found."""

    outputs: dict[str, str] = field(default_factory=dict)
    summary: dict[str, object] = field(default_factory=dict)
    choices: list[str] = field(default_factory=list)
    #: ``area_hotspots.parquet`` as written (what :func:`read_area_hotspots` gives), for the next step in memory.
    results: gpd.GeoDataFrame | None = None


def _write_geojson(frame: gpd.GeoDataFrame, path: Path) -> None:
    if frame.empty:
        path.write_text(json.dumps({"type": "FeatureCollection", "features": []}))
    else:
        frame.to_file(path, driver="GeoJSON")


def run_area_hotspots(store, params, out_dir: Path, weeks: list[date], synthetic_label: str | None = None) -> AreaRun:
    """Area statistics for the window ``weeks`` (the last one is the analysed week) with the
    engine's parameters ``params`` (:class:`pipelines.hotspots_run.HotspotParams`); writes
    :data:`AREA_OUTPUTS` into ``out_dir`` (analyst-only) and returns their paths and a summary."""
    from analytics.engine import emerging_params

    layer = resolve_area_layer(store.con, params.area_layer)
    areas = load_areas(store.con, layer).reset_index(drop=True)
    counts, n_events, outside = area_counts(store.con, areas, weeks, params.measure)
    geoms = areas.geometry.to_numpy()
    contiguity = queen_contiguity(geoms)
    km2 = areas_km2(geoms)
    stats = area_statistics(counts, contiguity, km2, params.time_step, params.p_method, params.fdr,
                            params.trend_method, emerging_params(params), params.share_basis)
    gi, mk, em = stats.gi, stats.mk, stats.emerging
    neighbours = np.asarray(contiguity.sum(axis=1)).ravel().astype(np.int64)
    table = pd.DataFrame({
        "area_id": areas["area_id"], "area_name": areas["area_name"], "layer": layer, "week": week_label(weeks[-1]),
        "count": counts[:, -1], "z": gi.z[:, -1], "p": gi.p[:, -1], "p_fdr": gi.p_fdr[:, -1],
        "gi_class": gi.gi_class[:, -1].astype(np.int8), "expected": gi.expected[:, -1],
        "category": em["category"].to_numpy(), "reason": em["reason"].to_numpy(),
        "mk_tau": mk.tau, "mk_p": mk.p, "hot_weeks": em["hot_weeks"].to_numpy(),
        "share_hot_weeks": em["share_hot_weeks"].to_numpy(), "rise_weeks": em["rise_weeks"].to_numpy(),
        "rise_events": em["rise_events"].to_numpy(), "rise_p": em["rise_p"].to_numpy(),
        "area_km2": np.round(km2, 4), "neighbours": neighbours, "events_in_window": counts.sum(axis=1),
    })
    if synthetic_label and len(table):
        table["synthetic"] = synthetic_label
    geo = gpd.GeoDataFrame(table, geometry=areas.geometry.to_numpy(), crs=4326)
    layout.prepare_folder(out_dir)
    paths = {key: layout.output_path(out_dir, key) for key in AREA_OUTPUTS}
    geo.to_parquet(paths["area_hotspots_parquet"], index=False)
    _write_geojson(geo, paths["area_hotspots_geojson"])
    islands = int((neighbours == 0).sum())
    choices = [f"Areas: layer {layer!r}, {len(areas)} area(s), queen contiguity"
               + (f" ({islands} without a neighbour: each is its own neighbourhood)" if islands else "")
               + f"; {n_events:,} event(s) of {params.measure} in the window counted by their own point, "
               f"{outside:,} of them in no area (left out of the area statistics); area size (km²) is the exposure "
               "of the Gi* null. The patrol plan and the scan stay on cells."]
    summary = {
        "layer": layer, "areas": int(len(areas)), "events_in_window": n_events, "events_outside_areas": outside,
        "events_in_week": int(counts[:, -1].sum()), "islands": islands,
        "hot_areas": int((gi.gi_class[:, -1] > 0).sum()), "cold_areas": int((gi.gi_class[:, -1] < 0).sum()),
        "categories": em["category"].value_counts().to_dict(),
        "top_areas": areas["area_name"].to_numpy()[np.argsort(-gi.z[:, -1], kind="stable")[:10]].tolist(),
    }
    return AreaRun({k: str(v) for k, v in paths.items()}, summary, choices, geo)


def read_area_hotspots(folder: Path) -> gpd.GeoDataFrame | None:
    """A run folder's area results (``area_hotspots.parquet``: one row per area, polygons in EPSG:4326),
    or None when the run was not made with ``--units areas`` (for the report and the analyst map)."""
    path = layout.output_path(folder, "area_hotspots_parquet")
    return gpd.read_parquet(path) if path.is_file() else None
