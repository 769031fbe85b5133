"""Smoke test of the benchmark suite at toy sizes: row shape, ratio direction, outputs.

No timing assertions: ratios are reported by ``python -m benchmarks.run``, never asserted.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest

from benchmarks import run
from benchmarks.common import ROW_KEYS, Row, ratio_of
from benchmarks.figures import FIGURES, NOT_YET, QUICK
from tests.conftest import build_once, shared_root

TOY = replace(QUICK, label="toy", h3_points=20_000, gi_cells=500, gi_weeks=20, esda_weeks=2, pmk_cells=50,
              scan_cells=200, scan_weeks=20, scan_replicates=19, reports=5_000, weekly_reports=5_000,
              weekly_scan_replicates=19, map_cells=(500, 6_000), repeats=1,
              notebooks=())  # the notebooks run in test_notebooks.py


def _toy_run(out) -> None:
    results, js = out / "RESULTS.md", out / "rows.json"
    (out / "code").write_text(str(run.main(["--results", str(results), "--json", str(js)], sizes_override=TOY)))


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    """The toy benchmark run, once per session for every xdist worker (tests.conftest.build_once)."""
    out = build_once(shared_root(tmp_path_factory), "bench_toy_run", _toy_run)
    return (int((out / "code").read_text()), (out / "RESULTS.md").read_text(encoding="utf-8"),
            json.loads((out / "rows.json").read_text(encoding="utf-8")))


@pytest.mark.slow  # the toy run: ~14 s of CPU, most of it one weekly run of a year-long city
def test_every_figure_measured(toy_run):
    code, _, rows = toy_run
    assert code == 0, [r for r in rows if r["ours"] is None]
    assert len(rows) >= len(FIGURES)


@pytest.mark.slow  # the toy run: ~14 s of CPU, most of it one weekly run of a year-long city
def test_row_shape_and_ratio_direction(toy_run):
    _, _, rows = toy_run
    for r in rows:
        assert tuple(r) == ROW_KEYS
        assert isinstance(r["figure"], str) and r["figure"]
        assert r["ours"] > 0 and r["baseline"] > 0
        assert isinstance(r["met"], bool)
        higher = r["unit"].endswith("/s")  # throughputs; s and GB are costs
        expected = r["ours"] / r["baseline"] if higher else r["baseline"] / r["ours"]
        assert math.isclose(r["ratio"], expected, rel_tol=1e-12)


@pytest.mark.slow  # the toy run: ~14 s of CPU, most of it one weekly run of a year-long city
def test_markdown_lists_rows_machine_and_unbuilt_figures(toy_run):
    _, md, rows = toy_run
    assert "| # | figure | unit | ours | baseline | ratio | target | met? |" in md
    assert "cores (os.cpu_count)" in md and "GiB memory" in md and "Python 3.11" in md
    assert "duckdb" in md and "h3ronpy" in md
    for fig, _ in NOT_YET:
        assert fig in md
    assert md.count("not yet measured (command not built)") == len(NOT_YET)
    assert md.count("\n| ") - 2 >= len(rows) + len(NOT_YET)


def test_ratio_greater_than_one_means_ours_better():
    assert ratio_of(10.0, 2.0, "higher") == 5.0     # 10 rows/s vs 2 rows/s
    assert ratio_of(2.0, 10.0, "lower") == 5.0      # 2 s vs 10 s
    row = Row("x", "s", 4.0, 2.0, "lower", 0.5, "within 2×")
    assert row.ratio == 0.5 and row.met is True
    assert Row("x", "s", None, 2.0, "lower", 0.5, "-").met is None


def test_only_selects_figures(tmp_path):
    js = tmp_path / "rows.json"
    run.main(["--only", "scan", "--results", str(tmp_path / "R.md"), "--json", str(js)], sizes_override=TOY)
    rows = json.loads(js.read_text(encoding="utf-8"))
    assert len(rows) == 1 and "scan" in rows[0]["figure"]


@pytest.mark.slow  # the toy run: ~14 s of CPU, most of it one weekly run of a year-long city
def test_weekly_and_map_figures_are_measured(toy_run):
    _, md, rows = toy_run
    weekly = [r for r in rows if r["figure"].startswith("`hotspots weekly` end to end")]
    assert len(weekly) == 1 and weekly[0]["unit"] == "s"
    assert "run.json timings_s" in md and "weekly.timings_s" in md
    maps = [r for r in rows if r["figure"].startswith("Analyst map")]
    assert {r["unit"] for r in maps} == {"s", "MB"} and len(maps) == 4  # time + size for each of 2 sizes
