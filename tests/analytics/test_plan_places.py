"""Plan entries are places: analytics.plan_places.group_places (issue 14 item 2)."""

from __future__ import annotations

import h3
import numpy as np
import pandas as pd
import pytest

from analytics.errors import InvalidInputError
from analytics.plan_places import MAX_PLACE_CELLS, PLACE_COLUMNS, group_places

CENTRE = h3.latlng_to_cell(39.7392, -104.9903, 9)


def _int(hx: str) -> int:
    return h3.str_to_int(hx)


def _connected(cells) -> bool:
    cells = [h3.int_to_str(int(c)) for c in cells]
    seen, todo = {cells[0]}, [cells[0]]
    while todo:
        c = todo.pop()
        for nb in h3.grid_ring(c, 1):
            if nb in cells and nb not in seen:
                seen.add(nb)
                todo.append(nb)
    return len(seen) == len(cells)


def _random_scores(seed: int = 0, k: int = 8) -> pd.Series:
    """Every cell within ``k`` rings of the centre, heavy-tailed scores with a few busy clusters."""
    disk = sorted(h3.grid_disk(CENTRE, k))
    rng = np.random.default_rng(seed)
    base = rng.gamma(0.3, 0.2, len(disk))
    for hub in rng.choice(len(disk), 6, replace=False):
        for nb in h3.grid_disk(disk[hub], 1):
            if nb in disk:
                base[disk.index(nb)] += rng.uniform(1, 4)
    return pd.Series(base, index=np.array([_int(c) for c in disk], dtype=np.uint64))


def test_venue_and_its_ring_is_one_entry_and_ten_entries_are_distinct_places():
    # one venue: a centre cell and its six ring cells all busy; far cells less so
    scores = {_int(CENTRE): 10.0, **{_int(c): 8.0 for c in h3.grid_ring(CENTRE, 1)}}
    far = sorted(h3.grid_ring(CENTRE, 6))[::4][:12]
    scores.update({_int(c): 1.0 + i / 100 for i, c in enumerate(far)})
    out = group_places(pd.Series(scores), n=10)
    assert list(out.columns) == PLACE_COLUMNS
    assert len(out) == 10
    first = out.iloc[0]
    assert first["seed"] == _int(CENTRE) and first["n_cells"] == 7
    assert set(int(c) for c in first["cells"]) == set(_int(c) for c in h3.grid_disk(CENTRE, 1))
    assert first["expected"] == pytest.approx(10 + 6 * 8)
    flat = [int(c) for cs in out["cells"] for c in cs]
    assert len(flat) == len(set(flat))  # no cell in two entries
    assert out["entry"].tolist() == list(range(1, 11))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_entries_are_small_connected_disjoint_and_ordered(seed):
    scores = _random_scores(seed)
    out = group_places(scores, n=10)
    assert 1 <= len(out) <= 10
    flat = [int(c) for cs in out["cells"] for c in cs]
    assert len(flat) == len(set(flat))
    for cs, n_cells, exp, seed_cell in zip(out["cells"], out["n_cells"], out["expected"], out["seed"]):
        assert 1 <= len(cs) == n_cells <= MAX_PLACE_CELLS
        assert _connected(cs)
        assert int(cs[0]) == int(seed_cell)
        assert exp == pytest.approx(scores.loc[list(np.asarray(cs, dtype=np.uint64))].sum())
        assert scores.loc[np.uint64(seed_cell)] == max(scores.loc[list(np.asarray(cs, dtype=np.uint64))])
    assert (np.diff(out["expected"].to_numpy()) <= 1e-12).all()
    # the best cell overall always seeds an entry
    assert int(scores.idxmax()) in {int(s) for s in out["seed"]}


