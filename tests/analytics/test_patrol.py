"""Patrol plan: ranking, time windows, dose, plan table and GeoJSON (METHODS §8)."""

from __future__ import annotations

import dataclasses
import json

import h3
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from analytics.errors import InvalidInputError
from analytics.patrol import (
    PLAN_COLUMNS,
    PatrolParams,
    dose_guidance,
    format_window,
    patrol_plan,
    plan_geojson,
    rank_cells,
    time_windows,
)

FRI = 4  # Monday = 0


def _cells(n: int) -> np.ndarray:
    centre = h3.latlng_to_cell(-33.8688, 151.2093, 9)
    return np.array([h3.str_to_int(c) for c in sorted(h3.grid_disk(centre, 2))[:n]], dtype=np.uint64)


@pytest.fixture()
def hand_frame() -> pd.DataFrame:
    """Five cells whose scores are worked out by hand in test_rank_known_values."""
    a, b, c, d, e = _cells(5)
    return pd.DataFrame({
        "cell": [a, b, c, d, e],
        "category": ["intensifying_hot", "new_hot", "no_pattern", "persistent_cold", "historical_hot"],
        "count": [5, 2, 9, 0, 1],
        "expected": [3.0, 2.0, 1.0, 1.0, 0.5],
        "z": [3.0, 2.5, 1.0, -2.0, 0.5],
        "convergence_score": [0.0, 6.0, 0.0, 0.0, 3.0],
        "harm_events": [1, 0, 0, 0, 0],
    })


def test_rank_known_values(hand_frame):
    # excess max(O-E,0) = 2, 0, 8, 0, 0.5 -> /8; convergence /6; harm /1; category weights 1.0, .8, 0, 0, .2
    # scores: A 1+.25+0+1 = 2.25, B .8+0+1+0 = 1.8, C 0+1 = 1.0, D 0 (not planned), E .2+.0625+.5 = .7625
    out = rank_cells(hand_frame, PatrolParams())
    cells = hand_frame["cell"].to_numpy()
    assert out["cell"].tolist() == [cells[0], cells[1], cells[2], cells[4]]
    assert_allclose(out["score"], [2.25, 1.8, 1.0, 0.7625], rtol=1e-12)
    assert out["rank"].tolist() == [1, 2, 3, 4]
    # band = min(ceil(r*3/4), r)
    assert out["priority"].tolist() == [1, 2, 3, 3]
    assert_allclose(out["s_excess"], [0.25, 0.0, 1.0, 0.0625])
    assert not {"count", "expected", "harm_events", "convergence_score"} & set(out.columns)


def test_rank_weights_change_order(hand_frame):
    out = rank_cells(hand_frame, PatrolParams(w_harm=0.0))
    assert out["cell"].iloc[0] == hand_frame["cell"].iloc[1]  # B 1.8 beats A 1.25
    assert_allclose(out["score"].iloc[:2], [1.8, 1.25])


def test_rank_budget_bands_and_ties():
    cells = _cells(12)
    hs = pd.DataFrame({"cell": cells, "category": ["persistent_hot"] * 12, "count": 0, "expected": 0.0,
                       "z": np.arange(12, dtype=float)})
    out = rank_cells(hs, PatrolParams(n_cells=10))
    assert len(out) == 10
    assert out["cell"].tolist() == cells[::-1][:10].tolist()  # equal scores: higher z first
    assert out["priority"].tolist() == [1, 1, 1, 2, 2, 2, 3, 3, 3, 3]
    two = rank_cells(hs, PatrolParams(n_cells=2))
    assert two["priority"].tolist() == [1, 2]
    everything = rank_cells(hs, PatrolParams(n_cells=2), all_cells=True)
    assert len(everything) == 12 and everything["selected"].sum() == 2
    assert everything["priority"].isna().sum() == 10


def test_rank_rejects_bad_input(hand_frame):
    with pytest.raises(InvalidInputError, match="expected"):
        rank_cells(hand_frame.drop(columns="expected"))
    with pytest.raises(InvalidInputError, match="unknown category"):
        rank_cells(hand_frame.assign(category="very_hot"))
    with pytest.raises(InvalidInputError, match="one row per cell"):
        rank_cells(pd.concat([hand_frame, hand_frame.iloc[:1]]))


def test_time_window_friday_night():
    how = [FRI * 24 + 22] * 5 + [FRI * 24 + 23] * 4 + [2 * 24 + 9]  # Fri 22:00-23:59, one Wed 09:xx
    ev = pd.DataFrame({"cell": np.uint64(7), "hour_of_week": how})
    out = time_windows(ev, [7], PatrolParams())
    assert out["windows"].iloc[0][0] == "Fri 22:00–24:00"
    assert out["window_starts"].iloc[0][0] == FRI * 24 + 22
    assert out["profile"].iloc[0] == "cell"
    a, b = out["window_starts"].iloc[0]
    assert min((a - b) % 168, (b - a) % 168) >= 2  # non-overlapping


