"""The ``previous_week`` step: last week's window (this week's cube plus the one week it adds) and its categories."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from analytics import grid
from analytics.engine import analyse_statistics
from analytics.patrol import plan_cells
from analytics.weeks import week_label
from pipelines import cube as cube_mod
from pipelines.store import Store
from pipelines.weekly.engine import EngineResult
from pipelines.weekly.harm import _harm_between, _harm_events


@dataclass
class _PreviousWindow:
    """The window ending one week before the analysed week: arrays as :func:`cube_mod.cube_arrays` and harm."""

    cells: np.ndarray
    counts: np.ndarray
    exposure: np.ndarray
    weeks: list[date]
    harm: pd.Series


def _previous_window(store: Store, res: int, measure: str, harm_weeks: int, cells: np.ndarray,
                     counts: np.ndarray, exposure: np.ndarray, weeks: list[date]) -> _PreviousWindow:
    """Last week's window from this week's cube plus the one week it adds at the start.

    Why: cube rows are per (cell, week) with nothing shared between weeks, so the window
    ending last week is this window without its last week, plus the week before its
    first. Only that week is built from the events (rebuilding every week of the window
    was most of the step); the built cube (temp table) is then that one week. Harm
    events for the previous plan are summed from this week's cube before it is replaced.
    """
    first_prev = weeks[0] - timedelta(weeks=1)
    p_weeks = [first_prev, *weeks[:-1]]
    harm_from = p_weeks[max(0, len(p_weeks) - harm_weeks)]
    harm = _harm_between(store, max(harm_from, weeks[0]), weeks[-2])
    cube_mod.build_cube(store, res, week_label(first_prev), week_label(first_prev), events_ready=True)
    w_cells, w_counts, w_exposure, _ = cube_mod.cube_arrays(store, measure)
    if not np.array_equal(w_cells, cells):  # not the same study area: build the whole window instead
        cube_mod.build_cube(store, res, week_label(first_prev), week_label(weeks[-2]), events_ready=True)
        p_cells, p_counts, p_exposure, p_weeks = cube_mod.cube_arrays(store, measure)
        return _PreviousWindow(p_cells, p_counts, p_exposure, p_weeks, _harm_events(store, p_weeks, harm_weeks))
    if harm_from <= first_prev:
        harm = harm.add(_harm_between(store, first_prev, first_prev), fill_value=0.0)
    return _PreviousWindow(cells, np.hstack([w_counts, counts[:, :-1]]), np.hstack([w_exposure, exposure[:, :-1]]),
                           p_weeks, harm)


@dataclass
class PreviousWeek:
    """Last week's categories (for the headline) and, when a plan was saved for it, that plan's cells."""

    previous: pd.DataFrame
    last_plan_cells: np.ndarray | None
    plan_source: str | None


def previous_week(store: Store, eng: EngineResult, cfg: dict, saved_plan: Path) -> PreviousWeek:
    """The ``previous_week`` step: the same statistics on the window ending one week earlier (no scan)."""
    res, params, cells, counts, exposure, weeks = eng.res, eng.params, eng.cells, eng.counts, eng.exposure, eng.weeks
    prev_week, plan_source = eng.prev_week, None
    pw = _previous_window(store, res, params.measure, cfg["harm_weeks"], cells, counts, exposure, weeks)
    p_cells, p_counts = pw.cells, pw.counts
    prev = analyse_statistics(p_counts, p_cells, pw.exposure, params)  # last week: no scan needed
    prev_emerging = prev.emerging
    previous = pd.DataFrame({"cell": grid.cells_to_hex(p_cells), "category": prev_emerging["category"].to_numpy()})
    last_plan_cells = None  # recomputed by the plan step, once this week's safeguarding verdict is known
    if saved_plan.is_file():
        last_plan_cells = grid.hex_to_cells([c for cs in plan_cells(pd.read_csv(saved_plan, dtype=str))
                                             for c in cs])
        plan_source = f"the saved plan {prev_week}/patrol_plan.csv"
    return PreviousWeek(previous, last_plan_cells, plan_source)
