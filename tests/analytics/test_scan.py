"""Tests for the prospective space-time permutation scan (METHODS §5)."""

from __future__ import annotations

import math
import time

import h3
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy.stats import hypergeom

from analytics.errors import InvalidInputError
from analytics.scan import (
    CLUSTER_COLUMNS,
    recurrence_interval,
    scan_llr,
    space_time_permutation_scan,
    track_clusters,
)

SYDNEY = h3.latlng_to_cell(-33.8688, 151.2093, 9)


def disk(centre: str, k: int) -> np.ndarray:
    return np.array(sorted(h3.str_to_int(c) for c in h3.grid_disk(centre, k)), dtype=np.uint64)


def idx(cells: np.ndarray, hexes) -> np.ndarray:
    wanted = {h3.str_to_int(h) for h in hexes}
    return np.flatnonzero([int(c) in wanted for c in cells])


# ----------------------------------------------------------------- hand-worked example


def two_cell_example():
    a = SYDNEY
    b = h3.grid_ring(a, 1)[0]
    cells = np.array([h3.str_to_int(a), h3.str_to_int(b)], dtype=np.uint64)
    counts = np.array([[1, 1, 4], [3, 2, 1]])
    return cells, counts


def test_hand_worked_two_zone_case():
    # Zones {A}, {B} (radius 0), window = last week only.
    # C = 12, C_A = 6, C_B = 6, C_d(last) = 5 -> mu_A = mu_B = 6*5/12 = 2.5
    # c_A = 4 > 2.5: LLR = 4 ln(4/2.5) + 8 ln(8/9.5); c_B = 1 < 2.5: LLR 0.
    cells, counts = two_cell_example()
    res = space_time_permutation_scan(counts, cells, max_radius=0, max_window=1, replicates=0)
    llr = 4 * math.log(4 / 2.5) + 8 * math.log(8 / 9.5)
    assert llr == pytest.approx(0.505212, abs=1e-6)  # 1.880018 - 1.374805
    assert len(res.clusters) == 1
    top = res.primary
    assert top["center_cell"] == cells[0]
    assert top["observed"] == 4
    assert top["expected"] == pytest.approx(2.5)
    assert top["llr"] == pytest.approx(llr, rel=1e-12)
    assert top["obs_exp"] == pytest.approx(1.6)
    assert top["relative_risk"] == pytest.approx((4 / 2.5) / (8 / 9.5))
    assert (top["window_start"], top["window_end"], top["window_weeks"]) == (2, 2, 1)
    assert np.isnan(top["p_value"])
    assert res.n_zones == 2


def test_hand_worked_p_value_matches_exact_permutation_distribution():
    # Under the permutation null the number of A's events in the last week is
    # hypergeometric(N=12, K=6, n=5). max LLR >= observed iff A gets >= 4 or <= 1.
    cells, counts = two_cell_example()
    exact = hypergeom.sf(3, 12, 6, 5) + hypergeom.cdf(1, 12, 6, 5)
    assert exact == pytest.approx(2 * 96 / 792)
    res = space_time_permutation_scan(counts, cells, max_radius=0, max_window=1, replicates=9999, seed=3)
    assert res.primary["p_value"] == pytest.approx(exact, abs=0.015)


def test_scan_llr_formula_and_masks():
    assert scan_llr(4, 2.5, 12) == pytest.approx(4 * math.log(1.6) + 8 * math.log(8 / 9.5))
    assert scan_llr(1, 2.5, 12) == 0.0                 # below expectation
    assert scan_llr(1, 0.1, 12, min_cases=2) == 0.0    # too few events
    assert scan_llr(5, 2.0, 5) == pytest.approx(5 * math.log(2.5))  # c = C: second term 0


def test_recurrence_interval_weekly_is_one_over_p():
    assert_allclose(recurrence_interval([0.001, 0.01, 0.5]), [1000, 100, 2], rtol=1e-9)
    # two analyses a week: more analyses, shorter interval in weeks
    assert recurrence_interval(0.01, 2.0) == pytest.approx(1 / (1 - 0.99 ** 0.5))


