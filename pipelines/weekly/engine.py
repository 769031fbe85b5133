"""The weekly run's first steps: the events (indexed once for every cube of the run) and the hotspot
engine on the week; :class:`EngineResult` is what the later steps take from them, in memory (the
engine's frames, :class:`pipelines.engine_frames.EngineFrames`: its files are never read back)."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from analytics import grid
from analytics.engine import HotspotParams
from analytics.errors import HotspotError
from analytics.weeks import parse_week, week_label
from pipelines import cube as cube_mod
from pipelines.engine_frames import EngineFrames
from pipelines.hotspots_run import HotspotRun, default_week, default_week_choice, run_hotspots, store_is_synthetic
from pipelines.store import Store
from pipelines.weekly.harm import _harm_events


@dataclass
class EngineResult:
    """The analysed week as the engine left it: parameters it settled on, this week's cube, its outputs as frames."""

    week: str
    out_dir: Path
    params: HotspotParams
    res: int
    engine: HotspotRun
    synthetic: bool
    cells: np.ndarray
    counts: np.ndarray
    exposure: np.ndarray
    weeks: list[date]
    cube_now: pd.DataFrame
    hotspots: pd.DataFrame
    conv: pd.DataFrame
    conv_score: pd.Series | None
    harm: pd.Series
    prev_week: str
    events_s: float
    engine_s: float
    #: Everything the engine wrote, as frames (scan table and cells, map layers, area results).
    frames: EngineFrames


def run_engine(store: Store, week: str | None, out_dir: Path, cfg: dict, resolution: int | None,
               progress: Callable[[str], None] | None, formats: tuple[str, ...], choices: list[str]) -> EngineResult:
    """Index the events once, run the hotspot engine on ``week`` (default: the last complete one, noted in
    ``choices``) into ``out_dir``, and gather what the later steps need."""
    res = store.resolution if resolution is None else grid.check_resolution(resolution)
    t0 = time.perf_counter()
    cube_mod.prepare_events(store, res)  # once: both cubes below (this week, last week) use these events
    events_s = round(time.perf_counter() - t0, 4)
    if week is None:
        week = default_week(store)
        choices.append(default_week_choice(week, store.timezone))
    else:
        week = week_label(parse_week(week))
    params = HotspotParams(week=week, resolution=resolution, **cfg["hotspots"])

    t0 = time.perf_counter()
    engine = run_hotspots(store, params, out_dir, progress=progress, events_ready=True, formats=formats)
    engine_s = round(time.perf_counter() - t0, 4)
    # the engine's sparse-data rule may widen the bins and coarsen the grid: the rest of the run follows it
    res, params = engine.resolution, replace(params, bin_weeks=engine.bin_weeks)
    synthetic = store_is_synthetic(store)  # the engine's own answer (run.json records the same)

    cells, counts, exposure, weeks = cube_mod.cube_arrays(store, params.measure)
    cube_now = cube_mod.cube_frame(store)  # before the previous week's rebuild replaces the mart
    frames = engine.frames  # what the engine wrote, handed over in memory
    hotspots, conv = frames.hotspots, frames.convergence
    if grid.cells_to_hex(cells) != hotspots["cell"].tolist():
        raise HotspotError("Internal error: the engine's hotspots and the cube list different cells.")
    conv_score = (pd.Series(conv["score"].to_numpy(dtype=float), index=grid.hex_to_cells(conv["cell"]))
                  if len(conv) else None)
    harm = _harm_events(store, weeks, cfg["harm_weeks"])
    prev_week = week_label(parse_week(week) - timedelta(weeks=1))
    return EngineResult(week, out_dir, params, res, engine, synthetic, cells, counts, exposure, weeks, cube_now,
                        hotspots, conv, conv_score, harm, prev_week, events_s, engine_s, frames)
