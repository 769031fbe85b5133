"""benchmarks.placebo: null targets drawn as agencies choose them, and a small placebo suite.

The full >= 200-target run lives in ``python -m benchmarks.placebo``; here a few targets check
the machinery and the one rule that must hold on any data: a method's false-positive rate and
its coverage of zero add up to 1 (its interval excludes zero exactly when its p <= 0.05).
Calibration targets are not asserted (measured and reported in benchmarks/RESULTS.md).
"""

from __future__ import annotations

import numpy as np
import pytest

from analytics import grid
from benchmarks import placebo
from benchmarks.ranking import REAL, build_cube, load_chicago, load_sample


def _check_summary(s: dict, targets: int | None = None) -> None:
    for name in placebo.METHODS:
        x = s[name]
        if x.get("n"):
            assert x["fpr"] + x["coverage"] == pytest.approx(1.0), (name, x)
            assert -1 < x["median"]
            assert x["n"] <= s["evaluable"]
    # targets too sparse to evaluate (decided from the before period) are counted, never silently dropped
    if targets is not None:
        assert s["too_sparse"] + s["evaluable"] == targets
    if s["evaluable"]:
        assert 0 <= s["verdict"]["fpr"] <= 1
        # an evaluable target always gets a DiD estimate (a zero count after the start included)
        assert s["did"]["n"] == s["evaluable"]


def test_draw_target_picks_a_busy_place_before_the_start():
    ev = load_sample()[0]
    y, cells, weeks, _ = build_cube(ev)
    ring1 = grid.neighbour_matrix(cells, 1)
    rng = np.random.default_rng(1)
    for _ in range(5):
        start, post_weeks, row = placebo.draw_target(y, ring1, rng)
        assert placebo.SELECT_WEEKS <= start <= y.shape[1] - post_weeks and post_weeks == placebo.POST_WEEKS
        place = np.asarray(ring1 @ y[:, start - placebo.SELECT_WEEKS:start].sum(1)).ravel()
        active = place[place > 0]
        assert place[row] >= np.quantile(active, 0.9)


def _connected(cells) -> bool:
    import h3

    hexes = [h3.int_to_str(int(c)) for c in cells]
    seen, todo = {hexes[0]}, [hexes[0]]
    while todo:
        c = todo.pop()
        for n in hexes:
            if n not in seen and h3.are_neighbor_cells(c, n):
                seen.add(n)
                todo.append(n)
    return len(seen) == len(hexes)


def test_draw_place_is_a_plan_like_connected_busy_group():
    from analytics.plan_places import MAX_PLACE_CELLS

    ev = load_sample()[0]
    y, cells, weeks, _ = build_cube(ev)
    rng = np.random.default_rng(4)
    for _ in range(5):
        start, post_weeks, rows = placebo.draw_place(y, cells, rng)
        assert placebo.SELECT_WEEKS <= start <= y.shape[1] - post_weeks
        assert 1 <= len(rows) <= MAX_PLACE_CELLS and len(set(rows.tolist())) == len(rows)
        assert _connected(cells[rows])
        recent = y[:, start - placebo.SELECT_WEEKS:start].sum(1)
        # the place's best cell is among the busiest cells before the start (a top-20 plan entry's seed)
        assert recent[rows].max() >= np.sort(recent)[::-1][placebo.PLACES_TOP * 7]


def test_placebo_suite_on_the_synthetic_sample(tmp_path):
    r = placebo.run_dataset(load_sample()[0], 3, seed=2)
    assert r["failed"] == 0
    _check_summary(r["summary"], 3)
    assert set(r["rules"]) == set(placebo.RULES) and r["rules"][placebo.RULE] == r["summary"]
    text = placebo.markdown([r], "header line")
    assert placebo.SECTION in text and "false-positive rate" in text
    path = tmp_path / "RESULTS.md"
    path.write_text("# Benchmark results\n\n## Other\n\nkept\n")
    placebo.write_section(text, path)
    placebo.write_section(text, path)
    out = path.read_text()
    assert out.count(placebo.SECTION) == 1 and "kept" in out


