"""Real police data as a force would send it (issue 13, items 6, 7, 9, 10): Chicago's 2020 carjackings
(Chicago Open Data Portal via GeoDa Center data-and-lab; ../shared/data/real/README.md) as location
reports, all police-sourced, no episodes, in America/Chicago.

Skipped with a visible reason when ``../shared/data/real`` is not there (a fresh clone).
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import h3
import pandas as pd
import pytest

from analytics.privacy import key_fingerprint
from pipelines import store as store_mod
from pipelines.evaluate import run_evaluation
from pipelines.ingest import ingest_file
from pipelines.report import NO_EPISODES_LINE
from pipelines.weekly import run_weekly
from pipelines.layout import file_path
from tests.conftest import TEST_KEY

REAL = Path(__file__).resolve().parents[3] / "shared" / "data" / "real" / "chicago" / "chicago_carjackings_2020.geojson"
pytestmark = pytest.mark.skipif(not REAL.is_file(), reason=f"real data not found ({REAL}); see tests' docstring")
RES = 8


@pytest.fixture(scope="module")
def chicago(tmp_path_factory):
    folder = tmp_path_factory.mktemp("chicago")
    raw = gpd.read_file(REAL)
    reports = pd.DataFrame({
        "report_id": raw["ID"].astype(str),
        "observed_at": pd.to_datetime(raw["Date"], format="%m/%d/%Y %I:%M:%S %p").dt.strftime("%Y-%m-%d %H:%M:%S"),
        "lat": raw["Latitude"], "lon": raw["Longitude"], "source": "police", "kind": "other",
    })
    path = folder / "carjackings.csv"
    reports.to_csv(path, index=False)
    db = folder / "store.duckdb"
    store_mod.init_store(db, RES, "America/Chicago", key_fingerprint(TEST_KEY))
    with store_mod.opened(db) as st:
        result = ingest_file(st, "reports", path, TEST_KEY)
    assert result.accepted > 1300
    cells = [h3.latlng_to_cell(a, b, RES) for a, b in zip(raw["Latitude"], raw["Longitude"]) if a == a]
    busiest = pd.Series(cells).value_counts().index[0]
    return db, busiest


def test_real_police_only_evaluate_uses_reports_and_says_so(chicago, tmp_path):
    db, busiest = chicago
    with store_mod.opened(db, read_only=True) as st:
        result = run_evaluation(st, busiest, "2020-07-06", "2020-10-25", out_dir=tmp_path / "ev", n_boot=200)
    assert result["outcome"] == "reports"
    assert any(c.startswith("Outcome set to 'reports'") for c in result["choices"])
    assert json.loads((tmp_path / "ev" / "evaluation.json").read_text())["outcome"] == "reports"


def test_real_police_only_weekly_report_and_gis_outputs(chicago, tmp_path):
    db, _ = chicago
    with store_mod.opened(db, read_only=True) as st:
        run = run_weekly(st, "2020-W40", tmp_path, config={"hotspots": {"scan_replicates": 0, "rules": "arcgis"}},
                         formats=("gpkg",))
    html = (run.out_dir / "report.html").read_text(encoding="utf-8")
    assert NO_EPISODES_LINE in html and 'id="equity"' not in html
    assert 'id="single-source"' in html and "⚑" not in html
    assert "Rule set:</b> arcgis" in html
    geo = gpd.read_parquet(file_path(run.out_dir, "hotspots.parquet"))
    assert geo.crs.to_epsg() == 4326 and len(geo) == run.summary["cells"]
    assert len(gpd.read_file(run.out_dir / "patrol_plan.gpkg")) == run.summary["plan_cells"]
    assert not run.privacy_findings