def test_time_window_from_timestamps_and_time_zone():
    # 2025-03-07 is a Friday; Sydney is UTC+11 in March.
    naive = pd.DataFrame({"cell": [7, 7, 7], "observed_at": pd.to_datetime(
        ["2025-03-07 22:15", "2025-03-07 23:40", "2025-03-14 22:05"])})
    assert time_windows(naive, [7], PatrolParams(n_windows=1))["windows"].iloc[0] == ["Fri 22:00–24:00"]
    aware = pd.DataFrame({"cell": [7, 7], "timestamp": pd.to_datetime(
        ["2025-03-07T11:30:00Z", "2025-03-07T12:10:00Z"])})
    out = time_windows(aware, [7], PatrolParams(n_windows=1), tz="Australia/Sydney")
    assert out["windows"].iloc[0] == ["Fri 22:00–24:00"]


def test_time_window_wraps_sunday_to_monday():
    ev = pd.DataFrame({"cell": 9, "hour_of_week": [167, 167, 167, 0, 0, 0, 80]})
    out = time_windows(ev, [9], PatrolParams(n_windows=1))
    assert out["window_starts"].iloc[0] == [167]
    assert out["windows"].iloc[0] == ["Sun 23:00–Mon 01:00"]


def test_time_window_fallbacks_and_smoothing():
    ev = pd.DataFrame({"cell": [1, 1], "hour_of_week": [10, 11]})
    out = time_windows(ev, [1, 2], PatrolParams(n_windows=1), smoothing=0)
    assert out["profile"].tolist() == ["cell", "study_area"]
    assert out["windows"].tolist() == [["Mon 10:00–12:00"], ["Mon 10:00–12:00"]]
    none = time_windows(pd.DataFrame({"cell": [], "hour_of_week": []}), [1], PatrolParams())
    assert none["windows"].iloc[0] == [] and none["profile"].iloc[0] == "none"
    with pytest.raises(InvalidInputError, match="0..167"):
        time_windows(pd.DataFrame({"cell": [1], "hour_of_week": [168]}), [1])
    with pytest.raises(InvalidInputError, match="hour-of-week"):
        time_windows(pd.DataFrame({"cell": [1], "when": [3]}), [1])


@pytest.mark.parametrize("start,hours,text", [
    (FRI * 24 + 22, 2, "Fri 22:00–24:00"),
    (167, 2, "Sun 23:00–Mon 01:00"),
    (1 * 24 + 9, 2, "Tue 09:00–11:00"),
    (166, 2, "Sun 22:00–24:00"),
])
def test_format_window(start, hours, text):
    assert format_window(start, hours) == text


def test_dose_guidance():
    text = dose_guidance(PatrolParams())
    assert "10–15 minutes" in text and "every 2 hours" in text and "irregular" in text
    assert "every 90 minutes" in dose_guidance(PatrolParams(revisit_minutes=90))


@pytest.mark.parametrize("kwargs,match", [
    ({"n_cells": 0}, "n_cells"),
    ({"n_cells": True}, "n_cells"),
    ({"n_cells": 2.5}, "n_cells"),
    ({"window_hours": 0}, "window_hours"),
    ({"window_hours": 25}, "window_hours"),
    ({"n_windows": 100, "window_hours": 2}, "168"),
    ({"visit_minutes": (15, 10)}, "visit_minutes"),
    ({"visit_minutes": (10,)}, "visit_minutes"),
    ({"revisit_minutes": -5}, "revisit_minutes"),
    ({"w_excess": -1.0}, "weights"),
    ({"w_category": 0, "w_excess": 0, "w_convergence": 0, "w_harm": 0}, "at least one"),
    ({"smoothing_hours": float("nan")}, "smoothing_hours"),
    ({"category_weights": {"scorching_hot": 1.0}}, "unknown categories"),
    ({"category_weights": {"new_hot": 2.0}}, r"\[0, 1\]"),
])
def test_params_validation(kwargs, match):
    with pytest.raises(InvalidInputError, match=match):
        PatrolParams(**kwargs)


def test_params_frozen_and_hashable():
    p = PatrolParams(category_weights={"new_hot": 1.0})
    assert hash(p) == hash(PatrolParams(category_weights={"new_hot": 1.0}))
    assert p.category_weight_map["new_hot"] == 1.0 and p.category_weight_map["persistent_hot"] == 0.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.n_cells = 3  # type: ignore[misc]


