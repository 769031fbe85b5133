"""Tests for the prospective space-time permutation scan (METHODS §5)."""

from __future__ import annotations

import math

import h3
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy.stats import chisquare, hypergeom, multivariate_hypergeom

import analytics.scan as scan_module
from analytics.errors import InvalidInputError
from analytics.scan import (
    CLUSTER_COLUMNS,
    _LLRKernel,
    _replicate_tables,
    _window_block,
    _zone_matrix,
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


def _kernel_case(seed=0, zones=400, batch=6, windows=3, total=5_000):
    rng = np.random.default_rng(seed)
    mu = rng.gamma(1.0, 3.0, (zones, windows))
    mu[:5] = 0.0                                  # zones with no events in the whole history
    k = 300
    cz = np.minimum(rng.poisson(mu[:, None, :] * rng.uniform(0.5, 3.0, (1, batch, 1))), k).astype(np.float32)
    cz[:5] = 0
    return _LLRKernel.build(mu, total, k, min_cases=2), cz, mu, total


def test_replicate_llr_kernel_matches_scan_llr():
    kernel, cz, mu, total = _kernel_case()
    expected = scan_llr(cz.astype(float), mu[:, None, :], total, min_cases=2).max(axis=(0, 2))
    assert_allclose(kernel.max_llr(cz), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("quantile", [0.0, 0.5, 1.0])
def test_pruned_replicate_maximum_is_exact(quantile):
    kernel, cz, _, _ = _kernel_case(seed=3)
    full = kernel.max_llr(cz)
    level = float(np.quantile(full, quantile))
    pruned = kernel.max_llr_pruned(cz, kernel.min_count(level).astype(np.float32), level)
    assert np.array_equal(pruned, full)


def test_stop_early_keeps_which_clusters_are_significant():
    cells, counts, _ = planted(seed=4)
    full = space_time_permutation_scan(counts, cells, replicates=199, seed=2)
    early = space_time_permutation_scan(counts, cells, replicates=199, seed=2, stop_early=True)
    assert full.clusters["significant"].tolist() == early.clusters["significant"].tolist()
    sig = full.clusters["significant"].to_numpy()
    assert sig.any()
    assert early.clusters["p_value"][sig].tolist() == full.clusters["p_value"][sig].tolist()


def test_stop_early_on_null_data_stops_and_stays_not_significant():
    cells = disk(SYDNEY, 15)    # ~2,000 zones: replicates run in batches of a few hundred (stops are per batch)
    counts = np.random.default_rng(101).poisson(0.3, (cells.size, 26))
    full = space_time_permutation_scan(counts, cells, replicates=999, seed=1)
    early = space_time_permutation_scan(counts, cells, replicates=999, seed=1, stop_early=True)
    assert not full.clusters["significant"].any()
    assert len(early.llr_sim) < 999
    assert np.array_equal(early.llr_sim, full.llr_sim[:len(early.llr_sim)])   # same replicates, fewer
    assert not early.clusters["significant"].any() and (early.clusters["p_value"] > 0.05).all()


# ----------------------------------------------------------------- replicate tables


def _permuted_tables(rng, cell_tot, tail_weeks, reps):
    """Reference generator: shuffle the week labels of single events (the definition of the null)."""
    n = int(cell_tot.sum())
    event_cell = np.repeat(np.arange(cell_tot.size), cell_tot)
    labels = np.full(n, tail_weeks.size)                 # "earlier"
    labels[:tail_weeks.sum()] = np.repeat(np.arange(tail_weeks.size), tail_weeks)
    out = np.empty((reps, cell_tot.size, tail_weeks.size), dtype=np.int64)
    for i in range(reps):
        lab = rng.permutation(labels)
        keep = lab < tail_weeks.size
        out[i] = np.bincount(event_cell[keep] * tail_weeks.size + lab[keep],
                             minlength=out[i].size).reshape(out[i].shape)
    return out


def _exact_moments(cell_tot, tail_weeks):
    """Mean and covariance of the flattened cell × recent-week table under the permutation null.

    With ``N`` events, ``Cov(x_cd, x_c'd') = n_c(δ_cc'·N − n_c')·m_d(δ_dd'·N − m_d') / (N²(N − 1))``
    (sum of indicator covariances of a uniformly random matching of events to labels).
    """
    n = float(cell_tot.sum())
    a = np.diag(cell_tot * n) - np.outer(cell_tot, cell_tot)
    b = np.diag(tail_weeks * n) - np.outer(tail_weeks, tail_weeks)
    mean = np.outer(cell_tot, tail_weeks).ravel() / n
    return mean, np.kron(a, b) / (n * n * (n - 1))


@pytest.fixture(params=["count", "marginals"])
def mvh_method(request, monkeypatch):
    """Run a test with numpy's "count" multivariate hypergeometric (small totals) and with "marginals"."""
    if request.param == "marginals":
        monkeypatch.setattr(scan_module, "_COUNT_MAX_TOTAL", 0)
    return request.param


def test_replicate_tables_keep_the_observed_margins(mvh_method):
    rng = np.random.default_rng(0)
    cell_tot = rng.integers(1, 60, 300)
    tail_weeks = np.array([400, 350, 0, 500])              # an empty week is fine
    tables = _replicate_tables(np.random.default_rng(1), cell_tot, tail_weeks, 25)
    assert tables.shape == (25, 300, 4) and tables.dtype == np.int64
    assert (tables >= 0).all()
    assert (tables.sum(axis=1) == tail_weeks).all()        # each week keeps its total
    assert (tables.sum(axis=2) <= cell_tot).all()          # the rest of each cell is in earlier weeks
    assert (tables[:, :, 2] == 0).all()


def test_replicate_tables_have_the_permutation_distribution(mvh_method):
    # Exact mean and covariance of every cell × week entry (and, for one cell, the whole
    # joint distribution by chi-square) against theory; the event shuffle is checked the same way.
    cell_tot = np.array([9, 4, 13, 1, 7])
    tail_weeks = np.array([6, 3, 5])                        # N = 34: 14 recent, 20 earlier
    reps = 20_000
    mean, cov = _exact_moments(cell_tot, tail_weeks)
    se = np.sqrt(np.outer(np.diag(cov), np.diag(cov)) + cov**2) / math.sqrt(reps)
    for gen in (_replicate_tables, _permuted_tables):
        tables = gen(np.random.default_rng(5), cell_tot, tail_weeks, reps)
        flat = tables.reshape(reps, -1).astype(float)
        assert np.all(np.abs(flat.mean(axis=0) - mean) <= 5 * np.sqrt(np.diag(cov) / reps)), gen.__name__
        assert np.all(np.abs(np.cov(flat, rowvar=False) - cov) <= 6 * se + 1e-12), gen.__name__
        # cell 2's (last week, week before, week before that, earlier) counts: multivariate hypergeometric
        rows = np.column_stack([tables[:, 2], cell_tot[2] - tables[:, 2].sum(axis=1)])
        outcomes, seen = np.unique(rows, axis=0, return_counts=True)
        urn = np.append(tail_weeks, cell_tot.sum() - tail_weeks.sum())
        pmf = multivariate_hypergeom.pmf(outcomes, urn, cell_tot[2])
        assert pmf.sum() > 0.999                            # (nearly) every possible outcome was seen
        assert chisquare(seen, pmf / pmf.sum() * reps).pvalue > 1e-3, gen.__name__


def test_replicate_tables_seeded():
    cell_tot, tail_weeks = np.arange(1, 50), np.array([30, 20])
    a = _replicate_tables(np.random.default_rng(3), cell_tot, tail_weeks, 7)
    b = _replicate_tables(np.random.default_rng(3), cell_tot, tail_weeks, 7)
    c = _replicate_tables(np.random.default_rng(4), cell_tot, tail_weeks, 7)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_window_block_gives_window_sums_and_zero_rows_for_empty_cells():
    tables = np.arange(2 * 3 * 4).reshape(2, 3, 4)         # 2 replicates, 3 active cells, W = 4
    active = np.array([0, 2, 4])
    block = _window_block(tables, active, 6, np.float32).reshape(6, 2, 4)
    assert block.dtype == np.float32
    assert np.array_equal(block[active], np.cumsum(tables, axis=2).transpose(1, 0, 2))
    assert (block[[1, 3, 5]] == 0).all()


def test_p_value_agrees_with_shuffling_events():
    # The same observed table tested against replicates made by shuffling single events
    # (computed here from scratch) and by the scan's table sampler: the p-values agree within
    # Monte Carlo error.
    rng = np.random.default_rng(8)
    cells = disk(SYDNEY, 2)
    counts = rng.poisson(0.6, (cells.size, 10))
    counts[idx(cells, [SYDNEY]), -1] += 2
    w, reps = 2, 3000
    res = space_time_permutation_scan(counts, cells, max_radius=1, max_window=w, replicates=reps, seed=0)
    zones = _zone_matrix(cells, 1)[0]
    total = counts.sum()
    mu = (zones @ counts.sum(axis=1))[:, None] * np.cumsum(counts.sum(axis=0)[::-1][:w])[None, :] / total
    shuffled = _permuted_tables(np.random.default_rng(9), counts.sum(axis=1),
                                counts.sum(axis=0)[::-1][:w], reps)
    c = np.einsum("zc,rcw->rzw", zones.toarray(), np.cumsum(shuffled, axis=2))
    sim = scan_llr(c, mu[None], total, min_cases=2).max(axis=(1, 2))
    llr = res.primary["llr"]
    p_shuffle = (1 + np.sum(sim >= llr - 1e-9 * llr)) / (reps + 1)
    p_scan = res.primary["p_value"]
    assert 0.02 < p_shuffle < 0.9                            # an informative comparison
    assert abs(p_scan - p_shuffle) <= 4 * math.sqrt(2 * p_shuffle * (1 - p_shuffle) / reps)


def test_too_many_events_for_the_sampler_raise():
    cells = disk(SYDNEY, 1)
    counts = np.ones((cells.size, 8), dtype=np.int64)
    counts[0, 0] = 10**9
    with pytest.raises(InvalidInputError, match="fewer than"):
        space_time_permutation_scan(counts, cells, replicates=9)
    assert space_time_permutation_scan(counts, cells, replicates=0).n_events > 10**9


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