@pytest.mark.skipif(not (REAL / "chicago").exists(), reason=f"real data absent ({REAL}); the sample suite still runs")
@pytest.mark.parametrize("design", placebo.DESIGNS)
def test_placebo_suite_on_real_chicago_data(design):
    r = placebo.run_dataset(load_chicago()[0], 4, seed=3, design=design)
    assert r["failed"] == 0 and r["weeks"] >= placebo.SELECT_WEEKS + placebo.MIN_POST
    assert "panel_poisson" in placebo.METHODS and r["design"] == design
    assert (r["place_cells"] is None) == (design == "cells") and (design == "cells" or sum(r["place_cells"]) == 4)
    assert r["name"].endswith("plan-like places") == (design == "places")
    _check_summary(r["summary"], 4)
    for rule in placebo.RULES:
        _check_summary(r["rules"][rule], 4)


def test_a_run_saved_line_by_line_renders_the_same_section(tmp_path, monkeypatch):
    r = placebo.run_dataset(load_sample()[0], 2, seed=5, design="places")
    saved = tmp_path / "runs.jsonl"
    results = tmp_path / "RESULTS.md"
    import json

    saved.write_text(json.dumps(r, default=float) + "\n")
    assert placebo.main(["--from-saved", str(saved), "--results", str(results)]) == 0
    text = results.read_text()
    assert placebo.SECTION in text and r["name"] in text and "panel regression" in text


def test_a_short_design_draws_distinct_targets_from_every_start_and_busy_place_it_allows():
    ev = load_sample()[0]
    y, cells, _, _ = build_cube(ev)
    y = y[:, :26]                                      # as short as San Francisco 2012
    ring1 = grid.neighbour_matrix(cells, 1)
    d = placebo.SHORT_DESIGNS["sf"]
    with pytest.raises(ValueError):                    # the default design does not fit 26 weeks
        placebo.draw_target(y, ring1, np.random.default_rng(0))
    for design in placebo.DESIGNS:
        pool = placebo.candidates(y, cells, ring1, design, d["select_weeks"], d["post_weeks"])
        starts = sorted({c[0] for c in pool})
        assert starts == list(range(d["select_weeks"], 26 - placebo.MIN_POST + 1))
        assert all(post == min(d["post_weeks"], 26 - start) >= placebo.MIN_POST for start, post, _, _ in pool)
        keys = [(s, r, None if p is None else tuple(p)) for s, _, r, p in pool]
        assert len(set(keys)) == len(keys)             # every allowed target once
        if design == "places":
            assert all(len(p) <= 7 and r is None for _, _, r, p in pool)
            assert len(pool) <= placebo.PLACES_TOP * len(starts)


@pytest.mark.slow  # reads the four SF shapefiles (~7 s); CI runs the slow suite
@pytest.mark.skipif(not (REAL / "sf2012").exists(), reason=f"real data absent ({REAL}); the sample suite still runs")
def test_san_francisco_runs_under_its_short_design_with_all_four_layers():
    ev = placebo.load_sf_all()[0]
    assert "four layers" in ev.name and len(ev.lat) > 13_000     # 3,384 + 3,897 + 2,761 + 3,430 less dropped rows
    r = placebo.run_dataset(ev, 3, seed=4, key="sf", short=placebo.SHORT_DESIGNS["sf"],
                            before_weeks=placebo.DEFAULT_BEFORE_WEEKS)
    assert r["weeks"] == 26 and r["failed"] == 0 and r["targets"] == 3 and r["distinct_pool"] > 200
    assert r["before_weeks"] == r["select_weeks"] == 13 and r["post_weeks"] == 13  # the short design overrides 26
    _check_summary(r["summary"], 3)
    assert "short design: 13-week selection and before period" in placebo.markdown([r], "header")
