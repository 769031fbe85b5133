"""Rule (b)'s count computed with joins (analytics.safeguarding.unlinked_sources) equals the rule's plain
definition, applied pair by pair (the reference below), on random neighbourhoods of several homes."""

from __future__ import annotations

import h3
import numpy as np
import pandas as pd
import pytest

from analytics.safeguarding import HOME_ANONYMOUS, assess_cells, cells_near_placements, unlinked_sources

CENTRE = (-33.8000, 151.0000)


def reference_unlinked(ev: pd.DataFrame, cell: int, placement: str, links: pd.DataFrame) -> int:
    """Rule (b) by its definition, for one (cell, placement): sets and a loop, no joins."""
    sub = ev[ev["cell"] == np.uint64(cell)]
    linked = {p for p, h in zip(links["person_key"], links["placement_key"]) if h == placement}
    unnamed, people, here = 0, set(), set()
    for person, home, kind, source in zip(sub["person_key"], sub["placement_key"], sub["kind"], sub["source"]):
        if pd.isna(person):
            unnamed += not (kind in HOME_ANONYMOUS["kind"] or source in HOME_ANONYMOUS["source"])
        else:
            people.add(person)
            if home == placement:
                here.add(person)
    return unnamed + len(people - linked - here)


def _world(seed: int):
    rng = np.random.default_rng(seed)
    homes = [f"h{i}" for i in range(6)]
    placements = pd.DataFrame({"placement_key": homes,
                               "lat": CENTRE[0] + rng.normal(0, 0.004, len(homes)),
                               "lon": CENTRE[1] + rng.normal(0, 0.004, len(homes)),
                               "radius_m": rng.choice([300.0, 450.0], len(homes))})
    cells = np.unique([h3.str_to_int(h3.latlng_to_cell(CENTRE[0] + dy, CENTRE[1] + dx, 9))
                       for dy, dx in rng.normal(0, 0.005, (60, 2))]).astype(np.uint64)
    n = 600
    person = rng.choice([f"p{i}" for i in range(25)] + [None] * 8, n)
    ev = pd.DataFrame({"cell": rng.choice(cells, n).astype(np.uint64), "person_key": person,
                       "placement_key": rng.choice(homes + [None] * 3, n),
                       "kind": rng.choice(["sighting", "found", None], n),
                       "source": rng.choice(["police", "care_provider", "community", None], n)})
    links = pd.DataFrame({"person_key": rng.choice([f"p{i}" for i in range(25)], 20),
                          "placement_key": rng.choice(homes, 20)})
    return cells, ev, placements, links


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_joins_equal_the_rule_pair_by_pair(seed):
    cells, ev, placements, links = _world(seed)
    near = cells_near_placements(cells, placements)
    assert len(near) > 10 and near["cell"].nunique() < len(near)  # several homes in reach of some cells
    got = unlinked_sources(ev, near, links)
    want = [reference_unlinked(ev, c, p, links) for c, p in zip(got["cell"], got["placement_key"])]
    assert len(got) == len(near.drop_duplicates(["cell", "placement_key"]))
    assert got["unlinked"].tolist() == want
    assert len(set(want)) > 2  # the cases differ


@pytest.mark.parametrize("seed", [0, 1])
def test_assess_cells_takes_the_fewest_unlinked_sources_over_homes_in_reach(seed):
    cells, ev, placements, links = _world(seed)
    out = assess_cells(cells, ev, placements, links).cells.set_index("cell")
    near = cells_near_placements(cells, placements)
    for cell in cells:
        homes = near.loc[near["cell"] == cell, "placement_key"].tolist()
        got = out.loc[cell, "min_unlinked_sources"]
        if not homes:
            assert pd.isna(got) and out.loc[cell, "near_placements"] == 0
        else:
            assert got == min(reference_unlinked(ev, cell, h, links) for h in homes)
            assert out.loc[cell, "near_placements"] == len(homes)


def test_no_links_and_no_events_in_reach():
    cells, ev, placements, _ = _world(4)
    near = cells_near_placements(cells, placements)
    empty_links = pd.DataFrame({"person_key": [], "placement_key": []})  # float64 columns when empty
    got = unlinked_sources(ev.iloc[:0], near, empty_links)
    assert len(got) and (got["unlinked"] == 0).all()
    got = unlinked_sources(ev, near, empty_links)
    assert got["unlinked"].tolist() == [reference_unlinked(ev, c, p, empty_links)
                                        for c, p in zip(got["cell"], got["placement_key"])]


def test_cells_near_placements_equals_the_distance_pair_by_pair():
    """The batched distances are the single-pair function's, bit for bit, for every pair in reach."""
    from analytics.safeguarding import _point_polygon_distance, _xy, cell_circumradius_m
    cells, _, placements, _ = _world(5)
    pentagon = np.uint64(h3.str_to_int(h3.get_pentagons(9)[0]))  # five vertices: a padded ring
    pent_lat, pent_lon = h3.cell_to_latlng(h3.int_to_str(int(pentagon)))
    placements = pd.concat([placements, pd.DataFrame({"placement_key": ["hp"], "lat": [pent_lat + 0.001],
                                                      "lon": [pent_lon], "radius_m": [300.0]})], ignore_index=True)
    cells = np.append(cells, pentagon)
    got = cells_near_placements(cells, placements)
    lat0 = float(np.median(placements["lat"]))
    want = []
    for c in np.unique(cells):
        ring = np.array(h3.cell_to_boundary(h3.int_to_str(int(c))))
        ring_xy = _xy(ring[:, 0], ring[:, 1], lat0)
        cxy = _xy(*np.array([h3.cell_to_latlng(h3.int_to_str(int(c)))]).T, lat0)[0]
        for key, lat, lon, r in placements[["placement_key", "lat", "lon", "radius_m"]].itertuples(index=False):
            pxy = _xy(np.array([lat]), np.array([lon]), lat0)[0]
            if np.hypot(*(pxy - cxy)) > r + cell_circumradius_m(c) + 1.0:
                continue
            d = _point_polygon_distance(pxy, ring_xy)
            if d <= r:
                want.append((int(c), key, d))
    assert sorted(zip(got["cell"].astype(int), got["placement_key"], got["distance_m"])) == sorted(want)
    assert "hp" in set(got["placement_key"]) and (got["distance_m"] == 0).sum() >= 1
