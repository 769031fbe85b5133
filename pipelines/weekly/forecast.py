"""The weekly run's forecast: next week's events per cell from the store's own cube history (past only)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta

import numpy as np
import pandas as pd

from analytics.errors import InvalidInputError
from analytics.forecast import ForecastParams, poisson_interval, rolling_forecasts
from analytics.patrol import HOURS_PER_WEEK
from analytics.weeks import week_label
from pipelines import cube as cube_mod
from pipelines.forecast_inputs import ForecastInputs, forecast_inputs
from pipelines.store import Store
from pipelines.weekly.engine import EngineResult


#: The forecast behind the plan (analytics.forecast): its defaults, but fitted on the last 13 past origins
#: (4 held out to choose the model), 30 boosting rounds and 10 % of the zero-count rows (weighted 10×), so
#: the weekly run stays fast; the benchmark (benchmarks.ranking) uses the full defaults.
WEEKLY_FORECAST = ForecastParams(train_origins=13, validation_origins=4, max_iter=30, zero_keep=0.1)


def forecast_params_for(cfg: dict, base: ForecastParams = WEEKLY_FORECAST) -> ForecastParams:
    """``base`` with the config's ``forecast_places`` (place-category covariates and exposure) when it is set."""
    places = (cfg or {}).get("forecast_places")
    return base if places is None else replace(base, places=bool(places))


@dataclass
class _History:
    """The cube over the weeks the forecast needs, rows in this week's cube's cell order."""

    counts: np.ndarray
    weeks: list[date]
    note: str
    exposure: np.ndarray | None = None


def _forecast_history(store: Store, res: int, measure: str, cells: np.ndarray, counts: np.ndarray,
                      weeks: list[date], fparams: ForecastParams, exposure: np.ndarray | None = None) -> _History:
    """Counts from ``train_origins`` + the longest feature window before the analysed week (or from the first
    week with data) to the analysed week, rows in ``cells`` order.

    Only the weeks before this week's cube are built (the built cube, a temp table, is replaced by them);
    the analysed window's ``counts`` (and ``exposure``, same shape) are reused.
    """
    need = fparams.train_origins + max(max(fparams.windows), fparams.kde_weeks, max(fparams.ring_windows))
    first_data = store.con.execute("select min(week_start) from int_cell_events").fetchone()[0]
    first = weeks[-1] - timedelta(weeks=need - 1)
    if first_data is not None:
        first = max(first, first_data - timedelta(days=first_data.weekday()))
    if first >= weeks[0]:
        return _History(counts, list(weeks), f"{week_label(weeks[0])} to {week_label(weeks[-1])} "
                                             f"({len(weeks)} weeks)", exposure)
    cube_mod.build_cube(store, res, week_label(first), week_label(weeks[0] - timedelta(weeks=1)),
                        events_ready=True, check=False)
    h_cells, h_counts, h_exposure, h_weeks = cube_mod.cube_arrays(store, measure)
    if not np.array_equal(h_cells, cells):  # same study area expected; align defensively
        out = np.zeros((len(cells), h_counts.shape[1]))
        out_e = np.ones((len(cells), h_counts.shape[1]))
        pos = np.clip(np.searchsorted(h_cells, cells), 0, max(len(h_cells) - 1, 0))
        hit = h_cells[pos] == cells if len(h_cells) else np.zeros(len(cells), dtype=bool)
        out[hit] = h_counts[pos[hit]]
        out_e[hit] = h_exposure[pos[hit]]
        h_counts, h_exposure = out, out_e
    all_weeks = [*h_weeks, *weeks]
    all_exposure = None if exposure is None else np.hstack([h_exposure, exposure])
    return _History(np.hstack([h_counts, counts]), all_weeks,
                    f"{week_label(all_weeks[0])} to {week_label(all_weeks[-1])} ({len(all_weeks)} weeks)",
                    all_exposure)


