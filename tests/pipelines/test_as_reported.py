"""Counts "as reported by" an origin (pipelines.as_reported): the one-pass form used for every origin equals
rebuilding the cube at each origin from only the reports known by then."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest

from analytics.errors import InvalidInputError
from analytics.weeks import week_label
from pipelines import as_reported, cube as cube_mod
from pipelines.backtest import cube_at_origin, store_reported_by
from pipelines.ingest import ingest_file
from tests.conftest import REPORT_HEADER, TEST_KEY, report, write_csv

HEADER = REPORT_HEADER + ["reported_at"]
FIRST, LAST = "2025-W05", "2025-W12"
MEASURES = ("reports", "reports_sighting", "reports_found", "reports_community", "found_episodes")


def _late_store(tmp_path, store, seed: int = 3) -> int:
    """~120 reports over 8 weeks in 5 cells; a third reported 1-25 days late (some as a date only)."""
    rng = np.random.default_rng(seed)
    monday = date(2025, 1, 27)  # 2025-W05
    rows = []
    for i in range(120):
        day = monday + timedelta(days=int(rng.integers(0, 56)))
        hour = int(rng.integers(0, 24))
        obs = f"{day.isoformat()}T{hour:02d}:30:00+11:00"
        rep = ""
        if rng.random() < 0.35:
            later = day + timedelta(days=int(rng.integers(1, 26)))
            rep = later.isoformat() if rng.random() < 0.3 else f"{later.isoformat()}T08:00:00+11:00"
        elif rng.random() < 0.2:
            rep = obs  # reported at once
        k = int(rng.integers(0, 5))
        rows.append(report(report_id=f"R{i}", observed_at=obs, reported_at=rep, lat=f"{-33.87 - 0.004 * k:.4f}",
                           lon="151.2070", kind=str(rng.choice(["sighting", "found"])),
                           source=str(rng.choice(["police", "community"]))))
    res = ingest_file(store, "reports", write_csv(tmp_path / "late.csv", HEADER, rows), TEST_KEY)
    assert res.accepted == 120, res.reasons
    return int(store.con.execute("select count(*) from location_reports where reported_at is not null and "
                                 "reported_at - observed_at > interval 7 day").fetchone()[0])


def _by_cell(cells: np.ndarray, counts: np.ndarray) -> dict[int, list[float]]:
    return {int(c): [float(x) for x in row] for c, row in zip(cells, counts)}


def test_one_pass_equals_a_rebuild_at_every_origin(tmp_path, store):
    assert _late_store(tmp_path, store) > 5
    cube_mod.build_cube(store, None, FIRST, LAST)
    full = {m: cube_mod.cube_arrays(store, m) for m in MEASURES}
    weeks = full["reports"][3]
    late = as_reported.late_reports(store, store.resolution, weeks)
    assert late is not None and len(late) > 5
    one_pass = {}
    for m in MEASURES:
        cells, counts, _, _ = full[m]
        hook = store_reported_by(store, store.resolution, m, weeks)
        assert (hook is None) == (m == "found_episodes")
        for t in range(len(weeks)):
            one_pass[m, t] = (cells, cube_at_origin(counts, cells, t, hook))
    per_origin = {}
    for t in range(len(weeks)):
        c, n, _, w, _ = cube_mod.as_reported_arrays(store, week_label(weeks[t]), FIRST)
        assert len(w) == t + 1
        per_origin[t] = _by_cell(c, n)
    # the rebuild: at each origin (latest first) delete what was not yet reported, build the cube again
    removed_total = 0
    for t in reversed(range(len(weeks))):
        label = week_label(weeks[t])
        removed_total += store.con.execute(
            "delete from location_reports where reported_at >= $k",
            {"k": cube_mod.week_end(label, store.timezone)}).fetchone()[0]
        cube_mod.build_cube(store, None, FIRST, label)
        for m in MEASURES:
            cells, counts, _, _ = cube_mod.cube_arrays(store, m)
            rebuilt = _by_cell(cells, counts)
            got = _by_cell(*one_pass[m, t])
            assert set(rebuilt) <= set(got)
            assert {c: got[c] for c in rebuilt} == rebuilt, (m, t)
            assert all(sum(v) == 0 for c, v in got.items() if c not in rebuilt)
            if m == "reports":
                assert {c: per_origin[t][c] for c in rebuilt} == rebuilt
    assert removed_total > 5  # the rebuild really left reports out


def test_distinct_counts_are_refused_when_reports_are_late(tmp_path, store):
    _late_store(tmp_path, store)
    cube_mod.build_cube(store, None, FIRST, LAST)
    weeks = cube_mod.cube_arrays(store, "reports")[3]
    late = as_reported.late_reports(store, store.resolution, weeks)
    with pytest.raises(InvalidInputError, match="distinct"):
        late.for_measure("young_people")
    assert store_reported_by(store, store.resolution, "found_episodes", weeks) is None
