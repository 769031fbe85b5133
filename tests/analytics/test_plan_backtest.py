"""analytics.plan_backtest: sizes, methods, same exclusions, no look-ahead, the headline names the best by the numbers."""

from __future__ import annotations

import h3
import numpy as np
import pandas as pd
import pytest

from analytics import grid
from analytics.errors import InvalidInputError
from analytics.forecast import ForecastParams
from analytics.plan_backtest import METHODS, PLAN_SIZE, backtest_plan, greedy_places, headline

CENTRE = h3.latlng_to_cell(-33.87, 151.21, 9)
FAST = ForecastParams(max_iter=20, train_origins=8, min_train_origins=4, validation_origins=3, model="linear")
SIZES = [PLAN_SIZE, "0.1 %", "0.5 %", "1 %", "5 %"]


@pytest.fixture(scope="module")
def cube():
    cells = np.array(sorted(h3.str_to_int(c) for c in h3.grid_disk(CENTRE, 8)), dtype=np.uint64)
    rng = np.random.default_rng(3)
    rate = rng.gamma(0.4, 0.3, cells.size)
    rate[[5, 40, 90]] += 3.0
    counts = rng.poisson(rate[:, None] * np.ones((1, 30))).astype(float)
    return counts, cells, (grid.neighbour_matrix(cells, 1), grid.neighbour_matrix(cells, 2))


def test_every_size_and_method_is_scored(cube):
    counts, cells, rings = cube
    bt = backtest_plan(counts, cells, range(24, 28), params=FAST, rings=rings)
    po = bt.per_origin
    assert sorted(po["size"].unique()) == sorted(SIZES) and set(po["method"]) == set(METHODS)
    assert len(po) == 4 * len(SIZES) * len(METHODS)
    assert ((po["n"] <= po["n_star"] + 1e-9) & (po["n_star"] <= po["N"])).all()
    M = len(cells)
    for label, share in (("0.1 %", 0.001), ("1 %", 0.01), ("5 %", 0.05)):
        assert (po.loc[po["size"] == label, "n_cells"] == max(1, int(np.ceil(share * M)))).all()
    plan = po[po["size"] == PLAN_SIZE]
    # the plan's area is its own cells; each baseline gets the same number of cells
    assert (plan.groupby("origin")["n_cells"].nunique() == 1).all()
    assert (bt.plans["cells"].to_numpy() == plan[plan["method"] == "forecast"]["n_cells"].to_numpy()).all()
    assert (bt.plans["entries"] <= 10).all() and (bt.plans["cells"] <= 70).all()
    # the plan's events caught are its own cells' events next week
    assert np.allclose(plan[plan["method"] == "forecast"]["n"].to_numpy(), bt.plans["caught"].to_numpy())
    s = bt.summary(n_boot=200)
    for k in ("hit_rate", "pai", "pei_star", "events_per_week"):
        assert (s[f"{k}_low"] <= s[k] + 1e-9).all() and (s[k] <= s[f"{k}_high"] + 1e-9).all()


def test_withheld_cells_are_chosen_by_no_method(cube):
    counts, cells, rings = cube
    c = counts.copy()
    hot = 40
    c[:, 28] = 0.0
    c[hot, 28] = 9.0       # every event of the scored week 28 is in the withheld cell
    bt = backtest_plan(c, cells, [27], params=FAST, rings=rings,
                       withheld_at=lambda t, scores: np.arange(len(cells)) == hot)
    po = bt.per_origin
    assert (po["N"] == 9.0).all()
    assert (po["n"] == 0.0).all() and (po["n_star"] == 0.0).all()   # plan, forecast and every baseline
    assert bt.plans["withheld_cells"].iloc[0] == 1


def test_cube_at_hides_what_was_not_yet_reported(cube):
    counts, cells, rings = cube
    seen = []

    def cube_at(t):
        seen.append(t)
        known = counts[:, :t + 1].copy()
        known[:, t] = 0.0          # nothing of the origin week reported yet
        return known

    bt = backtest_plan(counts, cells, [25, 26], params=FAST, rings=rings, cube_at=cube_at)
    assert seen == [25, 26]
    lw = bt.per_origin[(bt.per_origin["method"] == "last_week")]
    # last week's counts saw only zeros: ties everywhere, so the expected capture is the area share
    for _, r in lw.iterrows():
        assert r["n"] == pytest.approx(r["N"] * r["n_cells"] / len(cells))
    with pytest.raises(InvalidInputError, match="cube_at"):
        backtest_plan(counts, cells, [25], params=FAST, rings=rings, cube_at=lambda t: counts[:, :t])


def test_greedy_places_builds_connected_entries_of_at_most_seven(cube):
    _, cells, rings = cube
    mu = np.zeros(len(cells))
    mu[:] = 0.01
    centre = int(np.searchsorted(cells, h3.str_to_int(CENTRE)))
    ring = rings[0][centre].indices
    mu[ring] = 5.0
    entries = greedy_places(rings, n_entries=3)(mu, np.ones(len(cells), bool))
    assert len(entries) == 3 and all(len(e) <= 7 for e in entries)
    assert len(np.unique(np.concatenate(entries))) == sum(len(e) for e in entries)  # no shared cell


def _summary(caught: dict, size=PLAN_SIZE) -> tuple[pd.DataFrame, pd.DataFrame]:
    s = pd.DataFrame([{"size": size, "method": m, "n_cells": 40, "events_caught": v, "events": 500.0}
                      for m, v in caught.items()])
    best = max(("last_week", "counts_26", "kde_13"), key=lambda b: caught[b])
    v = pd.DataFrame([{"size": size, "best_baseline": best, "ratio": caught["forecast"] / caught[best],
                       "ratio_low": 0.8, "ratio_high": 1.1}])
    return s, v


@pytest.mark.parametrize("caught, first_words", [
    ({"forecast": 50.0, "last_week": 30.0, "counts_26": 61.0, "kde_13": 55.0}, "26-week counts caught the most"),
    ({"forecast": 50.0, "last_week": 52.0, "counts_26": 41.0, "kde_13": 45.0}, "Last week's counts caught the most"),
    ({"forecast": 70.0, "last_week": 52.0, "counts_26": 61.0, "kde_13": 65.0}, "The forecast plan caught the most"),
    ({"forecast": 61.0, "last_week": 52.0, "counts_26": 61.0, "kde_13": 55.0}, "The forecast plan and 26-week counts tied"),
])
def test_headline_names_the_best_method_by_the_numbers(caught, first_words):
    s, v = _summary(caught)
    text = headline(s, v)
    assert text.startswith(first_words)
    best = max(caught.values())
    assert f"{best:.0f} of 500" in text
    if not first_words.startswith("The forecast plan"):
        assert f"the forecast plan caught {caught['forecast']:.0f}" in text