def _forecasts(history: _History, cells: np.ndarray, origins: list[int], fparams: ForecastParams,
               choices: list[str], inputs: ForecastInputs | None = None) -> dict[int, pd.DataFrame]:
    """Expected events next week per cell at each origin (week index into the history), from the past only.

    With too little history for the fitted forecast, the forecast is each cell's mean weekly count over the
    weeks available (up to 52) with its Poisson interval, and the run's choices say so. ``inputs``: the
    place-category covariates and exposure (:func:`pipelines.forecast_inputs.forecast_inputs`).
    """
    out: dict[int, pd.DataFrame] = {}
    inputs = inputs or ForecastInputs(None, None)
    try:
        for f in rolling_forecasts(history.counts, cells, origins, fparams, exposure=inputs.exposure,
                                   covariates=inputs.covariates):
            frame = f.as_frame()
            frame.attrs["choices"] = f.choices
            out[f.origin] = frame
    except InvalidInputError as exc:
        choices.append(f"Patrol plan: {exc} The plan ranks cells by their mean weekly count over the weeks "
                       "available instead.")
        for o in origins:
            past = history.counts[:, max(0, o - 51):o + 1]
            mu = past.mean(axis=1) if past.shape[1] else np.zeros(len(cells))
            lo, hi = poisson_interval(mu, fparams.level)
            frame = pd.DataFrame({"cell": cells, "expected": mu, "expected_low": lo, "expected_high": hi})
            frame.attrs["choices"] = {"model": "mean weekly count (fallback)", "weeks": int(past.shape[1])}
            out[o] = frame
    return out


def _area_profile(store: Store, last_week: date, tz: str) -> np.ndarray:
    """Found/report events per local hour of the week over the study area (all history to ``last_week``):
    the prior every plan entry's hour-of-week profile is shrunk toward. Uses the built cube's cells."""
    got = store.con.execute(
        "select date_trunc('hour', \"at\") as h, count(*) as n from int_cell_events "
        "where event <> 'episode_started' and week_start <= $last and time_known "
        "and cell in (select cell from cube_cells) group by 1", {"last": last_week}).df()
    if not len(got):
        return np.zeros(HOURS_PER_WEEK)
    t = pd.to_datetime(got["h"], utc=True).dt.tz_convert(tz)
    how = (t.dt.day_of_week * 24 + t.dt.hour).to_numpy(dtype=np.int64)
    return np.bincount(how, weights=got["n"].to_numpy(dtype=np.float64), minlength=HOURS_PER_WEEK)


@dataclass
class WeeklyForecast:
    """The ``forecast`` step's result: the history it used, the forecast at each origin, the area's hour profile."""

    fparams: ForecastParams
    history: _History
    forecasts: dict[int, pd.DataFrame]
    T: int
    forecast: pd.DataFrame
    area_profile: np.ndarray
    inputs: ForecastInputs | None = None

    def inputs_record(self) -> dict:
        """run.json's ``weekly.plan.forecast`` covariates (names, or "none") and exposure."""
        return (self.inputs or ForecastInputs(None, None)).record()


def weekly_forecast(store: Store, eng: EngineResult, saved_plan: bool, fparams: ForecastParams,
                    choices: list[str]) -> WeeklyForecast:
    """Next week's events per cell (and this week's, for last week's plan when no plan was ``saved_plan``)."""
    res, params, cells, counts, weeks = eng.res, eng.params, eng.cells, eng.counts, eng.weeks
    exposure = getattr(eng, "exposure", None) if fparams.places else None
    if exposure is not None and np.shape(exposure) != np.shape(counts):
        exposure = None  # not per cell and week of the analysed cube: not passed
    history = _forecast_history(store, res, params.measure, cells, counts, weeks, fparams, exposure)
    T = len(history.weeks)
    origins = [T - 1] if saved_plan or T < 2 else [T - 2, T - 1]
    inputs = forecast_inputs(store, cells, history.exposure, fparams)
    forecasts = _forecasts(history, cells, origins, fparams, choices, inputs)
    forecast = forecasts[T - 1]
    if "features" not in forecast.attrs.get("choices", {}):  # the short-history fallback used no covariate
        inputs = ForecastInputs(None, None)
    area_profile = _area_profile(store, weeks[-1], store.timezone)
    return WeeklyForecast(fparams, history, forecasts, T, forecast, area_profile, inputs)
