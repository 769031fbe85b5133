"""What the hotspot engine hands the next step in memory: the frames it wrote, as they read back.

:func:`pipelines.hotspots_run.run_hotspots` writes its results to files (for the analyst and for
later weeks) and keeps the same frames on :attr:`~pipelines.hotspots_run.HotspotRun.frames`, so a job
that goes on from the engine (``hotspots weekly``) takes them from there instead of opening the files
it has just written. Each frame holds exactly what reading its file back would give, dtypes and
coordinates included: a Parquet output keeps the written frame's dtypes; a GeoJSON layer is
encoded once in memory (:func:`write_geojson_layer`), its bytes go to the file and the frame is
parsed from the same bytes -- GDAL types its columns (integers as int32, date-time text as
timestamps) and prints coordinates to 15 decimals trimming round-off (``151.06212500000004`` is
written ``151.062125``), which decides how a hull vertex rounds on the map.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd


@dataclass
class EngineFrames:
    """The engine's outputs as frames (each as its file reads back; paths: :mod:`pipelines.layout`)."""

    #: ``hotspots.parquet`` without its geometry: one row per cell, the cube's order.
    hotspots: pd.DataFrame
    #: ``convergence.parquet`` (cells as H3 hex, weeks as labels).
    convergence: pd.DataFrame
    #: The scan's clusters with their member cells (``cells``: H3 integers) and ``pattern``; the
    #: table ``scan_clusters.geojson`` draws one outline per row of.
    scan: pd.DataFrame
    #: ``scan_clusters.geojson`` as read back; None when it holds no cluster.
    scan_layer: gpd.GeoDataFrame | None
    #: ``clusters.geojson`` (ST-DBSCAN hulls) as read back; None when it holds no cluster.
    clusters_layer: gpd.GeoDataFrame | None
    #: ``area_hotspots.parquet`` (``--units areas``), else None.
    areas: gpd.GeoDataFrame | None = None


def write_geojson_layer(frame: gpd.GeoDataFrame, path: Path) -> gpd.GeoDataFrame | None:
    """Write ``frame`` to ``path`` as GeoJSON and return it as reading the file back gives it (None
    for an empty layer, written as an empty FeatureCollection), without opening the file again."""
    if frame.empty:
        path.write_text(json.dumps({"type": "FeatureCollection", "features": []}))
        return None
    buffer = io.BytesIO()
    frame.to_file(buffer, driver="GeoJSON", layer=path.stem)  # the layer name the file would get
    data = buffer.getvalue()
    path.write_bytes(data)
    return gpd.read_file(io.BytesIO(data))
