"""The weekly run on the committed SYNTHETIC sample: files, patrol plan, report sections, privacy, sizes.

One ingest of the sample and two weekly runs (the week before the sample's last week, then
its last week, so the backtest reads a saved plan) are shared by this module, the privacy
scanner's tests and the browser tests through :func:`sample_weekly` (built once per session).
"""

from __future__ import annotations

import json
import re
from datetime import timedelta

import geopandas as gpd
import pandas as pd
import pytest

from analytics.errors import InvalidInputError
from analytics.patrol import PLAN_COLUMNS
from analytics.weeks import parse_week, week_label
from pipelines import store as store_mod
from pipelines.layout import file_path
from pipelines.privacy_scan import scan_outputs, store_forbidden_strings, store_raw_points
from pipelines.resources import shipped_dir
from pipelines.weekly import (ANALYST_OUTPUTS, SHARED_OUTPUTS, WEEKLY_STEPS, load_config, run_weekly,
                              validate_config)
from tests.conftest import FAST, TEST_KEY, shared_sample_weekly

SAMPLE = shipped_dir("data_samples")


def sample_weekly(tmp_path_factory) -> dict:
    """The sample's two weekly runs, built once per session for every xdist worker
    (:func:`tests.conftest.shared_sample_weekly`, whose docstring lists the keys)."""
    return shared_sample_weekly(tmp_path_factory)


@pytest.fixture(scope="module")
def weekly(tmp_path_factory):
    return sample_weekly(tmp_path_factory)


@pytest.fixture(scope="module")
def report_html(weekly) -> str:
    return file_path(weekly["out"], "report.html").read_text(encoding="utf-8")


# ---------------------------------------------------------------- files and run.json
def test_every_output_is_written(weekly):
    from pipelines.area_hotspots import AREA_OUTPUTS
    from pipelines.layout import OUTPUT_FILES
    out = weekly["out"]
    by_area = {OUTPUT_FILES[k] for k in AREA_OUTPUTS}  # only with --units areas (tests/pipelines/test_areas.py)
    for name in SHARED_OUTPUTS + ANALYST_OUTPUTS:
        assert file_path(out, name).is_file() or name in by_area, name
    assert weekly["steps"] == list(WEEKLY_STEPS)
    print(f"\nweekly runs (2 weeks, incl. ingest-free engine runs): {weekly['seconds']:.1f} s; "
          f"last week timings: {weekly['run'].timings}")


def test_run_json_records_the_weekly_run(weekly):
    meta = json.loads(file_path(weekly["out"], "run.json").read_text())
    assert meta["command"] == "hotspots weekly" and meta["week"] == weekly["week"] and meta["synthetic"] is True
    for key in ("report", "analyst_map", "patrol_map", "patrol_plan_csv", "patrol_plan_geojson", "run", "cube"):
        assert key in meta["outputs"] or key == "run", key
    w = meta["weekly"]
    assert w["parameters"]["k_suppression"] == 5 and w["parameters"]["patrol"]["n_cells"] == 10
    assert w["parameters"]["config"]["hotspots"]["scan_replicates"] == FAST["hotspots"]["scan_replicates"]
    assert w["parameters"]["tiles"] is None
    assert set(w["timings_s"]) >= {"engine", "previous_week", "patrol_plan", "maps", "report", "privacy_scan"}
    assert w["privacy"]["findings"] == [] and w["privacy"]["shared_outputs"] == list(SHARED_OUTPUTS)
    assert "saved plan" in w["backtest"]["source"]  # the week before was run first
    assert w["backtest"]["plan_week"] == weekly["prev_run"].week
    assert str(TEST_KEY.decode()) not in json.dumps(meta)


def test_headline_is_consistent(weekly):
    meta = json.loads(file_path(weekly["out"], "run.json").read_text())
    hl = meta["weekly"]["headline"]
    hot = pd.read_parquet(file_path(weekly["out"], "hotspots.parquet"))
    hot_now = hot["category"].str.endswith("_hot") & (hot["category"] != "historical_hot")
    assert len(hl["became_hot"]) + len(hl["continuing"]) == int(hot_now.sum())
    assert not set(hl["became_hot"]) & set(hl["continuing"]) and not set(hl["became_hot"]) & set(hl["ended"])
    # "new" is the category: the count agrees with it (issue 16: "109 new" beside a new-category count of 0)
    assert set(hl["new"]) == set(hot.loc[hot["category"] == "new_hot", "cell"]) <= set(hl["became_hot"])
    assert set(hl["intensifying"]) == set(hot.loc[hot["category"] == "intensifying_hot", "cell"])


