"""The weekly plan comes from the forecast and ranks places (issue 14 items 2–3), on the SYNTHETIC sample.

Shares the memoised sample run of :mod:`tests.pipelines.test_weekly` (one ingest, two weekly runs).
"""

from __future__ import annotations

import json
import re

import h3
import pandas as pd
import pytest

from analytics.forecast import CANDIDATES
from analytics.plan_places import MAX_PLACE_CELLS, NO_EMERGING_NOTE
from pipelines.layout import file_path
from pipelines.weekly import WEEKLY_FORECAST
from tests.pipelines.test_weekly import sample_weekly


@pytest.fixture(scope="module")
def weekly(tmp_path_factory):
    return sample_weekly(tmp_path_factory)


@pytest.fixture(scope="module")
def plan(weekly) -> pd.DataFrame:
    return pd.read_csv(file_path(weekly["out"], "patrol_plan.csv"))


@pytest.fixture(scope="module")
def meta(weekly) -> dict:
    return json.loads(file_path(weekly["out"], "run.json").read_text())


def _cells(plan: pd.DataFrame) -> list[list[str]]:
    return [cs.split(";") for cs in plan["cells"]]


def _connected(cells: list[str]) -> bool:
    seen, todo = {cells[0]}, [cells[0]]
    while todo:
        for nb in h3.grid_ring(todo.pop(), 1):
            if nb in cells and nb not in seen:
                seen.add(nb)
                todo.append(nb)
    return len(seen) == len(cells)


def test_entries_are_distinct_small_connected_places(plan):
    entries = _cells(plan)
    assert 1 <= len(entries) <= 10
    flat = [c for cs in entries for c in cs]
    assert len(flat) == len(set(flat)), "a cell in two entries"
    for cs in entries:
        assert 1 <= len(cs) <= MAX_PLACE_CELLS and _connected(cs)
    # entries are distinct places: no two entries share a seed's ring-1 neighbourhood with their seeds
    seeds = [cs[0] for cs in entries]
    assert len(set(seeds)) == len(seeds)


def test_kind_expected_interval_and_reason(plan):
    assert set(plan["kind"]) <= {"chronic", "emerging", "both"}
    assert (plan["expected"] > 0).all()
    assert (plan["expected_low"] <= plan["expected"]).all() and (plan["expected"] <= plan["expected_high"]).all()
    assert (plan["expected_low"] == plan["expected_low"].round()).all()  # Poisson quantiles are counts
    assert plan["expected"].is_monotonic_decreasing  # ranked by the place's expected events next week
    assert plan["reason"].str.len().gt(0).all()
    for kind, reason in zip(plan["kind"], plan["reason"]):
        if kind in ("emerging", "both"):
            assert re.search(r"recent rise|New|Consecutive|Sporadic|Oscillating|Intensifying", reason), reason
    assert plan["priority"].iloc[0] == 1 and plan["priority"].is_monotonic_increasing


def test_run_json_records_the_forecast_and_the_plan_rules(meta, plan):
    rec = meta["weekly"]["plan"]
    fitted = rec["forecast"]["fitted"]
    assert fitted["model"] in CANDIDATES
    assert fitted["kde_sigma_rings"] in WEEKLY_FORECAST.kde_sigmas
    assert "kde" in fitted["features"] and fitted["kde_memory"] and fitted["selected"] in CANDIDATES
    assert rec["forecast"]["params"]["rise"] == ("rise_tau26" in fitted["features"])
    assert rec["forecast"]["params"]["train_origins"] == WEEKLY_FORECAST.train_origins
    assert rec["forecast"]["origin_week"] == meta["week"]
    assert "Poisson" in rec["interval"] and "n/(n + " in rec["profile_rule"]
    assert len(rec["profile_weights"]) == len(plan) and all(0 <= w <= 1 for w in rec["profile_weights"])
    assert rec["kinds"] == {k: int((plan["kind"] == k).sum()) for k in ("chronic", "emerging", "both")}
    rising = plan["kind"].isin(["emerging", "both"]).any()
    assert rec["emerging"] is bool(rising)
    assert (rec["note"] is None) == bool(rising)
    assert plan["reason"].str.endswith(NO_EMERGING_NOTE).all() == (not rising)
    assert "forecast" in meta["weekly"]["timings_s"]


def test_withheld_cells_are_never_planned(weekly, plan, meta):
    planned = {c for cs in _cells(plan) for c in cs}
    assert not planned & set(meta["weekly"]["safeguarding"]["withheld"])
    withheld = pd.read_csv(file_path(weekly["out"], "withheld.csv"))
    assert not planned & set(withheld["cell"])


def test_report_top_list_follows_the_plan(weekly, plan):
    html = file_path(weekly["out"], "report.html").read_text(encoding="utf-8")
    top = html.split('<section id="top-hotspots">')[1].split("</section>")[0]
    shown = re.findall(r"<code>([0-9a-f]{15})</code>", top)
    assert shown == [c for cs in _cells(plan)[:10] for c in cs]
    section = html.split('<section id="patrol">')[1].split("</section>")[0]
    assert "Expected events" in section and plan["kind"].iloc[0] in section


def test_last_weeks_plan_was_rebuilt_by_the_same_builder(weekly):
    """The first run had no saved plan for its previous week: the backtest's plan came from the forecast."""
    prev = json.loads(file_path(weekly["root"] / weekly["prev_run"].week, "run.json").read_text())
    bt = prev["weekly"]["backtest"]
    assert bt["source"].startswith("recomputed") and "forecast" in bt["source"]
    assert 1 <= bt["n_cells"] <= MAX_PLACE_CELLS * 10
    assert "forecast" in prev["weekly"]["timings_s"]
