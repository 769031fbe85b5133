"""The report's first screen and trend charts, piece by piece (pipelines.report_front, report_charts).

Sentences for the three cases the issue names (nothing hot; new hot spots; plan empty) and the
caveats; the overview map holds pixels only (no latitude or longitude) and numbers the plan; the
charts have axis units and never print a count of young people below k.
"""

from __future__ import annotations

import re

import h3
import numpy as np
import pandas as pd
import pytest

from pipelines.render.html import page_template
from analytics.patrol import PLAN_COLUMNS
from analytics.sufficiency import MIN_EVENTS_IN_WINDOW
from analytics.week_change import became_hot_by_category, week_changes
from pipelines.report_charts import bar_chart, overview_map, stacked_chart
from pipelines.report_front import (FIRST_SCREEN_ENTRIES, change_sentence, data_sentence, first_screen, plan_entries,
                                    plan_sentence)

CENTRE = h3.latlng_to_cell(-33.8688, 151.2093, 9)
DATES = "Mon 29 Jun – Sun 5 Jul 2026"


def _cells(n: int) -> list[str]:
    return sorted(h3.grid_disk(CENTRE, 3))[:n]


def _frames(now: list[str], before: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    cells = _cells(len(now))
    return (pd.DataFrame({"cell": cells, "category": now, "z": np.linspace(4, 0, len(now)), "places": ""}),
            pd.DataFrame({"cell": cells, "category": before}))


def _plan(n: int, places: str = "Central Station (train_station, 80 m); Park 2 (park, 200 m)") -> pd.DataFrame:
    cells = _cells(n)
    rows = []
    for i, c in enumerate(cells):
        lat, lon = h3.cell_to_latlng(c)
        rows.append({"rank": i + 1, "priority": 1 if i < 2 else 2, "kind": "chronic", "area_name": "",
                     "places": places if i == 0 else f"Place {i + 1} (park, 10 m)", "lat": round(lat, 5),
                     "lon": round(lon, 5), "windows": "Fri 22:00–24:00; Sat 21:00–23:00; Sun 10:00–12:00",
                     "time_zone": "Australia/Sydney", "dose": "d", "expected": np.nan, "expected_low": np.nan,
                     "expected_high": np.nan, "reason": "r", "cells": c})
    return pd.DataFrame(rows, columns=PLAN_COLUMNS)


def _sentence(now, before) -> str:
    hot, prev = _frames(now, before)
    ch = week_changes(hot, prev)
    n_before = int(prev["category"].str.endswith("_hot").sum() - (prev["category"] == "historical_hot").sum())
    return change_sentence(ch, became_hot_by_category(hot, ch), n_before, "2026-W26", "2026-W25")


# ---------------------------------------------------------------- sentences
def test_sentence_nothing_hot():
    assert _sentence(["no_pattern"] * 4, ["no_pattern"] * 4) == \
        "No cell is a hot spot in 2026-W26, as in the week before (2026-W25)."
    text = _sentence(["no_pattern"] * 4, ["sporadic_hot", "sporadic_hot", "no_pattern", "historical_hot"])
    assert text.startswith("No cell is a hot spot in 2026-W26") and "the 2 hot spots of last week (2026-W25)" in text


def test_sentence_new_hot_spots_counts_agree_with_categories():
    text = _sentence(["new_hot", "new_hot", "sporadic_hot", "persistent_hot", "no_pattern"],
                     ["no_pattern", "no_pattern", "no_pattern", "persistent_hot", "sporadic_hot"])
    assert text.startswith("4 cells are hot spots in 2026-W26 (last week, 2026-W25: 2): ")
    assert "3 became hot since last week (2 new, 1 sporadic)" in text
    assert "1 continues and 1 ended" in text and "none is a new" not in text


def test_sentence_says_none_is_new_when_all_sporadic():
    text = _sentence(["sporadic_hot"] * 3 + ["intensifying_hot"], ["no_pattern"] * 3 + ["persistent_hot"])
    assert "3 became hot since last week (3 sporadic; none is a new hot spot)" in text
    assert text.endswith("1 continues and none ended; 1 is intensifying.")


def test_plan_sentence_empty_and_full():
    empty = plan_sentence([], DATES, 0)
    assert empty == (f"The plan for next week ({DATES}) has no entries: no cell scored above zero, so no targeted "
                     "presence is proposed.")
    entries = plan_entries(_plan(7))
    text = plan_sentence(entries, DATES, 7)
    assert text.startswith(f"The plan for next week ({DATES}) sends presence first to Central Station "
                           "(priority 1, chronic) on Fri 22:00–24:00 and Sat 21:00–23:00, "
                           "then to Place 2 and Place 3")
    assert text.endswith(f"7 entries in all, 2 of the first {FIRST_SCREEN_ENTRIES} at priority 1.")
    assert "Sun 10:00" not in text  # two windows at most


def test_plan_sentence_names_the_area_and_never_coordinates():
    plan = _plan(1, places="")
    plan.loc[0, "area_name"] = "Five Points · District 2"
    text = plan_sentence(plan_entries(plan), DATES, 1)
    assert "sends presence first to Five Points · District 2 (priority 1" in text
    assert str(plan.loc[0, "lat"])[:6] not in text
    unnamed = plan_sentence(plan_entries(_plan(1, places="")), DATES, 1)
    assert "the rank-1 cell (no named place nearby)" in unnamed
    missing = _plan(1, places="").astype({"area_name": object, "places": object})
    missing.loc[0, ["area_name", "places"]] = [np.nan, None]  # as read back from a CSV
    entry = plan_entries(missing)[0]
    assert entry["area_name"] == entry["places"] == "" and "nan" not in plan_sentence([entry], DATES, 1)


@pytest.mark.parametrize("source, late, window, expect", [
    ("police", None, 900, "every report came from police"),
    ("not recorded", None, 900, "no report records its source"),
    (None, 0.5, 900, "50 % of reports arrive more than a week late"),
    (None, 0.05, 2 * MIN_EVENTS_IN_WINDOW, "little data"),
    (None, 0.05, 900, "statistical flags"),
])
def test_data_sentence_caveats(source, late, window, expect):
    text = data_sentence(12, window, 26, "2026-W01", "2026-W26", "reports", source, late, False, True)
    assert text.startswith(f"Based on 12 reports in 2026-W26 and {window:,} over the 26 weeks analysed "
                           f"(2026-W01 to 2026-W26), above the {MIN_EVENTS_IN_WINDOW} needed")
    assert expect in text and text.endswith("These are SYNTHETIC data, not real young people.")


def test_data_sentence_bulk_load_is_not_called_late():
    text = data_sentence(12, 900, 26, "2026-W01", "2026-W26", "reports", None, 0.95, True, False)
    assert "late" not in text and "SYNTHETIC" not in text


# ---------------------------------------------------------------- first screen, map and charts
def test_first_screen_context():
    hot, prev = _frames(["new_hot", "sporadic_hot", "no_pattern"], ["no_pattern"] * 3)
    outline = {"type": "Polygon", "coordinates": [[[151.19, -33.89], [151.23, -33.89], [151.23, -33.85],
                                                   [151.19, -33.85], [151.19, -33.89]]]}
    fs = first_screen(hotspots=hot, previous=prev, plan=_plan(8), outline=outline, week="2026-W26",
                      plan_dates=DATES, events_week=40, events_window=900, summary={"weeks": 26,
                                                                                   "first_week": "2026-W01"},
                      measure="reports", single_source=None, late={"n": 10, "late": 0, "bulk": False},
                      synthetic=False)
    assert len(fs["sentences"]) == 3 and fs["sentences"][0].startswith("2 cells are hot spots")
    assert [e["rank"] for e in fs["entries"]] == list(range(1, FIRST_SCREEN_ENTRIES + 1))
    assert [m["rank"] for m in fs["map"]["markers"]] == list(range(1, FIRST_SCREEN_ENTRIES + 1))
    assert len(fs["map"]["cells"]) == 2 and fs["map"]["has_outline"]
    assert [x["href"] for x in fs["links"]] == ["patrol_map.html", "analyst_map.html"]
    assert fs["counts"]["new"] == 1 and fs["counts"]["became_hot"] == 2 and fs["counts"]["hot"] == 2


class _env:  # the product's one Jinja environment (trimmed, as the report renders)
    get_template = staticmethod(lambda name: page_template(name, trim_blocks=True))


def test_overview_map_svg_has_pixels_only():
    plan = _plan(3)
    points = plan[["rank", "priority", "lat", "lon"]].to_dict("records")
    m = overview_map(None, [(c, "sporadic_hot") for c in _cells(4)], points)
    svg = str(_env().get_template("report_charts.j2").module.overview_map(m))
    assert svg.count('class="ov-cell"') == 4 and svg.count('class="ov-marker"') == 3
    assert "<script" not in svg and "http" not in svg.replace('"http:"', "")
    nums = re.findall(r"-?\d+\.\d+", svg)
    assert nums and all(len(n.split(".")[1]) <= 1 for n in nums)  # no coordinate with 3+ decimals
    assert all(0 <= float(n) <= m["width"] for n in nums)
    assert overview_map(None, [], []) is None


def test_bar_chart_never_prints_a_suppressed_count():
    labels = [f"2026-W{w:02d}" for w in range(1, 9)]
    values = [0, 1, 2, 3, 4, 5, 12, 40]
    c = bar_chart(labels, values, y_unit="distinct young people per week", x_unit="ISO week", title="t", k=5)
    svg = str(_env().get_template("report_charts.j2").module.bar_chart(c, "people"))
    for v in (1, 2, 3, 4):
        assert not re.search(rf"(?<![\d;]){v} distinct young people", svg), v
    assert svg.count("&lt;5 distinct young people per week") == 4
    assert "5 distinct young people per week" in svg and "40 distinct young people per week" in svg
    hidden = [b for b in c["bars"] if b["hidden"]]
    assert len(hidden) == 4 and len({b["h"] for b in hidden}) == 1  # every hidden week drawn alike
    assert "distinct young people per week</text>" in svg and "ISO week</text>" in svg  # axis units


def test_stacked_chart_counts_by_category():
    labels = ["2026-W24", "2026-W25", "2026-W26"]
    c = stacked_chart(labels, [None, {"sporadic_hot": 3}, {"new_hot": 1, "sporadic_hot": 2}], title="t",
                      y_unit="hot spot cells", x_unit="ISO week")
    assert c["bars"][0]["missing"] and [len(b["segments"]) for b in c["bars"]] == [0, 1, 2]
    assert c["bars"][2]["segments"][0]["title"] == "2026-W26: 1 new hot spot cell(s)"
    assert [x["label"] for x in c["legend"]] == ["New hot spot", "Sporadic hot spot"]
    svg = str(_env().get_template("report_charts.j2").module.stacked_chart(c))
    assert "hot spot cells</text>" in svg and "no saved weekly run" in svg