def test_backtest_numbers(weekly):
    bt = json.loads(file_path(weekly["out"], "run.json").read_text())["weekly"]["backtest"]
    prev_plan = pd.read_csv(file_path(weekly["root"] / bt["plan_week"], "patrol_plan.csv"))
    assert bt["n_cells"] == len(prev_plan) and set(bt["cells"]) == {c for cs in prev_plan["cells"] for c in cs.split(";")}
    assert 0 <= bt["n"] <= bt["n_star"] <= bt["N"]
    assert bt["hit_rate"] == pytest.approx(bt["n"] / bt["N"], abs=1e-4)
    assert bt["pei_star"] == pytest.approx(bt["n"] / bt["n_star"], abs=1e-4)
    assert bt["pai"] == pytest.approx((bt["n"] / bt["N"]) / (bt["a_km2"] / bt["A_km2"]), rel=1e-3)


# ---------------------------------------------------------------- patrol plan
def test_patrol_plan_has_places_and_times_only(weekly):
    out = weekly["out"]
    plan = pd.read_csv(file_path(out, "patrol_plan.csv"))
    assert list(plan.columns) == PLAN_COLUMNS + ["synthetic"]  # real data: exactly PLAN_COLUMNS
    assert (plan["synthetic"] == "SYNTHETIC — not real young people").all()
    assert 1 <= len(plan) <= 10 and plan["rank"].tolist() == list(range(1, len(plan) + 1))
    assert set(plan["priority"]) <= {1, 2, 3}
    assert plan["windows"].fillna("").str.match(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d\d:00").all()
    text = file_path(out, "patrol_plan.csv").read_text() + file_path(out, "patrol_plan.geojson").read_text()
    assert not re.search(r"pk_[0-9a-f]{8}|SYN-[EPHR]\d|young_people|n_events|count", text)
    gj = json.loads(file_path(out, "patrol_plan.geojson").read_text())
    assert [f["id"] for f in gj["features"]] == plan["cells"].tolist()
    assert all(list(f["properties"]) == PLAN_COLUMNS + ["synthetic"] for f in gj["features"])
    assert gj["name"].startswith("SYNTHETIC") and all(f["properties"]["synthetic"] for f in gj["features"])
    assert gpd.read_file(file_path(out, "patrol_plan.geojson")).crs.to_epsg() == 4326


def test_plan_targets_planted_sites(weekly):
    """The plan goes where the generator put the harm: its planted sites and the busy venues it lists as
    background hot spots (real, steady concentrations), not noise; both persistent sites are in it."""
    plan = pd.read_csv(file_path(weekly["out"], "patrol_plan.csv"))
    truth = weekly["truth"]
    planted = {c for s in truth["sites"] for c in s["cells"] + s.get("halo_cells", [])}
    venues = {c for b in truth.get("background_hot", []) for c in b["cells"]}
    cells = {c for cs in plan["cells"] for c in cs.split(";")}
    assert len(cells & (planted | venues)) >= 0.8 * len(plan), "planned cells should be planted sites or busy venues"
    for s in (s for s in truth["sites"] if s["kind"] == "persistent"):
        assert set(s["cells"]) & cells, f"persistent site {s['id']} is not in the plan"


# ---------------------------------------------------------------- report
SECTIONS = ("first-screen", "summary", "top-hotspots", "patrol", "backtest", "equity", "data-quality", "methods")


def test_report_sections_and_banner(report_html):
    for sid in SECTIONS:
        assert f'<section id="{sid}">' in report_html, sid
    assert 'id="synthetic-banner"' in report_html and "SYNTHETIC DATA" in report_html
    for text in ("Became hot since last week", "Hit rate", "PAI", "PEI*", "Quarantined rows by reason",
                 "Late-arriving records", "Feedback-loop check", "Automatic choices", "Age 12–13", "First Nations",
                 "LGBTQIA+", "CALD", "Disability", "risk", "young people"):
        assert text in report_html, text
    assert "offender" not in report_html.lower() and "suspect" not in report_html.lower()


def _card(html: str, cid: str) -> int:
    return int(re.search(rf'id="{cid}"><b>([\d,]+)</b>', html).group(1).replace(",", ""))


def test_report_first_screen_counts_agree_with_the_categories(weekly, report_html):
    """Cards, category table and first sentence give the same counts, from the shared cells."""
    meta = json.loads(file_path(weekly["out"], "run.json").read_text())
    withheld = set(meta["weekly"]["safeguarding"]["withheld"])
    hot = pd.read_parquet(file_path(weekly["out"], "hotspots.parquet"))
    hot = hot[~hot["cell"].isin(withheld)]
    n_hot = int((hot["category"].str.endswith("_hot") & (hot["category"] != "historical_hot")).sum())
    n_new = int((hot["category"] == "new_hot").sum())
    assert _card(report_html, "card-hot") == n_hot and _card(report_html, "card-new") == n_new
    became = _card(report_html, "card-became")
    table = report_html.split('id="category-change"')[1].split("</table>")[0]
    rows = dict(re.findall(r"<tr><td>([^<]+)</td><td class=\"num\">(\d+)</td>", table))
    assert int(rows.get("New hot spot", 0)) == n_new and sum(map(int, rows.values())) == n_hot
    first = report_html.split('<section id="first-screen">')[1].split("</section>")[0]
    sentences = re.findall(r'<p class="sentence">([^<]+)</p>', first)
    assert len(sentences) == 3
    assert sentences[0].startswith(f"{n_hot:,} cells are hot spots in {weekly['week']}")
    assert f"{became:,} became hot since last week" in sentences[0]
    assert ("none is a new hot spot" in sentences[0]) == (n_new == 0)
    plan = pd.read_csv(file_path(weekly["out"], "patrol_plan.csv"))
    assert sentences[1].startswith("The plan for next week (") and f"{len(plan)} entries in all" in sentences[1]
    assert sentences[2].startswith(f"Based on {meta['summary']['events_in_week']:,} reports in {weekly['week']}")
    shown = min(5, len(plan))
    assert first.count('class="plan-entry"') == shown and first.count('class="ov-marker"') == shown
    assert '<a href="patrol_map.html">' in first and '<a href="analyst_map.html">' in first
    assert first.count('class="ov-cell"') == n_hot and 'class="ov-outline"' in first


def test_report_trend_charts(weekly, report_html):
    summary = report_html.split('<section id="summary">')[1].split("</section>")[0]
    assert summary.count('<figure class="chart') == 3
    assert "reports per week</text>" in summary and "ISO week (Monday to Sunday" in summary
    assert "hot spot cells</text>" in summary
    # 26 weekly bars of reports; the category chart has this week and last week (the earlier week's run is saved)
    events = summary.split('<figure class="chart events">')[1].split("</figure>")[0]
    assert events.count('<rect class="bar"') + events.count('class="bar-hidden"') <= 26
    cats = summary.split('<figure class="chart categories">')[1].split("</figure>")[0]
    assert cats.count('<g class="bar-stack">') >= 2


def test_report_is_self_contained(report_html):
    assert "http://" not in report_html and "https://" not in report_html
    assert "<script" not in report_html and "<link" not in report_html and "@import" not in report_html
    assert "<img" not in report_html and "url(" not in report_html
    assert "@page" in report_html and "@media print" in report_html


def test_report_sparklines_one_per_top_hotspot(report_html):
    top = report_html.split('<section id="top-hotspots">')[1].split("</section>")[0]
    rows = top.count("<tr>") - 1  # minus the header row
    assert rows >= 1 and top.count('<svg class="spark"') == rows


def test_report_quarantine_and_batches_match_the_store(weekly, report_html):
    with store_mod.opened(weekly["db"], read_only=True) as st:
        n_q = st.con.execute("select count(*) from quarantine").fetchone()[0]
        batches = st.con.execute("select batch_id, file_name from batches").fetchall()
    assert f"Quarantined rows by reason ({n_q} in all)" in report_html
    for batch_id, name in batches:  # batches by id: a file name can name a young person (issue 12)
        assert f"<td>{batch_id}</td>" in report_html
        assert name not in report_html


def test_equity_counts_are_suppressed(report_html):
    equity = report_html.split('<section id="equity">')[1].split("</section>")[0]
    cells = re.findall(r'<td class="num yp">([^<]*)</td>', equity)
    assert cells, "equity table has no cells"
    assert "&lt;5" in cells, "the sample's small groups should show as <5"
    for v in cells:
        assert v in ("0", "&lt;5", "*") or (v.isdigit() and int(v) >= 5), v


def test_police_feedback_flag_matches_the_cube(weekly, report_html):
    cube = pd.read_parquet(file_path(weekly["out"], "cube.parquet"))
    dq = report_html.split("Feedback-loop check")[1].split("</section>")[0]
    flagged = dq.count("feedback-loop risk")
    top = report_html.split('<section id="top-hotspots">')[1].split("</section>")[0]
    top_cells = re.findall(r"<code>([0-9a-f]{15})</code>", top)
    sums = cube[cube["cell"].isin(top_cells)].groupby("cell")[["reports", "reports_police"]].sum()
    expected = int((sums["reports_police"] > 0.6 * sums["reports"]).sum())
    assert flagged == expected


# ---------------------------------------------------------------- maps, sizes, privacy
def test_maps_offline_synthetic_and_small(weekly):
    out = weekly["out"]
    for name, limit_mb in (("patrol_map.html", 2), ("analyst_map.html", 10)):
        html = file_path(out, name).read_text(encoding="utf-8")
        assert "http://" not in html and "https://" not in html, name
        assert "SYNTHETIC" in html, name
        size = file_path(out, name).stat().st_size / 1e6
        assert size <= limit_mb, f"{name} is {size:.2f} MB"
    patrol = file_path(out, "patrol_map.html").read_text(encoding="utf-8")
    plan = pd.read_csv(file_path(out, "patrol_plan.csv"))
    for cells in plan["cells"]:
        for cell in cells.split(";"):
            assert cell in patrol


def test_privacy_scan_of_the_sample_outputs_is_clean(weekly):
    placements = pd.read_csv(SAMPLE / "placements.csv")
    with store_mod.opened(weekly["db"], read_only=True) as st:
        forbidden = store_forbidden_strings(st) | set(placements["placement_ref"])
        raw = store_raw_points(st)
    findings = scan_outputs(weekly["out"], placements[["lat", "lon"]], forbidden, raw, k=5,
                            approved=weekly["run"].safeguard.approvals)
    assert findings == [], "\n".join(map(str, findings))
    # the run's own check used the ingested placements file (known), not derived ones
    sg = json.loads(file_path(weekly["out"], "run.json").read_text())["weekly"]["safeguarding"]
    assert sg["placements"] == {"file": len(placements), "derived": 0} and sg["radius_m"] == 300


# ---------------------------------------------------------------- config
def test_config_defaults_and_file(tmp_path):
    cfg = load_config(None)
    assert cfg["tiles"] is None and cfg["k_suppression"] == 5 and cfg["patrol"] == {}
    path = tmp_path / "hotspots.toml"
    path.write_text('tiles = "https://tiles.internal/{z}/{x}/{y}.png"\nk_suppression = 10\n\n'
                    "[patrol]\nn_cells = 5\n\n[hotspots]\nscan_replicates = 99\n")
    cfg = load_config(path)
    assert cfg["tiles"].startswith("https://tiles.internal/") and cfg["k_suppression"] == 10
    assert cfg["patrol"] == {"n_cells": 5} and cfg["hotspots"] == {"scan_replicates": 99}


@pytest.mark.parametrize("text, message", [
    ('tile = "x"\n', "unknown key(s) tile"),
    ('[patrol]\nbudget = 3\n', "unknown key(s) budget in [patrol]"),
    ('[hotspots]\nweek = "2025-W01"\n', "unknown key(s) week in [hotspots]"),
    ('tiles = "tiles.internal/x.png"\n', "tiles must be a URL template"),
    ("k_suppression = 1\n", "k_suppression = 1 is refused: shared outputs need k_suppression of at least 5"),
    ("k_suppression = 4\n", "k_suppression = 4 is refused"),
    ("[patrol]\nn_cells = 0\n", "n_cells must be an integer"),
    ("k_suppression = \n", "not valid TOML"),
])
def test_config_errors_are_clear(tmp_path, text, message):
    path = tmp_path / "hotspots.toml"
    path.write_text(text)
    with pytest.raises(InvalidInputError) as info:
        load_config(path)
    assert message in str(info.value) and str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_config_file(tmp_path):
    with pytest.raises(InvalidInputError, match="not found"):
        load_config(tmp_path / "nope.toml")
    assert validate_config({"tiles": ""})["tiles"] is None


def test_bad_week_is_refused(weekly, tmp_path):
    with store_mod.opened(weekly["db"], read_only=True) as st:
        with pytest.raises(InvalidInputError, match="ISO week"):
            run_weekly(st, "2026-26", tmp_path)


def test_analyst_detail_is_a_separate_unsuppressed_analyst_only_report(weekly, report_html):
    detail_path = file_path(weekly["out"], "report_analyst_detail.html")
    detail = detail_path.read_text(encoding="utf-8")
    assert 'id="analyst-detail-banner"' in detail and 'id="analyst-detail-banner"' not in report_html
    equity = detail.split('<section id="equity">')[1].split("</section>")[0]
    values = re.findall(r'<td class="num yp">([^<]*)</td>', equity)
    assert "&lt;5" not in values and any(v.isdigit() and 0 < int(v) < 5 for v in values)
    assert "report_analyst_detail.html" in ANALYST_OUTPUTS and "report_analyst_detail.html" not in SHARED_OUTPUTS


@pytest.mark.slow  # a whole weekly run through the CLI (26 s on a lightly loaded machine); CI runs the slow suite
def test_analyst_detail_flag_is_recorded_in_the_audit_log(weekly, tmp_path, monkeypatch, capsys):
    import sys
    from pipelines import cli
    db = tmp_path / "copy.duckdb"
    db.write_bytes(weekly["db"].read_bytes())
    config = tmp_path / "hotspots.toml"
    config.write_text("[hotspots]\nscan_replicates = 0\n")

    def run(*args):
        monkeypatch.setattr(sys, "argv", ["hotspots", *args])
        with pytest.raises(SystemExit) as info:
            cli.main()
        captured = capsys.readouterr()
        assert info.value.code == 0, captured.err
        return captured.out

    run("weekly", "--db", str(db), "--week", weekly["week"], "--out", str(tmp_path / "o"),
        "--config", str(config), "--analyst-detail")
    assert file_path(tmp_path / "o" / weekly["week"], "report_analyst_detail.html").is_file()
    rows = json.loads(run("audit", "--db", str(db), "--json"))
    assert rows[0]["command"] == "weekly" and rows[0]["outcome"] == "ok"
    assert json.loads(rows[0]["parameters"])["analyst_detail"] is True


def test_previous_window_matches_a_full_rebuild(weekly):
    """Last week's window from this week's cube + one built week equals rebuilding it, as do its statistics."""
    from dataclasses import replace

    import numpy as np

    from pipelines import cube as cube_mod
    from analytics.engine import HotspotParams, analyse_cube, analyse_statistics
    from pipelines.weekly import _harm_events, _previous_window

    params = HotspotParams(week=weekly["week"])
    last = parse_week(weekly["week"])
    first = last - timedelta(weeks=params.weeks_back - 1)
    with store_mod.opened(weekly["db"], read_only=True) as st:
        res = cube_mod.prepare_events(st)
        for harm_weeks in (4, params.weeks_back + 2):  # within the window, and reaching past its first week
            cube_mod.build_cube(st, res, week_label(first), weekly["week"], events_ready=True)
            cells, counts, exposure, weeks = cube_mod.cube_arrays(st, params.measure)
            pw = _previous_window(st, res, params.measure, harm_weeks, cells, counts, exposure, weeks)
            cube_mod.build_cube(st, res, week_label(first - timedelta(weeks=1)),
                                week_label(last - timedelta(weeks=1)), events_ready=True)
            p_cells, p_counts, p_exposure, p_weeks = cube_mod.cube_arrays(st, params.measure)
            harm = _harm_events(st, p_weeks, harm_weeks)
            assert np.array_equal(pw.cells, p_cells) and np.array_equal(pw.counts, p_counts)
            assert np.array_equal(pw.exposure, p_exposure) and pw.weeks == p_weeks
            assert pw.harm.reindex(p_cells).fillna(0).equals(harm.reindex(p_cells).fillna(0))
    prev = analyse_statistics(pw.counts, pw.cells, pw.exposure, params)
    gi, emerging = prev.gi, prev.emerging
    full = analyse_cube(p_counts, p_cells, p_exposure, p_weeks, replace(params, scan_replicates=0))
    assert emerging["category"].tolist() == full.emerging["category"].tolist()
    assert np.array_equal(gi.z, full.gi.z) and np.array_equal(gi.expected, full.gi.expected)
