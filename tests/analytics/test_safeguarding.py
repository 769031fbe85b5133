"""The safeguarding rules on hand-built cases (analytics.safeguarding).

A home at HOME; cells are H3 resolution 9 (~175 m edge). Young people are p*, homes h*; an
event with person_key None names no one.
"""

from __future__ import annotations

import h3
import numpy as np
import pandas as pd
import pytest

from analytics.errors import InvalidInputError
from analytics.safeguarding import (PLACEMENT_RADIUS_M, RULE_NEAR_PLACEMENT, RULE_REPEAT_MISSING, Approval,
                                    assess_cells, cell_circumradius_m, cells_near_placements, placement_radius,
                                    repeat_missing_cells)

HOME = (-33.8000, 151.0000)
M_PER_DEG_LAT = 111_195.0


def cell_at(lat: float, lon: float) -> int:
    return h3.str_to_int(h3.latlng_to_cell(lat, lon, 9))


HOME_CELL = cell_at(*HOME)
FAR_CELL = cell_at(HOME[0] + 0.02, HOME[1])  # ~2.2 km north
PLACEMENTS = pd.DataFrame({"placement_key": ["h1"], "lat": [HOME[0]], "lon": [HOME[1]], "radius_m": [300.0]})
LINKS = pd.DataFrame({"person_key": ["p1", "p2"], "placement_key": ["h1", "h1"]})


def events(*rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["cell", "person_key", "placement_key"])


def verdict(cells, ev, placements=PLACEMENTS, links=LINKS, scan=None) -> pd.DataFrame:
    return assess_cells(cells, ev, placements, links, scan).cells.set_index("cell")


def test_a_young_person_found_at_home_again_and_again_is_withheld():
    ev = events(*[(HOME_CELL, "p1", "h1")] * 20)
    v = verdict([HOME_CELL], ev).loc[HOME_CELL]
    assert v["withheld"] and v["rule"] == RULE_NEAR_PLACEMENT
    assert (v["sources"], v["near_placements"], v["min_unlinked_sources"]) == (1, 1, 0)


def test_one_or_two_young_people_far_from_any_home_are_repeat_missing():
    v = verdict([FAR_CELL], events((FAR_CELL, "p7", None), (FAR_CELL, "p8", None), (FAR_CELL, "p7", None)))
    assert v.loc[FAR_CELL, "withheld"] and v.loc[FAR_CELL, "rule"] == RULE_REPEAT_MISSING
    assert v.loc[FAR_CELL, "near_placements"] == 0


def test_three_sources_far_from_any_home_are_a_place():
    ev = events((FAR_CELL, "p7", None), (FAR_CELL, "p8", None), (FAR_CELL, None, None))
    decision = assess_cells([FAR_CELL], ev, PLACEMENTS, LINKS)
    assert not decision.cells["withheld"].any() and decision.approvals == ()


def test_near_a_home_three_unlinked_sources_are_needed_and_give_evidence():
    base = [(HOME_CELL, "p1", "h1")] * 10 + [(HOME_CELL, "p5", "h9"), (HOME_CELL, "p6", None)]
    assert verdict([HOME_CELL], events(*base)).loc[HOME_CELL, "withheld"]  # 2 unlinked: not enough
    ok = assess_cells([HOME_CELL], events(*base, (HOME_CELL, None, None)), PLACEMENTS, LINKS)  # + a report naming no one
    assert not ok.cells["withheld"].any()
    assert ok.approvals == (Approval(HOME_CELL, placements=1, min_unlinked_sources=3),)
    assert ok.approvals[0].is_sufficient() and not Approval(HOME_CELL, 1, 2).is_sufficient()


def test_linked_means_any_episode_of_the_young_person_names_the_placement():
    # p2 is linked to h1 by another episode (LINKS), though these events carry no placement
    ev = events((HOME_CELL, "p2", None), (HOME_CELL, "p5", None), (HOME_CELL, "p6", None))
    v = verdict([HOME_CELL], ev).loc[HOME_CELL]
    assert v["withheld"] and v["min_unlinked_sources"] == 2
    # an event naming h1 through its episode links its young person even when LINKS does not
    ev = events((HOME_CELL, "p5", "h1"), (HOME_CELL, "p6", None), (HOME_CELL, "p7", None))
    assert verdict([HOME_CELL], ev, links=LINKS.iloc[:0]).loc[HOME_CELL, "min_unlinked_sources"] == 2


def test_a_quiet_cell_next_to_a_home_is_withheld_a_quiet_cell_far_away_is_not():
    neighbour = [c for c in (h3.str_to_int(x) for x in h3.grid_ring(h3.int_to_str(HOME_CELL), 1))][0]
    v = verdict([neighbour, FAR_CELL], events())
    assert v.loc[neighbour, "withheld"] and v.loc[neighbour, "rule"] == RULE_NEAR_PLACEMENT
    assert not v.loc[FAR_CELL, "withheld"]


