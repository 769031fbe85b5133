"""The hotspot engine hands its results to the weekly job in memory (issue 17, item 1).

The weekly job never opens what the engine has just written (hotspots.parquet, convergence.parquet,
the GeoJSON layers, area_hotspots.parquet, run.json) until its privacy scan; the frames it takes
instead (:class:`pipelines.engine_frames.EngineFrames`) equal what reading those files back gives,
dtypes and coordinates included; and the scan's member cells it hands the safeguarding rules are the
cells whose centres the written outlines hold (what the job derived from the file before).
"""

from __future__ import annotations

import builtins
import io
import json
import os
from datetime import date, timedelta
from pathlib import Path

import geopandas as gpd
import h3.api.numpy_int as h3n
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pyogrio
import pytest
from pandas.testing import assert_frame_equal

from pipelines import layout
from pipelines import store as store_mod
from pipelines import weekly as weekly_mod
from pipelines.area_hotspots import AREA_OUTPUTS
from pipelines.engine_frames import write_geojson_layer
from pipelines.hotspots_run import ENGINE_OUTPUTS, _scan_geojson
from pipelines.ingest import ingest_file
from pipelines.weekly import engine as engine_step
from tests.conftest import EPISODE_HEADER, FAST, TEST_KEY, episode, write_csv
from tests.pipelines.test_areas import BEATS, tiny_with_beats  # noqa: F401  (a fixture: the tiny store with beats)
from tests.pipelines.tiny_store import SPOTS, daily, tiny_store

#: What the engine writes for the job to go on from (run.json included: the job extends it).
HANDED_OVER = {layout.OUTPUT_FILES[k] for k in (*ENGINE_OUTPUTS, *AREA_OUTPUTS, "run")}


class ReadRecorder:
    """Records the files read while ``active``: the table and layer readers and every ``open`` for reading."""

    def __init__(self, monkeypatch):
        self.paths: list[Path] = []
        self.active = False
        for owner, name in ((pd, "read_parquet"), (gpd, "read_parquet"), (gpd, "read_file"),
                            (pyogrio, "read_dataframe"), (pq, "read_table")):
            monkeypatch.setattr(owner, name, self._wrap(getattr(owner, name)))
        real_open = builtins.open

        def recording_open(file, mode="r", *args, **kwargs):
            if not any(c in mode for c in "wax+"):
                self._note(file)
            return real_open(file, mode, *args, **kwargs)

        monkeypatch.setattr(builtins, "open", recording_open)
        monkeypatch.setattr(io, "open", recording_open)  # pathlib's read_text/read_bytes/open

    def _note(self, target) -> None:
        if self.active and isinstance(target, (str, os.PathLike)):
            self.paths.append(Path(target))

    def _wrap(self, reader):
        def recording(target, *args, **kwargs):
            self._note(target)
            return reader(target, *args, **kwargs)
        return recording

    def engine_files_read(self) -> list[str]:
        return sorted({p.name for p in self.paths if p.name in HANDED_OVER})


def _watch_weekly(monkeypatch) -> tuple[ReadRecorder, list]:
    """Record reads during the weekly job's own steps (not its privacy scan, which reads every output
    file on purpose, nor the publishing after it); also keep the engine's HotspotRun."""
    recorder = ReadRecorder(monkeypatch)
    engines: list = []
    run_job, scan, run_engine = weekly_mod._run_weekly, weekly_mod.scan_folder, engine_step.run_hotspots

    def job(*args, **kwargs):
        recorder.active = True
        try:
            return run_job(*args, **kwargs)
        finally:
            recorder.active = False

    def privacy_scan(*args, **kwargs):
        recorder.active = False
        return scan(*args, **kwargs)

    def engine(*args, **kwargs):
        engines.append(run_engine(*args, **kwargs))
        return engines[-1]

    monkeypatch.setattr(weekly_mod, "_run_weekly", job)
    monkeypatch.setattr(weekly_mod, "scan_folder", privacy_scan)
    monkeypatch.setattr(engine_step, "run_hotspots", engine)
    return recorder, engines


