"""``run_backtest`` on the committed SYNTHETIC sample (3 origins, a fast forecast; the CLI default is 26)."""

from __future__ import annotations

import json
import pickle
import shutil
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from analytics.errors import InvalidInputError
from analytics.forecast import ForecastParams
from analytics.plan_backtest import METHODS, PLAN_SIZE
from pipelines import layout
from pipelines import store as store_mod
from pipelines.backtest import (SUMMARY_COLUMNS, cube_at_origin, method_label, run_backtest, store_reported_by,
                                terminal_table, withheld_mask)
from tests.conftest import build_once, shared_root

FAST = ForecastParams(max_iter=20, train_origins=8, validation_origins=3, model="linear")
SIZES = [PLAN_SIZE, "0.1 %", "0.5 %", "1 %", "5 %"]


@pytest.fixture(scope="module")
def sample_db(sample_store):
    """The session's read-only SYNTHETIC sample store (tests/conftest.py); copy it before writing."""
    return sample_store.db


def _backtest(folder, sample_db) -> None:
    out, seen = folder / "bt_out", []
    with store_mod.opened(sample_db, read_only=True) as st:
        r = run_backtest(st, weeks=3, out_dir=out, n_boot=200, forecast_params=FAST,
                         progress=lambda done, total: seen.append((done, total)))
    (folder / "result.pickle").write_bytes(pickle.dumps((r, seen)))


@pytest.fixture(scope="module")
def result(sample_db, tmp_path_factory):
    """The backtest, once per session for every xdist worker (tests.conftest.build_once); read its outputs only."""
    folder = build_once(shared_root(tmp_path_factory), "sample_backtest", lambda f: _backtest(f, sample_db))
    r, seen = pickle.loads((folder / "result.pickle").read_bytes())
    return r, folder / "bt_out", seen


def test_backtest_scores_the_plan_and_every_coverage_against_the_baselines(result):
    r, out, seen = result
    assert seen[-1] == (3, 3)
    on_disk = json.loads(layout.output_path(out, "backtest_json").read_text())
    assert on_disk["origins"]["n"] == 3 and on_disk["synthetic"] is True
    assert on_disk["sizes"] == SIZES
    summary = pd.DataFrame(on_disk["summary"])
    assert sorted(zip(summary["size"], summary["method"])) == sorted((s, m) for s in SIZES for m in METHODS)
    for k in ("hit_rate", "pai", "pei_star", "events_per_week"):
        assert (summary[f"{k}_low"] <= summary[k] + 1e-9).all() and (summary[k] <= summary[f"{k}_high"] + 1e-9).all()
    assert ((summary["pei_star"] >= 0) & (summary["pei_star"] <= 1)).all()
    n_cells = on_disk["n_cells"]
    for label, share in (("0.1 %", 0.001), ("5 %", 0.05)):
        assert (summary.loc[summary["size"] == label, "n_cells"] == int(np.ceil(share * n_cells))).all()
    # the plan's area holds the plan's cells, the same number for every method
    plan = summary[summary["size"] == PLAN_SIZE]
    assert plan["n_cells"].nunique() == 1 and 1 <= plan["n_cells"].iloc[0] <= 70


def test_headline_names_the_method_that_caught_the_most(result):
    r, _, _ = result
    plan = [row for row in r["summary"] if row["size"] == PLAN_SIZE]
    top = max(row["events_caught"] for row in plan)
    winners = [row["method"] for row in plan if row["events_caught"] >= top - 1e-9]
    head = r["headline"]
    if len(winners) == 1:
        assert head.startswith(method_label(winners[0]) + " caught the most")
    else:
        assert "tied" in head
    assert f"{top:.0f} of" in head
    assert r["targets"]["met"] == bool(r["targets"]["plan_area_ratio"] >= 1.1 and r["targets"]["pei_star_1pct_forecast"]
                                       >= r["targets"]["pei_star_1pct_best"])


