"""One definition of "what changed since last week" (analytics.week_change).

The bug this guards against (issue 16): the report's red card said "109 new since last week" and
listed cells that were all *sporadic* while the *new* category count was 0 — "new" meant "hot now,
not hot last week" on the card and "category new_hot" everywhere else.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analytics.week_change import HOT_NOW, became_hot_by_category, category_counts, week_changes


def _frames(now: list[str], before: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    cells = [f"c{i:02d}" for i in range(len(now))]
    hot = pd.DataFrame({"cell": cells, "category": now, "z": np.linspace(5, 0, len(now))})
    prev = pd.DataFrame({"cell": cells, "category": before})
    return hot, prev


def test_sporadic_cells_that_became_hot_are_not_counted_as_new():
    hot, prev = _frames(["sporadic_hot"] * 5 + ["no_pattern"] * 3, ["no_pattern"] * 8)
    ch = week_changes(hot, prev)
    assert ch["new"] == [] and len(ch["new"]) == int((hot["category"] == "new_hot").sum())
    assert ch["became_hot"] == [f"c{i:02d}" for i in range(5)]
    assert became_hot_by_category(hot, ch) == {"sporadic_hot": 5}


def test_new_equals_the_new_category_and_is_part_of_became_hot():
    # c02 is new_hot although last week's run called it hot (the two windows' corrections differ):
    # it still counts once, as new and became hot, never as continuing
    hot, prev = _frames(["new_hot", "sporadic_hot", "new_hot", "persistent_hot", "no_pattern", "historical_hot"],
                        ["no_pattern", "no_pattern", "sporadic_hot", "persistent_hot", "sporadic_hot",
                         "persistent_hot"])
    ch = week_changes(hot, prev)
    assert ch["new"] == ["c00", "c02"]
    assert set(ch["new"]) <= set(ch["became_hot"]) and ch["became_hot"] == ["c00", "c01", "c02"]
    assert ch["continuing"] == ["c03"]
    assert ch["ended"] == ["c04", "c05"]  # historical_hot is not hot this week


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_partition_of_this_weeks_hot_spots(seed):
    rng = np.random.default_rng(seed)
    cats = list(HOT_NOW) + ["historical_hot", "no_pattern", "sporadic_cold"]
    hot, prev = _frames(list(rng.choice(cats, 60)), list(rng.choice(cats, 60)))
    ch = week_changes(hot, prev)
    hot_now = set(hot.loc[hot["category"].isin(HOT_NOW), "cell"])
    assert set(ch["became_hot"]) | set(ch["continuing"]) == hot_now
    assert not set(ch["became_hot"]) & set(ch["continuing"])
    assert len(ch["new"]) == category_counts(hot["category"])["new_hot"]
    assert set(ch["intensifying"]) == set(hot.loc[hot["category"] == "intensifying_hot", "cell"])
    was_hot = set(prev.loc[prev["category"].isin(HOT_NOW), "cell"])
    assert set(ch["ended"]) == was_hot - hot_now
    assert sum(became_hot_by_category(hot, ch).values()) == len(ch["became_hot"])


def test_lists_are_strongest_first():
    hot = pd.DataFrame({"cell": ["a", "b", "c"], "category": ["sporadic_hot"] * 3, "z": [1.0, 3.0, 2.0]})
    assert week_changes(hot, hot.iloc[:0][["cell", "category"]])["became_hot"] == ["b", "c", "a"]
