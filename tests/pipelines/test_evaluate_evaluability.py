"""``hotspots evaluate``: a target too sparse to evaluate says so, and ``--before-weeks`` (issue 15 follow-up)."""

from __future__ import annotations

import json
import sys
from datetime import timedelta

import pytest

from analytics.weeks import parse_week, week_label
from pipelines import cli
from pipelines import store as store_mod
from pipelines.evaluate import run_evaluation
from pipelines.resources import shipped_dir


@pytest.fixture(scope="module")
def truth():
    return json.loads((shipped_dir("data_samples") / "ground_truth.json").read_text())["interventions"][0]


@pytest.fixture(scope="module")
def cli_sample_db(sample_store, tmp_path_factory):
    """A private copy of the shared sample store for CLI runs: every command appends its audit row on a
    write connection, which must not touch (or lock) the store the other workers read."""
    copy = tmp_path_factory.mktemp("evaluability_cli") / "sample.duckdb"
    copy.write_bytes(sample_store.db.read_bytes())
    copy.chmod(0o600)
    return copy


def _quiet_cell(st, start: str) -> str:
    """A cell of the SYNTHETIC sample with one or two non-police reports in the 26 weeks before ``start``."""
    monday = parse_week(start)
    row = st.con.execute(
        "select cell, count(*) n from location_reports where source <> 'police' and observed_at < $s "
        "and observed_at >= $f group by cell having n between 1 and 2 order by cell limit 1",
        {"s": monday - timedelta(days=1), "f": monday - timedelta(weeks=26)}).fetchone()
    import h3
    return h3.int_to_str(int(row[0]))


def test_a_sparse_target_is_too_sparse_on_page_json_and_verdict(sample_store, truth, tmp_path):
    with store_mod.opened(sample_store.db, read_only=True) as st:
        cell = _quiet_cell(st, truth["start_week"])
        r = run_evaluation(st, cell, truth["start_week"], truth["end_week"], None, 1, tmp_path, n_boot=50)
    ev = r["evaluability"]
    assert ev["evaluable"] is False and ev["mde"] is None and ev["expected_after"] < 3
    assert r["verdict"]["effect"] == "too_sparse" and r["verdict"]["ring"] == "too_sparse"
    assert r["verdict"]["headline"].startswith("Too sparse to evaluate: no fall of up to 95 % is detectable")
    assert r["verdict"]["methods"] == []                      # no effect size claimed
    on_disk = json.loads((tmp_path / "evaluation.json").read_text())
    assert on_disk["evaluability"]["sentence"] == r["verdict"]["headline"]
    html = (tmp_path / "evaluation.html").read_text()
    assert html.count("Too sparse to evaluate") >= 2 and "shown for reference only" in html


def test_before_weeks_sets_the_before_period(sample_store, truth, tmp_path):
    with store_mod.opened(sample_store.db, read_only=True) as st:
        r10 = run_evaluation(st, truth["place_id"], truth["start_week"], truth["end_week"], None, 1, tmp_path / "a",
                             n_boot=50, before_weeks=10)
        r_all = run_evaluation(st, truth["place_id"], truth["start_week"], truth["end_week"], None, 1, tmp_path / "b",
                               n_boot=50, before_weeks=None)
    start = parse_week(truth["start_week"])
    assert r10["periods"]["weeks_before"] == 10
    assert r10["periods"]["first_week"] == week_label(start - timedelta(weeks=10))
    assert r_all["periods"]["weeks_before"] > 26 and r_all["parameters"]["before_weeks"] is None
    # the before period the DiD used is the CSV's before rows (10 of them)
    import pandas as pd
    weekly = pd.read_csv(tmp_path / "a" / "series_weekly.csv")
    before = weekly[weekly["period"] == "before"]
    assert len(before) == 10 and len(weekly) == 10 + r10["periods"]["weeks_after"]
    # ITS and the panel regression are fitted on the same weeks (ITS's fitted path covers every row)
    assert weekly["its_fitted"].notna().all() and r10["methods"]["panel_poisson"]["n_weeks"] == len(weekly)
    assert r10["methods"]["did"]["pre_fit"]["treated_pre_mean"] == pytest.approx(before["treated"].mean(), abs=1e-3)
    # fewer weeks before: a larger smallest detectable fall (the power cost)
    assert r10["power"]["mde_did"] < r_all["power"]["mde_did"] < 0
    assert any("Before period: the 10 weeks before the start" in c for c in r10["choices"])


@pytest.mark.parametrize("bad", ["3", "600", "abc", "12.5"])
def test_cli_refuses_before_weeks_out_of_range_in_one_line(cli_sample_db, truth, tmp_path, monkeypatch, capsys,
                                                           key_env, bad):
    monkeypatch.setattr(sys, "argv", ["hotspots", "evaluate", "--db", str(cli_sample_db), "--target",
                                      truth["place_id"], "--start", truth["start_week"], "--before-weeks", bad,
                                      "--out", str(tmp_path / "o")])
    with pytest.raises(SystemExit) as info:
        cli.main()
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert info.value.code == 1, err
    assert len(lines) == 1 and lines[0].startswith("Error: --before-weeks must be a whole number of weeks from 8 "
                                                   "to 520"), err
    assert not (tmp_path / "o").exists()


def test_cli_on_a_sparse_target_prints_the_sentence_and_no_effect_size(cli_sample_db, truth, tmp_path, monkeypatch,
                                                                       capsys, key_env):
    with store_mod.opened(cli_sample_db, read_only=True) as st:
        cell = _quiet_cell(st, truth["start_week"])
    monkeypatch.setattr(sys, "argv", ["hotspots", "evaluate", "--db", str(cli_sample_db), "--target", cell,
                                      "--start", truth["start_week"], "--end", truth["end_week"], "--out",
                                      str(tmp_path / "o")])
    with pytest.raises(SystemExit) as info:
        cli.main()
    captured = capsys.readouterr()
    assert info.value.code == 0, captured.err
    text = " ".join(captured.out.split())
    assert "Too sparse to evaluate: no fall of up to 95 % is detectable" in text
    assert "no effect size claimed" in text and " did " not in text