@pytest.fixture()
def leaky_hotspots(hand_frame) -> pd.DataFrame:
    """Hotspots carrying fields that must never reach a plan."""
    return hand_frame.assign(
        person_ref="CHILD-REF-0001", episode_id="EP-777", n_young_people=[4242, 3, 2, 1, 7],
        placement_lat=-33.123456, placement_lon=151.654321, count=[4245, 2, 4251, 0, 1],
        expected=[4243.0, 2.0, 4243.0, 1.0, 0.5],
        places=["Station 12 (train_station, 80 m)", "", "Park 03 (park, 210 m)", "", ""],
    )


def test_patrol_plan_columns_and_privacy(leaky_hotspots):
    ev = pd.DataFrame({"cell": leaky_hotspots["cell"].repeat(3).to_numpy(),
                       "hour_of_week": [FRI * 24 + 22, FRI * 24 + 23, FRI * 24 + 22] * 5, "person_ref": "CHILD-REF-0001"})
    plan = patrol_plan(leaky_hotspots, ev)
    assert list(plan.columns) == PLAN_COLUMNS
    assert plan["rank"].tolist() == [1, 2, 3, 4]
    assert plan["windows"].iloc[0].startswith("Fri 22:00–24:00")
    assert plan["places"].iloc[0] == "Station 12 (train_station, 80 m)"
    lat, lon = h3.cell_to_latlng(plan["cells"].iloc[0])
    assert plan["lat"].iloc[0] == round(lat, 5) and plan["lon"].iloc[0] == round(lon, 5)
    # issue-14 schema: kind from the category, no areas and no forecast yet, the H3 ids last
    assert plan["kind"].iloc[0] == "both" and plan["area_name"].eq("").all()
    assert plan[["expected", "expected_low", "expected_high"]].isna().all().all()
    assert PLAN_COLUMNS[-1] == "cells" and all(h3.is_valid_cell(c) for c in plan["cells"])
    text = plan.to_csv(index=False)
    for leak in ("CHILD-REF", "EP-777", "4242", "4245", "4251", "-33.12346", "151.65432", "young people: "):
        assert leak not in text
    assert "Intensifying hot spot" in plan["reason"].iloc[0]


def test_patrol_plan_places_dict_overrides_column(hand_frame):
    cells = hand_frame["cell"].to_numpy()
    plan = patrol_plan(hand_frame, places={int(cells[0]): "Mall 1 (shopping_centre, 0 m)"})
    assert plan["places"].iloc[0] == "Mall 1 (shopping_centre, 0 m)"
    assert plan["windows"].eq("").all()  # no event history given


def test_plan_geojson_valid(leaky_hotspots):
    plan = patrol_plan(leaky_hotspots)
    fc = plan_geojson(plan)
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == len(plan)
    for feat, cell in zip(fc["features"], plan["cells"]):
        ring = feat["geometry"]["coordinates"][0]
        assert feat["geometry"]["type"] == "Polygon" and len(ring) == 7 and ring[0] == ring[-1]
        assert feat["id"] == cell and list(feat["properties"]) == PLAN_COLUMNS
        assert feat["properties"]["expected"] is None  # no forecast yet: null, not NaN
        lat, lon = h3.cell_to_latlng(cell)
        assert abs(np.mean([p[0] for p in ring[:-1]]) - lon) < 1e-3
        assert abs(np.mean([p[1] for p in ring[:-1]]) - lat) < 1e-3
    text = json.dumps(fc, allow_nan=False)
    assert "CHILD-REF" not in text and "4242" not in text
    with pytest.raises(InvalidInputError, match="lacks column"):
        plan_geojson(plan.drop(columns="dose"))


def test_plan_kind_and_cells_of_an_entry():
    from analytics.patrol import KIND_BY_CATEGORY, plan_cells, plan_kind

    assert plan_kind("persistent_hot") == "chronic" and plan_kind("historical_hot") == "chronic"
    assert plan_kind("new_hot") == "emerging" and plan_kind("sporadic_hot") == "emerging"
    assert plan_kind("intensifying_hot") == "both" and plan_kind("no_pattern") == "emerging"
    assert set(KIND_BY_CATEGORY.values()) == {"chronic", "emerging", "both"}
    a, b = h3.latlng_to_cell(-33.87, 151.2, 9), h3.latlng_to_cell(-33.9, 151.25, 9)
    frame = pd.DataFrame({"cells": [f"{a};{b}", a]})
    assert plan_cells(frame) == [[a, b], [a]]
    assert plan_cells(pd.DataFrame({"cell": [b]})) == [[b]]  # a plan saved before the schema change