def _assert_frames_as_files(run) -> None:
    """Every frame the engine handed over equals its file read back (the run's published folder)."""
    frames, out = run.frames, run.out_dir
    files = pd.read_parquet(layout.output_path(out, "hotspots_parquet"))
    assert "geometry" in files.columns and "geometry" not in frames.hotspots.columns
    assert_frame_equal(frames.hotspots, files.drop(columns="geometry"), check_exact=True)
    assert_frame_equal(frames.convergence, pd.read_parquet(layout.output_path(out, "convergence")), check_exact=True)
    for key, frame in (("scan_clusters", frames.scan_layer), ("clusters", frames.clusters_layer)):
        path = layout.output_path(out, key)
        if not json.loads(path.read_text(encoding="utf-8"))["features"]:
            assert frame is None, key
            continue
        disk = gpd.read_file(path)
        assert_frame_equal(pd.DataFrame(frame.drop(columns="geometry")), pd.DataFrame(disk.drop(columns="geometry")),
                           check_exact=True)
        assert frame.crs == disk.crs
        assert all(a.equals_exact(b, 0) for a, b in zip(frame.geometry, disk.geometry)), key  # not one bit off
    area_path = layout.output_path(out, "area_hotspots_parquet")
    if area_path.is_file():
        disk = gpd.read_parquet(area_path)
        assert_frame_equal(pd.DataFrame(frames.areas.drop(columns="geometry")),
                           pd.DataFrame(disk.drop(columns="geometry")), check_exact=True)
        assert all(a.equals_exact(b, 0) for a, b in zip(frames.areas.geometry, disk.geometry))
    else:
        assert frames.areas is None


#: The week the job runs on :func:`small_city`, and its last day (a Sunday).
SMALL_WEEK, SMALL_LAST = "2025-W14", date(2025, 4, 6)


@pytest.fixture(scope="module")
def small_city(tmp_path_factory) -> Path:
    """A small store with every kind of input the job reads (the SYNTHETIC sample's kinds at a
    fraction of its size, so the job's run takes seconds less): three reports a day over a tiny
    study area for 40 weeks (more than the 26-week window, so the forecast's history is read too);
    eight episodes found at the busy corner from two placements in the last weeks (a convergence
    cell; ST-DBSCAN clusters come from the daily reports); places beside the corners; and the
    placements' locations."""
    folder = tmp_path_factory.mktemp("handoff_small_city")
    db = tiny_store(folder, daily(SMALL_LAST - timedelta(weeks=40) + timedelta(days=1), SMALL_LAST), per_day=3)
    lat, lon = SPOTS[0]
    episodes = [episode(episode_id=f"EP{i}", person_ref=f"CHILD-{i}", placement_ref=f"HOME-{i % 2}",
                        missing_from=f"{d}T18:00:00+11:00", returned_at=f"{d}T23:00:00+11:00", reported_at="",
                        found_lat=f"{lat:.4f}", found_lon=f"{lon:.4f}", last_seen_lat=f"{lat:.4f}",
                        last_seen_lon=f"{lon:.4f}")
                for i, d in enumerate(SMALL_LAST - timedelta(days=27 - 3 * i) for i in range(8))]
    places = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"place_id": f"PL{i}", "name": f"Place {i}", "category": category},
         "geometry": {"type": "Point", "coordinates": [plon + 0.0004, plat]}}
        for i, ((plat, plon), category) in enumerate(zip(SPOTS, ("shopping_centre", "train_station") * 2))]}
    (folder / "places.geojson").write_text(json.dumps(places))
    homes = [{"placement_ref": f"HOME-{i}", "placement_type": "residential", "lat": f"{SPOTS[2 + i][0]:.4f}",
              "lon": f"{SPOTS[2 + i][1]:.4f}"} for i in range(2)]
    with store_mod.opened(db) as st:
        ingest_file(st, "episodes", write_csv(folder / "episodes.csv", EPISODE_HEADER, episodes), TEST_KEY)
        ingest_file(st, "places", folder / "places.geojson", TEST_KEY)
        ingest_file(st, "placements", write_csv(folder / "placements.csv", list(homes[0]), homes), TEST_KEY)
    return db