def test_observed_statistic_matches_brute_force():
    rng = np.random.default_rng(11)
    cells = disk(SYDNEY, 3)
    counts = rng.poisson(0.4, (cells.size, 12))
    res = space_time_permutation_scan(counts, cells, max_radius=2, max_window=3, replicates=0, min_cases=1)
    total = counts.sum()
    pos = {int(c): i for i, c in enumerate(cells)}
    best = 0.0
    for c in cells:
        for r in range(3):
            members = [pos[h3.str_to_int(h)] for h in h3.grid_disk(h3.int_to_str(int(c)), r)
                       if h3.str_to_int(h) in pos]
            for w in range(1, 4):
                obs = counts[members, -w:].sum()
                mu = counts[members].sum() * counts[:, -w:].sum() / total
                if obs > mu:
                    best = max(best, obs * math.log(obs / mu) + (total - obs) * math.log((total - obs) / (total - mu)))
    assert res.primary["llr"] == pytest.approx(best, rel=1e-12)


# ----------------------------------------------------------------- behaviour


def planted(seed=0, weeks=30, extra=4):
    rng = np.random.default_rng(seed)
    cells = disk(SYDNEY, 5)
    counts = rng.poisson(0.3, (cells.size, weeks))
    hot = idx(cells, h3.grid_disk(SYDNEY, 1))
    counts[hot, -2:] += extra
    return cells, counts, hot


def test_planted_cluster_found_as_primary():
    cells, counts, hot = planted()
    res = space_time_permutation_scan(counts, cells, replicates=999, seed=1)
    top = res.primary
    assert top["kind"] == "primary"
    assert top["p_value"] <= 0.01
    assert top["significant"]
    assert top["relative_risk"] > 1 and top["obs_exp"] > 1
    found = set(top["cells"])
    planted_cells = {int(cells[i]) for i in hot}
    assert len(found & planted_cells) >= 0.8 * len(planted_cells)
    assert top["window_end"] == counts.shape[1] - 1
    assert top["window_weeks"] in (1, 2, 3)
    assert top["recurrence_weeks"] == pytest.approx(1 / top["p_value"])
    assert list(res.clusters.columns) == CLUSTER_COLUMNS
    assert all(isinstance(h, str) for h in top["cells_hex"])
    assert res.clusters["center_cell"].dtype == np.uint64


def test_null_data_rarely_significant():
    cells = disk(SYDNEY, 4)
    pvals = []
    for seed in range(20):
        counts = np.random.default_rng(100 + seed).poisson(0.3, (cells.size, 26))
        res = space_time_permutation_scan(counts, cells, replicates=199, seed=seed)
        pvals.append(res.primary["p_value"])
    pvals = np.array(pvals)
    assert np.sum(pvals <= 0.05) <= 3          # expected 1 in 20
    assert np.median(pvals) > 0.2


def test_secondary_clusters_do_not_overlap_primary_or_each_other():
    rng = np.random.default_rng(5)
    cells = disk(SYDNEY, 7)
    counts = rng.poisson(0.3, (cells.size, 30))
    far = h3.grid_ring(SYDNEY, 5)[0]
    counts[idx(cells, h3.grid_disk(SYDNEY, 1)), -1] += 4
    counts[idx(cells, h3.grid_disk(far, 1)), -2:] += 3
    res = space_time_permutation_scan(counts, cells, replicates=199, seed=0, max_secondary=5)
    sets = [set(c) for c in res.clusters["cells"]]
    assert len(sets) >= 2
    for i in range(len(sets)):
        for j in range(i + 1, len(sets)):
            assert not sets[i] & sets[j]
    assert (res.clusters["kind"] == "secondary").sum() == len(sets) - 1
    assert res.clusters["llr"].is_monotonic_decreasing
    assert res.clusters["p_value"].is_monotonic_increasing
    sig = res.significant
    hubs = {h3.str_to_int(SYDNEY), h3.str_to_int(far)}
    assert all(any(h in set(c) for c in sig["cells"]) for h in hubs)


def test_fixed_seed_reproducible_and_seed_matters():
    cells, counts, _ = planted(seed=2, extra=1)
    a = space_time_permutation_scan(counts, cells, replicates=99, seed=7)
    b = space_time_permutation_scan(counts, cells, replicates=99, seed=7)
    c = space_time_permutation_scan(counts, cells, replicates=99, seed=8)
    pd.testing.assert_frame_equal(a.clusters, b.clusters)
    assert np.array_equal(a.llr_sim, b.llr_sim)
    assert not np.array_equal(a.llr_sim, c.llr_sim)


