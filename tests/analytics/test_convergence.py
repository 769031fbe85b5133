"""Tests for convergence of young people from different placements (METHODS §7)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analytics.convergence import CONVERGENCE_COLUMNS, find_cluster_convergence, find_convergence
from analytics.errors import InvalidInputError

CELL_A = np.uint64(0x89BE0E35C0BFFFF)
CELL_B = np.uint64(0x89BE0E35C1BFFFF)


def events(rows):
    df = pd.DataFrame(rows, columns=["cell", "week_index", "person_key", "placement_key"])
    df["cell"] = df["cell"].astype(np.uint64)
    return df


def test_three_young_people_two_placements_within_eight_weeks_is_flagged():
    ev = events([
        (CELL_A, 10, "yp1", "P1"),
        (CELL_A, 13, "yp2", "P1"),
        (CELL_A, 17, "yp3", "P2"),
        (CELL_A, 17, "yp3", "P2"),   # repeat sighting: counted once
    ])
    out = find_convergence(ev)
    assert list(out.columns) == CONVERGENCE_COLUMNS
    assert len(out) == 1
    row = out.iloc[0]
    assert row["cell"] == CELL_A and out["cell"].dtype == np.uint64
    assert (row["n_young_people"], row["n_placements"], row["n_events"]) == (3, 2, 4)
    assert row["score"] == 6
    assert (row["first_week"], row["last_week"], row["rank"]) == (10, 17, 1)


def test_three_young_people_from_one_placement_is_not_flagged():
    ev = events([(CELL_A, 10, "yp1", "P1"), (CELL_A, 12, "yp2", "P1"), (CELL_A, 14, "yp3", "P1")])
    assert find_convergence(ev).empty


def test_spread_over_ten_weeks_is_not_flagged():
    ev = events([(CELL_A, 1, "yp1", "P1"), (CELL_A, 5, "yp2", "P2"), (CELL_A, 10, "yp3", "P2")])
    assert find_convergence(ev, window_weeks=8).empty
    assert len(find_convergence(ev, window_weeks=10)) == 1


def test_end_week_selects_the_window():
    ev = events([
        (CELL_A, 1, "yp1", "P1"), (CELL_A, 2, "yp2", "P2"), (CELL_A, 3, "yp3", "P2"),
        (CELL_B, 20, "yp4", "P3"),
    ])
    assert find_convergence(ev).empty                    # default end week 20: A's events too old
    out = find_convergence(ev, end_week=8)
    assert out["cell"].tolist() == [CELL_A]
    assert find_convergence(ev, end_week=2).empty        # week 3 is after the window


def test_ranking_and_missing_placements():
    ev = events([
        (CELL_A, 5, "yp1", "P1"), (CELL_A, 5, "yp2", "P2"), (CELL_A, 5, "yp3", None),
        (CELL_B, 5, "yp1", "P1"), (CELL_B, 5, "yp4", "P2"), (CELL_B, 5, "yp5", "P3"), (CELL_B, 6, "yp6", "P4"),
        (CELL_B, 6, None, "P5"),   # no person key: ignored entirely
    ])
    out = find_convergence(ev)
    assert out["cell"].tolist() == [CELL_B, CELL_A]
    assert out["score"].tolist() == [16, 6]
    assert out["n_placements"].tolist() == [4, 2]    # unknown placement is not a second placement
    assert out["rank"].tolist() == [1, 2]


def test_no_person_keys_in_output():
    ev = events([(CELL_A, 1, "secret-1", "home-1"), (CELL_A, 1, "secret-2", "home-2"),
                 (CELL_A, 1, "secret-3", "home-2")])
    out = find_convergence(ev)
    text = out.to_csv()
    assert "secret" not in text and "home" not in text
    assert not {"person_key", "placement_key"} & set(out.columns)


def test_empty_and_invalid_inputs():
    empty = find_convergence(events([]))
    assert empty.empty and list(empty.columns) == CONVERGENCE_COLUMNS
    with pytest.raises(InvalidInputError, match="placement_key"):
        find_convergence(pd.DataFrame({"cell": [1], "week_index": [1], "person_key": ["a"]}))
    with pytest.raises(InvalidInputError, match="window_weeks"):
        find_convergence(events([]), window_weeks=0)


def test_cluster_variant():
    ev = pd.DataFrame({
        "label": [0, 0, 0, 1, 1, 1, -1, -1, -1],
        "week_index": [1, 2, 30, 5, 5, 5, 5, 5, 5],
        "person_key": ["a", "b", "c", "d", "e", "f", "g", "h", "i"],
        "placement_key": ["P1", "P2", "P3", "P1", "P1", "P1", "P1", "P2", "P3"],
    })
    out = find_cluster_convergence(ev)
    assert out["label"].tolist() == [0]          # noise (-1) ignored; cluster 1 has one placement
    assert out.loc[0, "score"] == 9
    assert find_cluster_convergence(ev, window_weeks=8).empty   # default end week 30 cuts cluster 0