def test_withheld_cells_are_never_in_an_entry_nor_grown_through():
    ring = sorted(h3.grid_ring(CENTRE, 1))
    scores = pd.Series({_int(CENTRE): 9.0, **{_int(c): 6.0 for c in ring}})
    # a cell outside the ring, reachable from the centre's entry only through ring[0]
    beyond = next(c for c in h3.grid_ring(CENTRE, 2) if ring[0] in h3.grid_ring(c, 1)
                  and not any(r in h3.grid_ring(c, 1) for r in ring[1:]))
    scores[_int(beyond)] = 7.0
    withheld = [_int(CENTRE), _int(ring[0])]
    out = group_places(scores, withheld=withheld, n=10)
    flat = {int(c) for cs in out["cells"] for c in cs}
    assert not flat & set(withheld)
    assert _int(beyond) in flat
    for cs in out["cells"]:
        assert _connected(cs)
    # the cell beyond the withheld one is not joined to the ring's entry (only via the withheld cell)
    entry_of_beyond = next(cs for cs in out["cells"] if _int(beyond) in {int(c) for c in cs})
    assert {int(c) for c in entry_of_beyond} == {_int(beyond)}
    # hex strings are accepted for withheld cells too
    again = group_places(scores, withheld=[CENTRE, ring[0]], n=10)
    assert [tuple(map(int, cs)) for cs in again["cells"]] == [tuple(map(int, cs)) for cs in out["cells"]]


def test_quiet_neighbours_do_not_join_and_zero_cells_are_never_planned():
    ring = sorted(h3.grid_ring(CENTRE, 1))
    scores = pd.Series({_int(CENTRE): 10.0, _int(ring[0]): 4.9, _int(ring[1]): 5.0, _int(ring[2]): 0.0})
    out = group_places(scores, n=1)
    assert [set(map(int, cs)) for cs in out["cells"]] == [{_int(CENTRE), _int(ring[1])}]
    out = group_places(scores, n=5, join_share=0.4)
    assert len(out) == 1 and out["n_cells"].iloc[0] == 3
    assert _int(ring[2]) not in {int(c) for cs in out["cells"] for c in cs}


def test_forecast_frame_and_hex_input_agree():
    scores = _random_scores(3)
    frame = pd.DataFrame({"cell": scores.index.to_numpy(dtype=np.uint64), "expected": scores.to_numpy(),
                          "expected_low": 0.0, "expected_high": 1.0})
    hexed = pd.Series(scores.to_numpy(), index=[h3.int_to_str(int(c)) for c in scores.index])
    a, b, c = group_places(scores), group_places(frame), group_places(hexed)
    for other in (b, c):
        assert [tuple(map(int, x)) for x in other["cells"]] == [tuple(map(int, x)) for x in a["cells"]]
    assert a["seed"].dtype == np.uint64


def test_max_cells_caps_an_entry_and_empty_input_gives_no_entry():
    scores = _random_scores(4)
    out = group_places(scores, n=10, max_cells=3)
    assert out["n_cells"].max() <= 3
    empty = group_places(pd.Series([], dtype=float), n=10)
    assert list(empty.columns) == PLACE_COLUMNS and len(empty) == 0
    zeros = group_places(pd.Series(0.0, index=scores.index), n=10)
    assert len(zeros) == 0


@pytest.mark.parametrize("kwargs", [{"n": 0}, {"max_cells": 8}, {"max_cells": 0}, {"join_share": 0.0},
                                    {"join_share": 1.5}, {"n": True}])
def test_bad_parameters_are_refused(kwargs):
    with pytest.raises(InvalidInputError):
        group_places(_random_scores(5), **kwargs)


def test_bad_scores_are_refused():
    with pytest.raises(InvalidInputError, match="finite"):
        group_places(pd.Series([1.0, -1.0], index=[_int(CENTRE), _int(sorted(h3.grid_ring(CENTRE, 1))[0])]))
    with pytest.raises(InvalidInputError, match="lacks"):
        group_places(pd.DataFrame({"cell": [_int(CENTRE)]}))
    with pytest.raises(InvalidInputError, match="valid H3"):
        group_places(pd.Series([1.0], index=["not-a-cell"]))
