"""The "90 % of weeks" share counted on each week's own test (analytics.emerging, "Counting the 90 % share").

Three kinds of evidence: hand-built class series (golden), null grids where no cell may get a
share category, and planted constant-rate sites (SYNTHETIC) that the cube-wide corrected classes
miss and the share counted on each week's own test recovers.
"""

from __future__ import annotations

import h3
import numpy as np
import pytest

from analytics import grid
from analytics.emerging import SHARE_PATTERNS, EmergingParams, classify_emerging
from analytics.errors import InvalidInputError
from analytics.gistar import gi_star
from analytics.trend import MKResult, mann_kendall

T = 26


def _flat_mk(n: int) -> MKResult:
    """No trend anywhere (p = 1)."""
    z = np.zeros(n)
    return MKResult(s=z, var_s=np.ones(n), z=z, p=np.ones(n), tau=z, trend=np.zeros(n, dtype=np.int8),
                    method="original", alpha=0.05, n_eff_ratio=np.ones(n))


def _series(text: str) -> np.ndarray:
    """'3303...' -> classes; '-' is -2 (cold)."""
    return np.array([-2 if ch == "-" else int(ch) for ch in text], dtype=np.int8)


# --------------------------------------------------------------------------- golden
def test_share_on_own_tests_turns_sporadic_into_persistent():
    corrected = _series("03303333333330033333332333")  # 22 of 26 corrected: sporadic under ArcGIS
    own = _series("13333333333333333333333333")  # 26 of 26 on each week's own test
    g, share = corrected[None, :], own[None, :]
    counts = np.full((1, T), 3.0)
    arcgis = classify_emerging(g, _flat_mk(1), counts)
    ours = classify_emerging(g, _flat_mk(1), counts, share_class=share)
    assert arcgis["category"].iat[0] == "sporadic_hot"
    assert ours["category"].iat[0] == "persistent_hot"
    assert ours["hot_weeks"].iat[0] == 22 and ours["share_hot_weeks"].iat[0] == 25  # class 1 < min_class 2
    assert "hot in 25 (each week's own test; 22 after the false-discovery correction) of 26 weeks" in ours["reason"].iat[0]


def test_share_rules_take_the_final_week_on_the_same_test():
    # Hot on its own test every week; the cube-wide correction leaves this week at class 0 on the map.
    corrected = _series("33333333333333333333333330")
    own = _series("33333333333333333333333332")
    counts = np.full((1, T), 3.0)
    out = classify_emerging(corrected[None, :], _flat_mk(1), counts, share_class=own[None, :])
    assert out["category"].iat[0] == "persistent_hot"
    assert out["final_class"].iat[0] == 0
    assert "hot in 26 (each week's own test; 25 after the false-discovery correction) of 26 weeks" in out["reason"].iat[0]
    # Quiet this week even on its own test: historical, as under ArcGIS.
    own_quiet = _series("33333333333333333333333330")
    out = classify_emerging(corrected[None, :], _flat_mk(1), counts, share_class=own_quiet[None, :])
    assert out["category"].iat[0] == "historical_hot"
    assert "hot in 25 of 26 weeks, all earlier" in out["reason"].iat[0]
    assert classify_emerging(corrected[None, :], _flat_mk(1), counts)["category"].iat[0] == "historical_hot"


def test_new_and_runs_stay_on_the_corrected_classes():
    # First significant week on the map, never corrected-hot before, own tests hot in 4 earlier weeks:
    # still "new" (the share is below 90 %), with the rise evidence as usual.
    corrected = np.zeros(T, dtype=np.int8)
    corrected[-1] = 3
    own = corrected.copy()
    own[[3, 9, 15, 20]] = 2
    g = np.stack([corrected, np.zeros(T, dtype=np.int8)])  # + a steady cell: the area's other reports
    counts = np.zeros((2, T))
    counts[0, [3, 9, 15, 20]], counts[0, -1], counts[1] = 1, 9, 3
    out = classify_emerging(g, _flat_mk(2), counts, share_class=np.stack([own, g[1]]))
    assert out["category"].iat[0] == "new_hot", out["reason"].iat[0]
    assert out["share_hot_weeks"].iat[0] == 5


def test_cold_share_mirrors_and_respects_the_mostly_zero_rule():
    corrected = _series("0-0-------------0---------")  # 22 of 26 cold after correction
    own = _series("--------------------------")
    busy = np.full((1, T), 6.0)
    out = classify_emerging(corrected[None, :], _flat_mk(1), busy, share_class=own[None, :])
    assert out["category"].iat[0] == "persistent_cold"
    empty = np.zeros((1, T))  # mostly zeros: cold weeks ignored on both counts
    out = classify_emerging(corrected[None, :], _flat_mk(1), empty, share_class=own[None, :])
    assert out["category"].iat[0] == "no_pattern"