def test_no_events_gives_empty_result():
    cells = disk(SYDNEY, 1)
    res = space_time_permutation_scan(np.zeros((cells.size, 5), dtype=int), cells, replicates=9)
    assert res.clusters.empty and list(res.clusters.columns) == CLUSTER_COLUMNS
    assert res.primary is None


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"max_window": 9}, "max_window"),
        ({"max_radius": -1}, "max_radius"),
        ({"replicates": 1.5}, "replicates"),
        ({"alpha": 0}, "alpha"),
    ],
)
def test_bad_parameters_raise(kwargs, message):
    cells = disk(SYDNEY, 1)
    counts = np.ones((cells.size, 8), dtype=int)
    with pytest.raises(InvalidInputError, match=message):
        space_time_permutation_scan(counts, cells, **kwargs)


def test_bad_inputs_raise():
    cells = disk(SYDNEY, 1)
    with pytest.raises(InvalidInputError, match="non-negative"):
        space_time_permutation_scan(-np.ones((cells.size, 8)), cells)
    with pytest.raises(InvalidInputError, match="whole numbers"):
        space_time_permutation_scan(np.full((cells.size, 8), 0.5), cells)
    with pytest.raises(InvalidInputError, match="unique"):
        space_time_permutation_scan(np.ones((2, 8)), np.array([cells[0], cells[0]]))
    with pytest.raises(InvalidInputError, match="one entry per row"):
        space_time_permutation_scan(np.ones((3, 8)), cells)


def test_performance_999_replicates_2000_cells_52_weeks():
    cells = disk(SYDNEY, 26)[:2000]
    counts = np.random.default_rng(0).poisson(0.3, (2000, 52))
    start = time.perf_counter()
    res = space_time_permutation_scan(counts, cells, replicates=999, seed=0)
    elapsed = time.perf_counter() - start
    assert res.llr_sim.shape == (999,)
    assert elapsed < 10.0, f"scan took {elapsed:.1f} s"


# ----------------------------------------------------------------- tracking


def frame(*cell_sets):
    return pd.DataFrame({"cells": [tuple(s) for s in cell_sets], "llr": np.arange(len(cell_sets), 0, -1.0)})


def test_track_clusters_new_then_ongoing_keeps_id():
    week1 = track_clusters(None, frame([1, 2, 3], [10, 11]), week="2025-W01")
    assert week1["status"].tolist() == ["new", "new"]
    assert week1["cluster_id"].is_unique
    week2 = track_clusters(week1, frame([3, 4], [20, 21]), week="2025-W02")
    assert week2["status"].tolist() == ["ongoing", "new"]
    assert week2.loc[0, "cluster_id"] == week1.loc[0, "cluster_id"]
    assert week2.loc[1, "cluster_id"] not in set(week1["cluster_id"])
    assert week2.loc[0, "previous_cluster_id"] == week1.loc[0, "cluster_id"]
    assert week2.loc[1, "previous_cluster_id"] is None


def test_track_clusters_ids_deterministic_and_week_dependent():
    a = track_clusters(None, frame([1, 2]), week="2025-W01")
    b = track_clusters(pd.DataFrame(columns=["cluster_id", "cells"]), frame([2, 1]), week="2025-W01")
    c = track_clusters(None, frame([1, 2]), week="2025-W30")
    assert a.loc[0, "cluster_id"] == b.loc[0, "cluster_id"]
    assert a.loc[0, "cluster_id"] != c.loc[0, "cluster_id"]
    assert a.loc[0, "cluster_id"].startswith("stc-")


def test_track_clusters_split_keeps_ids_unique():
    week1 = track_clusters(None, frame([1, 2, 3, 4, 5]), week=1)
    week2 = track_clusters(week1, frame([1], [3, 4, 5]), week=2)
    assert week2["status"].tolist() == ["ongoing", "ongoing"]
    assert week2["cluster_id"].is_unique
    # the part sharing most cells keeps the id
    assert week2.loc[1, "cluster_id"] == week1.loc[0, "cluster_id"]
    assert (week2["previous_cluster_id"] == week1.loc[0, "cluster_id"]).all()


def test_track_clusters_accepts_hex_cells_and_scan_output():
    cells, counts, _ = planted()
    res = space_time_permutation_scan(counts, cells, replicates=19, seed=0, max_secondary=2)
    first = track_clusters(None, res.clusters, week="W1")
    as_hex = first.assign(cells=first["cells_hex"])
    again = track_clusters(as_hex, res.clusters, week="W2")
    assert (again["status"] == "ongoing").all()
    assert again["cluster_id"].tolist() == first["cluster_id"].tolist()