def test_every_placement_in_reach_must_be_satisfied():
    second = pd.DataFrame({"placement_key": ["h2"], "lat": [HOME[0] + 0.0005], "lon": [HOME[1]],
                           "radius_m": [300.0]})
    two = pd.concat([PLACEMENTS, second], ignore_index=True)
    links = pd.concat([LINKS, pd.DataFrame({"person_key": ["p5"], "placement_key": ["h2"]})])
    ev = events((HOME_CELL, "p5", "h2"), (HOME_CELL, "p6", None), (HOME_CELL, "p7", None), (HOME_CELL, None, None))
    assert not verdict([HOME_CELL], ev, PLACEMENTS, links).loc[HOME_CELL, "withheld"]  # h1 alone: 4 unlinked
    v = verdict([HOME_CELL], ev, two, links).loc[HOME_CELL]  # h2: p5 is linked -> 3 unlinked, still fine
    assert not v["withheld"] and v["near_placements"] == 2 and v["min_unlinked_sources"] == 3
    ev2 = ev[ev["person_key"] != "p7"]
    v = verdict([HOME_CELL], ev2, two, links).loc[HOME_CELL]  # h1: 3 unlinked, h2: 2 -> withheld
    assert v["withheld"] and v["min_unlinked_sources"] == 2


def test_scan_label_repeat_missing_withholds_unless_a_place_cluster_covers_the_cell():
    ev = events((FAR_CELL, "p7", None), (FAR_CELL, "p8", None), (FAR_CELL, None, None))
    scan = pd.DataFrame({"cells": [(FAR_CELL,)], "pattern": ["repeat_missing"]})
    assert repeat_missing_cells(scan) == {FAR_CELL}
    assert verdict([FAR_CELL], ev, scan=scan).loc[FAR_CELL, "rule"] == RULE_REPEAT_MISSING
    both = pd.concat([scan, pd.DataFrame({"cells": [(FAR_CELL,)], "pattern": ["place"]})], ignore_index=True)
    assert not verdict([FAR_CELL], ev, scan=both).loc[FAR_CELL, "withheld"]


def test_distance_is_to_the_hexagon_and_derived_placements_reach_further():
    inside = cells_near_placements([HOME_CELL], PLACEMENTS)
    assert inside["distance_m"].tolist() == [0.0]
    # the cells holding points 250 m and 700 m north of a known home: near (<= 250 m) and not (>= 700 m - circumradius)
    up = [cell_at(HOME[0] + d / M_PER_DEG_LAT, HOME[1]) for d in (250, 700)]
    near = cells_near_placements(up, PLACEMENTS)
    assert up[0] in set(near["cell"]) and up[1] not in set(near["cell"])
    r = placement_radius("derived", HOME_CELL)
    assert r == pytest.approx(PLACEMENT_RADIUS_M + cell_circumradius_m(HOME_CELL))
    assert 120 < cell_circumradius_m(HOME_CELL) < 260  # resolution 9: about the edge length (~175 m, varies)
    assert placement_radius("file") == PLACEMENT_RADIUS_M
    centre = h3.cell_to_latlng(h3.int_to_str(HOME_CELL))
    # a home anywhere in the derived cell: every cell within 300 m of it is within the derived radius
    derived = pd.DataFrame({"placement_key": ["d"], "lat": [centre[0]], "lon": [centre[1]], "radius_m": [r]})
    for lat, lon in h3.cell_to_boundary(h3.int_to_str(HOME_CELL)):
        home = pd.DataFrame({"placement_key": ["h"], "lat": [lat], "lon": [lon], "radius_m": [300.0]})
        ring = [h3.str_to_int(c) for c in h3.grid_disk(h3.int_to_str(HOME_CELL), 3)]
        assert set(cells_near_placements(ring, home)["cell"]) <= set(cells_near_placements(ring, derived)["cell"])


def test_bad_arguments_are_clear():
    with pytest.raises(InvalidInputError, match="min_sources"):
        assess_cells([HOME_CELL], events(), PLACEMENTS, LINKS, min_sources=0)
    with pytest.raises(InvalidInputError, match="person_key"):
        assess_cells([HOME_CELL], pd.DataFrame({"cell": [HOME_CELL]}), PLACEMENTS, LINKS)
    with pytest.raises(InvalidInputError, match="derived"):
        placement_radius("derived")


def test_no_placements_leaves_only_rule_a():
    ev = events((HOME_CELL, "p1", "h1"), (FAR_CELL, "p7", None), (FAR_CELL, "p8", None), (FAR_CELL, None, None))
    v = verdict([HOME_CELL, FAR_CELL], ev, placements=None)
    assert v.loc[HOME_CELL, "rule"] == RULE_REPEAT_MISSING and not v.loc[FAR_CELL, "withheld"]
    assert v["near_placements"].tolist() == [0, 0] and np.all(v["min_unlinked_sources"].isna())


def test_anonymous_found_or_care_provider_reports_near_a_home_are_not_independent():
    ev = pd.DataFrame({"cell": [HOME_CELL] * 13, "person_key": ["p1"] * 10 + [None] * 3,
                       "placement_key": ["h1"] * 10 + [None] * 3,
                       "kind": [None] * 10 + ["found", "sighting", "sighting"],
                       "source": [None] * 10 + ["police", "care_provider", "community"]})
    v = verdict([HOME_CELL], ev).loc[HOME_CELL]
    assert v["withheld"] and v["min_unlinked_sources"] == 1  # only the community sighting is independent
    far = ev.assign(cell=FAR_CELL)
    assert not verdict([FAR_CELL], far).loc[FAR_CELL, "withheld"]  # far from homes: 1 young person + 3 reports
