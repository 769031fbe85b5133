"""What the forecast takes besides counts, read from the store: place-category covariates and exposure.

Used by the weekly run (:mod:`pipelines.weekly.forecast`) and ``hotspots backtest``
(:mod:`pipelines.backtest`) when ``ForecastParams.places`` is on. Covariates come from the
``places`` table only (venues: ``lat``, ``lon``, ``category``); the ``placements`` table (where
young people live) is never read here, so no placement location can shape the forecast.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analytics.forecast import ForecastParams
from analytics.forecast_places import place_covariates, varying_exposure
from pipelines.store import Store

__all__ = ["ForecastInputs", "store_place_covariates", "forecast_inputs"]


@dataclass
class ForecastInputs:
    """Exposure (cells × weeks, or None) and covariates (DataFrame by cell, or None) for the forecast."""

    exposure: np.ndarray | None
    covariates: pd.DataFrame | None

    def record(self) -> dict:
        """What run.json / backtest.json say was used: covariate names (or "none") and the exposure."""
        names = list(self.covariates.columns) if self.covariates is not None else []
        return {"covariates": names or "none",
                "exposure": "cube exposure" if self.exposure is not None else "none (uniform)"}


def store_place_covariates(store: Store, cells: np.ndarray) -> pd.DataFrame | None:
    """Counts of the store's places per category in each cell and its ring 1 (None: no places near)."""
    rows = store.con.execute("select lat, lon, category from places").df()
    if rows.empty:
        return None
    return place_covariates(rows["lat"].to_numpy(), rows["lon"].to_numpy(), rows["category"].to_numpy(), cells)


def forecast_inputs(store: Store, cells: np.ndarray, exposure: np.ndarray | None,
                    fparams: ForecastParams) -> ForecastInputs:
    """The covariates and exposure to pass with ``fparams`` (nothing unless ``fparams.places``)."""
    if not fparams.places:
        return ForecastInputs(None, None)
    return ForecastInputs(varying_exposure(exposure), store_place_covariates(store, cells))