def test_without_share_class_the_rules_are_arcgis():
    rng = np.random.default_rng(3)
    g = rng.choice(np.array([-2, 0, 0, 2, 3], dtype=np.int8), size=(200, T))
    counts = rng.poisson(2.0, size=(200, T)).astype(float)
    mk = mann_kendall(g.astype(float))
    a = classify_emerging(g, mk, counts)
    b = classify_emerging(g, mk, counts, share_class=g)
    assert (a["category"] == b["category"]).all() and (a["reason"] == b["reason"]).all()
    assert (a["share_hot_weeks"] == a["hot_weeks"]).all()


@pytest.mark.parametrize("bad, message", [
    (np.zeros((1, T - 1), dtype=np.int8), "share_class has shape"),
    (np.full((1, T), 4, dtype=np.int8), "share_class must hold whole numbers from -3 to 3"),
])
def test_share_class_is_validated(bad, message):
    g = np.zeros((1, T), dtype=np.int8)
    with pytest.raises(InvalidInputError, match=message):
        classify_emerging(g, _flat_mk(1), np.zeros((1, T)), share_class=bad)


# --------------------------------------------------------------------------- grids
@pytest.fixture(scope="module")
def hex_grid():
    centre = h3.latlng_to_cell(-33.87, 151.0, 9)
    cells = np.array(sorted(h3.str_to_int(h) for h in h3.grid_disk(centre, 30)), dtype=np.uint64)
    return centre, cells, grid.neighbour_matrix(cells, 1)


def _categories(counts, spatial, share: bool) -> np.ndarray:
    gi = gi_star(counts, spatial, 1)
    mk = mann_kendall(gi.z)
    out = classify_emerging(gi.gi_class, mk, counts, EmergingParams(), spatial=spatial,
                            share_class=gi.uncorrected_class if share else None)
    return out["category"].to_numpy(), gi


@pytest.mark.parametrize("mean", [0.02, 0.2, 1.5])
def test_null_grid_gets_no_share_category(hex_grid, mean):
    """Independent Poisson counts, no hot spot anywhere: no cell is persistent, intensifying,
    diminishing or historical (hot or cold), though about 5 % of bins pass their own test."""
    _, cells, spatial = hex_grid
    rng = np.random.default_rng(int(mean * 100))
    own_rate = []
    for _ in range(3):
        counts = rng.poisson(mean, size=(len(cells), T)).astype(float)
        cats, gi = _categories(counts, spatial, share=True)
        patterns = {c.rsplit("_", 1)[0] for c in cats}
        assert not patterns & SHARE_PATTERNS, sorted(set(cats))
        own_rate.append(float((gi.uncorrected_class >= 2).mean()))
    # the premise: each week's own hot test is calibrated (<= 2.5 % one-sided at class 2, plus MC error)
    assert max(own_rate) <= 0.03, own_rate


def _planted(hex_grid, rate: float, reps: int, seed: int):
    """Constant-rate sites (90 % of reports in the site cell, 10 % in its ring), >= 10 rings apart."""
    centre, cells, spatial = hex_grid
    pos = {int(c): i for i, c in enumerate(cells)}
    rng = np.random.default_rng(seed)
    sites: list[int] = []
    taken: set[int] = set()
    for i in rng.permutation(len(cells)):
        h = h3.int_to_str(int(cells[i]))
        if h3.grid_distance(h, centre) > 27 or any(h3.str_to_int(x) in taken for x in h3.grid_disk(h, 9)):
            continue
        sites.append(int(i))
        taken.add(int(cells[i]))
    rings = [[pos[h3.str_to_int(x)] for x in h3.grid_ring(h3.int_to_str(int(cells[i])), 1)] for i in sites]
    for _ in range(reps):
        counts = rng.poisson(0.03, size=(len(cells), T)).astype(float)
        for i, ring in zip(sites, rings):
            n = rng.poisson(rate, T)
            core = rng.binomial(n, 0.9)
            counts[i] += core
            for w in range(T):
                np.add.at(counts[:, w], np.array(ring)[rng.integers(0, 6, n[w] - core[w])], 1)
        yield counts, sites, spatial


def test_planted_persistent_sites_are_recovered_on_own_tests(hex_grid):
    """SYNTHETIC: sites at a steady 4 reports a week for 26 weeks. Counted on the corrected classes
    most come out sporadic; counted on each week's own test most come out persistent."""
    ok = {True: 0, False: 0}
    total = 0
    for counts, sites, spatial in _planted(hex_grid, rate=4.0, reps=3, seed=11):
        total += len(sites)
        for share in (True, False):
            cats, _ = _categories(counts, spatial, share)
            ok[share] += int(np.isin(cats[sites], ["persistent_hot", "intensifying_hot"]).sum())
    assert total >= 60
    own, corrected = ok[True] / total, ok[False] / total
    print(f"persistent or intensifying: own tests {own:.3f}, corrected classes {corrected:.3f} of {total}")
    assert own >= 0.8, (own, corrected)
    assert corrected <= 0.3, (own, corrected)
