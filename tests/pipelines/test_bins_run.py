"""Sparse data in the engine run (issue 14, item 4): --bin-weeks, the auto rule's wider bins and coarser
grid, what run.json records, and that an explicit --bin-weeks or --res is kept."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import h3
import numpy as np
import pandas as pd
import pytest

from analytics.engine import HotspotParams
from analytics.errors import InvalidInputError
from analytics.privacy import key_fingerprint
from pipelines import cli, store as store_mod
from pipelines.hotspots_run import run_hotspots
from pipelines.ingest import ingest_file
from pipelines.layout import file_path
from pipelines.weekly import validate_config
from tests.conftest import REPORT_HEADER, TEST_KEY, report, write_csv
from tests.pipelines.test_weeks_and_resolution import in_process
from tests.pipelines.tiny_store import sydney_offset

WEEK = "2025-W30"
FIRST = date(2025, 7, 21) - timedelta(weeks=25)          # Monday of the window's first week (26 weeks)
CENTRE = (-33.8700, 151.2070)
#: A ~10 km square around the Sydney CBD (lon, lat): a study area where most cells are empty.
SQUARE = [[151.16, -33.915], [151.26, -33.915], [151.26, -33.825], [151.16, -33.825], [151.16, -33.915]]


def _rows(points: list[tuple[float, float]], days: list[date], prefix: str) -> list[dict]:
    return [report(report_id=f"{prefix}{i}", observed_at=f"{d.isoformat()}T20:00:00{sydney_offset(d)}",
                   lat=f"{lat:.5f}", lon=f"{lon:.5f}", person_ref=f"CHILD-{i % 9}")
            for i, ((lat, lon), d) in enumerate(zip(points, days))]


def _store(folder: Path, rows: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "store.duckdb"
    store_mod.init_store(db, key_fingerprint=key_fingerprint(TEST_KEY))
    (folder / "boundary.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [SQUARE]}}]}))
    with store_mod.opened(db) as st:
        ingest_file(st, "boundary", folder / "boundary.geojson", TEST_KEY)
        ingest_file(st, "reports", write_csv(folder / "reports.csv", REPORT_HEADER, rows), TEST_KEY)
    return db


def _days(rng, n: int) -> list[date]:
    return [FIRST + timedelta(days=int(d)) for d in rng.integers(0, 26 * 7, n)]


def _background(rng, n: int = 40) -> list[dict]:
    lats = rng.uniform(-33.91, -33.83, n)
    lons = rng.uniform(151.165, 151.255, n)
    return _rows(list(zip(lats, lons)), _days(rng, n), "BG")


@pytest.fixture(scope="module")
def chronic(tmp_path_factory):
    """One chronic place (24 reports in 26 weeks) in otherwise sparse data (40 reports over ~80 km²)."""
    rng = np.random.default_rng(7)
    rows = _background(rng) + _rows([CENTRE] * 24, _days(rng, 24), "CH")
    return _store(tmp_path_factory.mktemp("chronic"), rows)


@pytest.fixture(scope="module")
def spread(tmp_path_factory):
    """Ten quieter places (8 reports each in 26 weeks) within ~1.3 km: thin at res 9 even in 4-week bins."""
    rng = np.random.default_rng(11)
    rows = _background(rng)
    for j in range(10):
        spot = (CENTRE[0] + rng.uniform(-0.012, 0.012), CENTRE[1] + rng.uniform(-0.012, 0.012))
        rows += _rows([spot] * 8, _days(rng, 8), f"S{j}-")
    return _store(tmp_path_factory.mktemp("spread"), rows)


def _engine(db: Path, out: Path, **params):
    with store_mod.opened(db, read_only=True) as st:
        run_ = run_hotspots(st, HotspotParams(week=WEEK, scan_replicates=0, **params), out)
    meta = json.loads(Path(run_.outputs["run"]).read_text())
    hot = pd.read_parquet(file_path(out, "hotspots.parquet"))
    return run_, meta, hot


def _category_at(hot: pd.DataFrame, res: int, point=CENTRE) -> str:
    cell = h3.latlng_to_cell(point[0], point[1], res)
    return hot.loc[hot["cell"] == cell, "category"].iat[0]


def test_a_chronic_place_in_sparse_data_is_a_hot_spot_under_the_auto_rule(chronic, tmp_path):
    run_, meta, hot = _engine(chronic, tmp_path / "auto")
    assert run_.bin_weeks > 1 and run_.resolution == 9
    assert _category_at(hot, run_.resolution).endswith("_hot")
    bins = meta["bins"]
    assert bins["requested"] == "auto" and bins["auto"] and bins["bin_weeks"] == run_.bin_weeks
    assert meta["parameters"]["bin_weeks"] == run_.bin_weeks and meta["summary"]["bin_weeks"] == run_.bin_weeks
    assert bins["tried"][-1]["median_power"][str(run_.bin_weeks)] >= 0.9 > bins["tried"][-1]["median_power"]["1"]
    assert any(c.startswith(f"Bins set to {run_.bin_weeks} week(s)") for c in meta["choices"])
    # the count shown beside Gi*'s expected is per bin too: the last bin's events at the chronic place
    cell = h3.latlng_to_cell(*CENTRE, 9)
    cube = pd.read_parquet(file_path(tmp_path / "auto", "cube.parquet"))
    weekly = cube.loc[cube["cell"] == cell].sort_values("week_start")["reports"].to_numpy()
    row = hot.loc[hot["cell"] == cell].iloc[0]
    assert len(weekly) == 26 and row["count"] == weekly[-run_.bin_weeks:].sum()
    assert "four-week period" in row["reason"] or "fortnight" in row["reason"]


def test_explicit_bin_weeks_and_res_are_kept(chronic, tmp_path):
    run_, meta, hot = _engine(chronic, tmp_path / "one", bin_weeks=1, resolution=9)
    assert (run_.bin_weeks, run_.resolution) == (1, 9)
    assert meta["bins"]["auto"] is False and meta["bins"]["requested"] == 1
    assert "as given (--bin-weeks or [hotspots] bin_weeks)" in " ".join(meta["choices"])
    assert all("week" in r for r in hot["reason"].head(3))  # weekly bins: reasons in weeks


def test_thin_data_moves_to_a_coarser_grid_unless_res_is_given(spread, tmp_path):
    run_, meta, hot = _engine(spread, tmp_path / "auto")
    tried = meta["bins"]["tried"]
    assert tried[0]["resolution"] == 9 and tried[0]["thin"]      # why: at res 9 every width is too thin
    assert run_.resolution < 9 and meta["parameters"]["resolution"] == run_.resolution
    assert {h3.get_resolution(c) for c in hot["cell"]} == {run_.resolution}
    assert any("H3 resolution lowered to 8 (--res not given)" in c for c in meta["choices"])
    kept, meta9, hot9 = _engine(spread, tmp_path / "res9", resolution=9)
    assert kept.resolution == 9 and meta9["bins"]["thin"] and len(meta9["bins"]["tried"]) == 1
    assert {h3.get_resolution(c) for c in hot9["cell"]} == {9}


def test_config_and_cli_accept_only_known_widths(chronic, tmp_path, monkeypatch, capsys):
    run = lambda *args: in_process(monkeypatch, capsys, *args)  # noqa: E731  (the CLI's main, in-process)
    assert validate_config({"hotspots": {"bin_weeks": 2}})["hotspots"]["bin_weeks"] == 2
    assert validate_config({"hotspots": {"bin_weeks": "auto"}})["hotspots"]["bin_weeks"] == "auto"
    with pytest.raises(InvalidInputError, match="bin_weeks"):
        validate_config({"hotspots": {"bin_weeks": 3}})
    proc = run(tmp_path, "hotspots", "--db", str(chronic), "--week", WEEK, "--bin-weeks", "3", "--out", "h")
    assert proc.returncode == cli.EXIT_USER_ERROR and proc.stderr.strip().startswith("Error:")
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    proc = run(tmp_path, "hotspots", "--db", str(chronic), "--week", WEEK, "--bin-weeks", "2", "--replicates", "0",
               "--out", "h2", "--json")
    assert proc.returncode == cli.EXIT_OK, proc.stderr
    assert json.loads(proc.stdout)["summary"]["bin_weeks"] == 2