def test_outputs_carry_words_synthetic_label_and_withheld_cells(result):
    r, out, _ = result
    assert set(r["outputs"]) == set(layout.BACKTEST_FILES)
    for path in r["outputs"].values():
        assert path.startswith(str(out / layout.ANALYST_DIR))
    summary = pd.read_csv(layout.output_path(out, "backtest_summary_csv"))
    assert {"Area", "Method", "Events caught per week", "Hit rate", "PAI", "PEI*"} <= set(summary.columns)
    assert set(summary["Method"]) == {method_label(m) for m in METHODS}
    assert summary["synthetic"].str.startswith("SYNTHETIC").all()
    per = pd.read_csv(layout.output_path(out, "backtest_origins_csv"))
    assert len(per) == 3 * len(SIZES) * len(METHODS) and "Origin week" in per.columns
    plans = pd.read_csv(layout.output_path(out, "backtest_plans_csv"))
    # the sample has placements and repeat-missing young people: the rules withhold cells at every origin
    assert len(plans) == 3 and (plans["Cells withheld (safeguarding)"] > 0).all()
    assert (plans["Plan entries"] <= 10).all()
    html = layout.output_path(out, "backtest_html").read_text()
    assert "SYNTHETIC DATA" in html and "<svg" in html and r["headline"].split(":")[0] in html.replace("&#39;", "'")
    assert SUMMARY_COLUMNS["events_per_week"] in html
    assert "http://" not in html and "https://" not in html and "<script" not in html
    lines = terminal_table(r)
    assert lines[0].split()[:2] == ["Area", "Method"] and len(lines) == 1 + len(SIZES) * len(METHODS)


def test_backtest_rejects_bad_options(sample_db, tmp_path):
    with store_mod.opened(sample_db, read_only=True) as st:
        with pytest.raises(InvalidInputError, match="coverage"):
            run_backtest(st, weeks=2, coverage=(0, 5), out_dir=tmp_path)
        with pytest.raises(InvalidInputError, match="history"):
            run_backtest(st, weeks=200, out_dir=tmp_path)


def test_cube_at_origin_leaves_out_reports_made_later(sample_db, tmp_path):
    db = tmp_path / "late.duckdb"
    shutil.copy(sample_db, db)
    with store_mod.opened(db) as st:
        cols = {c[0] for c in st.con.execute("describe location_reports").fetchall()}
        assert store_reported_by(st, st.resolution, "reports", []) is None or "reported_at" in cols
        if "reported_at" not in cols:  # migration 022 (bins) adds it; the hook reads it when present
            st.con.execute("alter table location_reports add column reported_at timestamptz")
        st.con.execute("update location_reports set reported_at = observed_at")
        assert store_reported_by(st, st.resolution, "reports", []) is None   # nothing reported late
        st.con.execute("update location_reports set reported_at = observed_at + interval 15 day "
                       "where hash(report_id) % 5 = 0")
        first = pd.Timestamp(st.con.execute("select min(observed_at) from location_reports").fetchone()[0])
        first = (first.tz_convert(st.timezone).normalize().tz_localize(None) - timedelta(days=first.weekday() + 7))
        weeks = [(first + timedelta(weeks=i)).date() for i in range(200)]
        hook = store_reported_by(st, st.resolution, "reports", weeks)
        late = st.con.execute("select count(*) from location_reports where reported_at > observed_at").fetchone()[0]
    assert hook is not None and late > 0
    late_frame = hook(60)
    assert len(late_frame) and (late_frame["week"] <= 60).all()
    cells = np.sort(late_frame["cell"].unique().astype(np.uint64))
    counts = np.full((len(cells), 70), 5.0)
    known = cube_at_origin(counts, cells, 60, hook)
    assert known.shape == (len(cells), 61)
    assert counts[:, :61].sum() - known.sum() == pytest.approx(len(late_frame))   # each late report removed once
    assert np.array_equal(cube_at_origin(counts, cells, 60), counts[:, :61])


def test_withheld_mask_matches_the_safeguarding_rules(sample_db):
    """The backtest's vectorised rules give assess_cells' decision (no scan clusters) on the sample."""
    from analytics import safeguarding
    from pipelines import cube as cube_mod
    from pipelines.placements import known_and_derived_placements, person_placements

    with store_mod.opened(sample_db, read_only=True) as st:
        cube_mod.prepare_events(st)
        last = st.con.execute("select max(week_start) from int_cell_events").fetchone()[0]
        ev = st.con.execute(
            "select cell, person_key, placement_key, kind, source from int_cell_events where event <> "
            "'episode_started' and cell is not null and week_start > $a and week_start <= $b",
            {"a": last - timedelta(weeks=safeguarding.DEFAULT_SOURCE_WEEKS), "b": last}).df()
        placements, links = known_and_derived_placements(st), person_placements(st)
    ev["cell"] = ev["cell"].astype(np.uint64)
    busy = ev["cell"].value_counts().index.to_numpy(dtype=np.uint64)[:400]
    near_all = safeguarding.cells_near_placements(ev["cell"].unique(), placements)
    cells = np.unique(np.concatenate([busy, near_all["cell"].to_numpy(np.uint64)[:300]]))
    expected = safeguarding.assess_cells(cells, ev, placements, links).withheld
    near = safeguarding.cells_near_placements(cells, placements)
    got = set(cells[withheld_mask(cells, ev, near, links)].tolist())
    assert got == expected and 0 < len(got) < len(cells)
