"""benchmarks.ranking on the vendored real excerpt (SF robbery 2012, CC0): cube, plan backtest, tables (no ratio asserted)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from analytics.forecast import ForecastParams
from benchmarks import ranking

EXCERPT = Path(__file__).resolve().parent / "data" / "real_excerpt_forecast" / "sf_robbery_2012_excerpt.csv"
FAST = ForecastParams(max_iter=20, train_origins=8, validation_origins=3, model="linear")


def _events() -> ranking.Events:
    d = pd.read_csv(EXCERPT)
    d.loc[0, "lat"] = 0.0  # a 0,0 row is dropped and counted
    d.loc[0, "lon"] = 0.0
    return ranking._clean("SF robbery excerpt", "test", d["lat"], d["lon"], pd.to_datetime(d["occurred_local"]),
                          len(d), {})


def test_cube_counts_every_kept_event():
    ev = _events()
    assert ev.dropped["missing or 0,0 coordinates"] == 1 and len(ev.lat) == ev.read - 1
    counts, cells, weeks, notes = ranking.build_cube(ev)
    assert counts.shape == (len(cells), len(weeks))
    assert np.all(np.diff(cells.astype(np.float64)) > 0)  # sorted unique study area
    outside = ((ev.local >= weeks[-1] + pd.Timedelta(days=7)) | (ev.local < weeks[0])).sum()  # partial weeks
    assert counts.sum() == len(ev.lat) - outside
    assert any("first week 2012-06-25 is incomplete" in n for n in notes)  # data start on Sunday 2012-07-01


def test_run_one_and_results_section(tmp_path):
    r = ranking.run_one(_events(), FAST, n_origins=3, n_boot=50, seed=0)
    assert r["origins"] == 3 and set(r["summary"]["method"]) == {"forecast", "last_week", "counts_26", "kde_13"}
    assert set(r["summary"]["size"]) == {"plan area", "0.1 %", "0.5 %", "1 %", "5 %"}
    assert (r["plans"]["entries"] <= 10).all() and (r["plans"]["cells"] <= 70).all()
    t = ranking.targets(r)
    plan = r["summary"][r["summary"]["size"] == "plan area"].set_index("method")
    assert t["ratio"] == plan.loc["forecast", "events_caught"] / plan.loc[t["best"], "events_caught"]
    assert plan.loc[t["best"], "events_caught"] == plan.drop(index="forecast")["events_caught"].max()
    text = ranking._markdown([r], "header line")
    assert ranking.SECTION in text and "SF robbery excerpt" in text and "targets met?" in text
    table = ranking.compact_table([r])
    assert table.count("\n") == 2 and "SF robbery excerpt" in table and f"{t['ratio']:.2f}" in table
    results = tmp_path / "RESULTS.md"
    results.write_text("# Benchmark results\n\nkept\n\n## Other section\n\nalso kept\n", encoding="utf-8")
    ranking.write_results(text, results)
    ranking.write_results(text, results)  # replaced, not appended twice
    out = results.read_text(encoding="utf-8")
    assert out.count(ranking.SECTION) == 1 and "kept" in out and "## Other section" in out
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{ranking.README_BEGIN}\nold\n{ranking.README_END}\nrest\n", encoding="utf-8")
    assert ranking.write_readme_table(table, readme)
    got = readme.read_text(encoding="utf-8")
    assert "old" not in got and table in got and got.startswith("intro") and got.endswith("rest\n")


def test_until_keeps_earlier_events_and_counts_the_rest():
    ev = _events()
    cut = ev.local.sort_values().iloc[len(ev.local) // 2]
    early = ranking.before(ev, cut)
    assert (early.local < cut).all() and len(early.lat) == int((ev.local < cut).sum())
    assert early.dropped[f"on or after {cut.date()} (--until)"] == len(ev.lat) - len(early.lat)
    assert early.read == ev.read