def test_weekly_job_reads_none_of_the_engine_outputs_back(small_city, tmp_path, monkeypatch):
    recorder, engines = _watch_weekly(monkeypatch)
    with store_mod.opened(small_city, read_only=True) as st:
        run = weekly_mod.run_weekly(st, SMALL_WEEK, tmp_path / "out", config=FAST)
    assert not run.privacy_findings
    assert recorder.paths, "the recorder saw no read at all: it is not watching"
    assert recorder.engine_files_read() == []
    engine = engines[0]
    engine.out_dir = run.out_dir  # published: the staged folder was renamed
    assert engine.frames.clusters_layer is not None and len(engine.frames.convergence)  # both kinds are checked
    _assert_frames_as_files(engine)
    # the weekly run.json extends the engine's, which the job took as written
    meta = json.loads(layout.output_path(run.out_dir, "run").read_text(encoding="utf-8"))
    assert meta["summary"] == engine.record["summary"] and meta["bins"] == engine.record["bins"]
    assert meta["choices"][-len(engine.record["choices"]):] == engine.record["choices"]


def test_units_areas_hands_the_area_results_over_in_memory(tiny_with_beats, tmp_path, monkeypatch):
    recorder, engines = _watch_weekly(monkeypatch)
    with store_mod.opened(tiny_with_beats[1], read_only=True) as st:
        run = weekly_mod.run_weekly(st, "2025-W13", tmp_path / "out",
                                    config={"hotspots": {"scan_replicates": 9, "units": "areas"}})
    assert recorder.engine_files_read() == []
    engine = engines[0]
    engine.out_dir = run.out_dir
    assert engine.frames.areas is not None and len(engine.frames.areas) == len(BEATS)
    _assert_frames_as_files(engine)


def _scan_table(clusters: list[tuple[str, list[int]]]) -> pd.DataFrame:
    """A scan result table (the columns the engine writes) with the given (pattern, member cells)."""
    n = len(clusters)
    return pd.DataFrame({
        "cluster_id": np.arange(n), "status": "significant", "kind": "emerging",
        "center_hex": [h3n.int_to_str(cells[0]) for _, cells in clusters], "radius": 1,
        "n_cells": [len(cells) for _, cells in clusters], "pattern": [p for p, _ in clusters],
        "young_people": 3, "unnamed_events": 0, "window_start": 0, "window_end": 1, "observed": 9,
        "expected": 2.5, "relative_risk": 3.6, "llr": 7.1, "p_value": 0.01, "recurrence_weeks": 4.0,
        "cells": [np.asarray(cells, dtype=np.uint64) for _, cells in clusters]})


def test_scan_cells_handed_over_are_the_cells_the_written_outline_holds(tmp_path):
    """The safeguarding rules get each cluster's member cells from the engine; the job used to derive them
    from scan_clusters.geojson by centre containment. Both agree: a disk, a ring around a cell left out
    (an outline with a hole), a single cell, two cells apart (a MultiPolygon)."""
    from pipelines.weekly.safeguard import _scan_cluster_cells

    centre = h3n.latlng_to_cell(-33.87, 151.21, 9)
    far = h3n.latlng_to_cell(-33.90, 151.25, 9)
    disk = h3n.grid_disk(centre, 2).tolist()
    ring = [c for c in disk if c != centre]
    clusters = [("place", disk), ("repeat_missing", ring), ("place", [far]), ("repeat_missing", [centre, far])]
    scan = _scan_table(clusters)
    weeks = [date(2025, 1, 6), date(2025, 1, 13)]
    path = tmp_path / "scan_clusters.geojson"
    layer = write_geojson_layer(_scan_geojson(scan, weeks), path)
    written = gpd.read_file(path)
    from_file = [set(int(c) for c in h3n.geo_to_cells(g.__geo_interface__, 9)) for g in written.geometry]
    handed = _scan_cluster_cells(scan)
    assert [set(cs) for cs in handed["cells"]] == from_file == [set(cs) for _, cs in clusters]
    assert handed["pattern"].tolist() == written["pattern"].tolist()
    assert layer is not None and layer["pattern"].tolist() == written["pattern"].tolist()
    assert _scan_cluster_cells(scan.iloc[:0]) is None
    assert write_geojson_layer(_scan_geojson(scan.iloc[:0], weeks), tmp_path / "empty.geojson") is None
