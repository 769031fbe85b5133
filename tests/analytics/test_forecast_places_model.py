"""The forecast with place-category covariates (analytics.forecast_places) and the scoring edge case they met."""

from __future__ import annotations

import math

import h3.api.numpy_int as h3n
import numpy as np
import pandas as pd

from analytics.forecast import ForecastParams, forecast_next_week
from analytics.forecast_eval import BASELINES, forecast_vs_best
from analytics.forecast_places import place_covariates


def test_place_covariates_enter_the_forecast_as_features():
    a = int(h3n.latlng_to_cell(-33.87, 151.2, 9))
    cells = np.sort(np.asarray(h3n.grid_disk(a, 3), dtype=np.uint64))
    rng = np.random.default_rng(0)
    counts = rng.poisson(0.2, (len(cells), 40)).astype(float)
    lat, lon = h3n.cell_to_latlng(a)
    cov = place_covariates([lat], [lon], ["train_station"], cells)
    p = ForecastParams(train_origins=8, min_train_origins=4, validation_origins=2, max_iter=10, model="glm")
    with_cov = forecast_next_week(counts, cells, 38, p, covariates=cov)
    without = forecast_next_week(counts, cells, 38, p)
    assert "cov_place_train_station" in with_cov.choices["features"]
    assert "cov_ring1_place_train_station" in with_cov.choices["features"]
    assert not any(f.startswith("cov_") for f in without.choices["features"])
    assert not np.allclose(with_cov.expected, without.expected)  # the GLM saw the covariate


def test_forecast_vs_best_when_a_baseline_has_no_pei_at_any_origin():
    rows = []
    for o in (1, 2):
        for m, n, pei in (("forecast", 3.0, 0.5), (BASELINES[0], 1.0, math.nan), (BASELINES[1], 2.0, 0.4),
                          (BASELINES[2], 0.0, 0.1)):
            rows.append({"origin": o, "size": "plan", "method": m, "n_cells": 5, "n": n, "pei_star": pei})
    got = forecast_vs_best(pd.DataFrame(rows), n_boot=50).iloc[0]
    assert got["best_baseline"] == BASELINES[1] and got["best_pei_baseline"] == BASELINES[1]
    assert got["ratio"] == 1.5 and got["forecast_pei_star"] == 0.5
