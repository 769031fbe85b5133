"""Time bins for sparse data (analytics.bins) and the engine's use of them (issue 14, item 4)."""

from __future__ import annotations

from datetime import date, timedelta

import h3
import numpy as np
import pytest

from analytics import grid
from analytics.bins import (AUTO, BIN_WEEKS, aggregate_bins, check_bin_weeks, choose_bin_weeks, name_bins)
from analytics.errors import InvalidInputError
from analytics.engine import HotspotParams, analyse_statistics, choose_bins

WEEKS = [date(2025, 1, 6) + timedelta(weeks=i) for i in range(26)]
CENTRE = h3.str_to_int(h3.latlng_to_cell(-33.87, 151.207, 9))


def _area(rings: int = 8) -> np.ndarray:
    return np.sort(grid.grid_disk_cells(np.array([CENTRE], dtype=np.uint64), rings))


def _sparse_with_chronic_cell(seed: int = 3, background: int = 40) -> tuple[np.ndarray, np.ndarray, int]:
    """A study area where events are rare (``background`` scattered over 26 weeks) except one chronic
    cell with 24 events in 26 weeks (Poisson-like: some weeks 0, some 2)."""
    rng = np.random.default_rng(seed)
    cells = _area()
    counts = np.zeros((len(cells), len(WEEKS)), dtype=np.int64)
    np.add.at(counts, (rng.integers(0, len(cells), background), rng.integers(0, len(WEEKS), background)), 1)
    chronic = int(np.searchsorted(cells, CENTRE))
    counts[chronic] = 0
    np.add.at(counts[chronic], rng.integers(0, len(WEEKS), 24), 1)
    assert counts[chronic].sum() == 24 and (counts[chronic] == 0).sum() >= 3  # gaps, as real data has
    return counts, cells, chronic


def test_bins_sum_weeks_ending_at_the_analysed_week():
    counts = np.arange(2 * 26).reshape(2, 26)
    b = aggregate_bins(counts, WEEKS, 4)
    assert b.counts.shape == (2, 6) and b.dropped_weeks == 2
    assert b.counts[:, -1].tolist() == counts[:, -4:].sum(axis=1).tolist()  # the last bin ends at the last week
    assert b.counts.sum() == counts[:, 2:].sum()
    assert b.starts[-1] == WEEKS[-4] and b.starts[0] == WEEKS[2]
    exposure = np.ones((2, 26))
    assert aggregate_bins(counts, WEEKS, 2, exposure).exposure.tolist() == [[2.0] * 13] * 2
    assert aggregate_bins(counts, WEEKS, 1).counts is counts


def test_bin_weeks_values_are_checked():
    assert check_bin_weeks("auto") == AUTO and check_bin_weeks("2") == 2 and check_bin_weeks(4) == 4
    for bad in (3, 0, "weekly", True, 2.5):
        with pytest.raises(InvalidInputError, match="bin_weeks"):
            check_bin_weeks(bad)
    with pytest.raises(InvalidInputError, match="at least 5"):
        HotspotParams(bin_weeks=4, weeks_back=19)  # 4 bins: no Mann-Kendall trend can be significant
    assert HotspotParams(bin_weeks=4, weeks_back=26).bin_weeks == 4
    assert HotspotParams(bin_weeks="2").bin_weeks == 2


def test_auto_widens_the_bins_when_counts_are_sparse():
    counts, cells, _ = _sparse_with_chronic_cell()
    choice = choose_bin_weeks(counts, cells)
    assert choice.auto and choice.bin_weeks > 1
    assert choice.power_by_width[1] < 0.9  # why: weekly bins leave the busiest cells hot in < 90 % of bins
    assert choice.allowed == BIN_WEEKS  # 26 weeks leave 26, 13 and 6 bins


def test_auto_keeps_weekly_bins_when_the_busy_places_are_dense():
    rng = np.random.default_rng(0)
    cells = _area(12)
    counts = rng.poisson(0.05, (len(cells), len(WEEKS)))
    busy = rng.choice(len(cells), 12, replace=False)  # more busy places than the rule's 10 reference cells
    counts[busy] += rng.poisson(8.0, (len(busy), len(WEEKS)))
    choice = choose_bin_weeks(counts, cells)
    assert choice.bin_weeks == 1 and not choice.thin and choice.power_by_width[1] >= 0.9


def test_a_chronic_cell_in_sparse_data_is_a_hot_spot_under_the_auto_rule():
    counts, cells, chronic = _sparse_with_chronic_cell()
    auto = analyse_statistics(counts, cells, None, HotspotParams(scan_replicates=0))
    category = auto.emerging["category"].iat[chronic]
    assert auto.bins.bin_weeks > 1 and category.endswith("_hot"), (category, auto.emerging["reason"].iat[chronic])
    assert "four-week period" in auto.emerging["reason"].iat[chronic]  # reasons count bins, not weeks
    assert auto.counts.shape[1] == 26 // auto.bins.bin_weeks
    assert auto.counts[chronic].sum() == counts[chronic, auto.dropped_weeks:].sum()


def test_an_explicit_bin_width_is_kept():
    counts, cells, _ = _sparse_with_chronic_cell()
    for width in (1, 2):
        params = HotspotParams(bin_weeks=width, scan_replicates=0)
        choice = choose_bins(counts, cells, params)
        assert choice.bin_weeks == width and not choice.auto
        assert analyse_statistics(counts, cells, None, params).gi.z.shape[1] == 26 // width


def test_reasons_name_the_bins():
    assert name_bins("hot in 3 of the last 3 weeks; each week's own test", 4) == \
        "hot in 3 of the last 3 four-week periods; each four-week period's own test"
    assert name_bins("hot in 3 of 26 weeks", 1) == "hot in 3 of 26 weeks"
