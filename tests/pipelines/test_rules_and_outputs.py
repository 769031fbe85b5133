"""Issue 13, items 9 and 10: ``--rules default|arcgis`` from the CLI and config, GeoParquet /
GeoPackage outputs covered by the privacy scan, 80-column tables, and the demo's "what next" commands.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, Polygon

from analytics.engine import RULE_SETS, HotspotParams, rules_record
from analytics.errors import InvalidInputError
from pipelines import cli
from pipelines.layout import file_path
from pipelines.hotspots_run import parse_formats
from pipelines.privacy_scan import ANALYST_ONLY_FILES, SHARED_FILES, scan_outputs
from pipelines.weekly import validate_config
from pipelines.layout import file_path
from tests.conftest import REPORT_HEADER, TEST_KEY, report, write_csv
from tests.pipelines.test_police_only import make_store
from tests.conftest import run_cli

WEEK = "2025-W30"
HOTSPOTS_EXE = Path(sys.executable).parent / "hotspots"




@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Path:
    return make_store(tmp_path_factory.mktemp("rules_store"))


# ------------------------------------------------------------------------------ rules (item 9)
def test_rule_sets_resolve_and_explicit_options_win():
    default = HotspotParams()
    assert (default.rules, default.p_method, default.fdr, default.share_basis) == ("default", "poisson", "cube",
                                                                                   "uncorrected")
    arcgis = HotspotParams(rules="arcgis")
    assert (arcgis.p_method, arcgis.fdr, arcgis.share_basis) == ("normal", "cube", "fdr")
    mixed = HotspotParams(rules="arcgis", p_method="poisson", fdr="week")
    assert (mixed.p_method, mixed.fdr, mixed.share_basis) == ("poisson", "week", "fdr")
    record = rules_record(mixed)
    assert record["set"] == "arcgis" and record["evidence_for_rise"] is False
    assert record["p_method"] == {"value": "poisson", "from": "explicit"}
    assert record["fdr"] == {"value": "week", "from": "explicit"}
    assert record["share_basis"] == {"value": "fdr", "from": "rules arcgis"}
    assert rules_record(default)["evidence_for_rise"] is True
    assert set(RULE_SETS) == {"default", "arcgis"}
    with pytest.raises(InvalidInputError, match="rules must be one of default, arcgis; received 'esri'"):
        HotspotParams(rules="esri")


def test_rules_is_a_config_key():
    cfg = validate_config({"hotspots": {"rules": "arcgis", "fdr": "week"}})
    params = HotspotParams(**cfg["hotspots"])
    assert (params.p_method, params.fdr, params.share_basis) == ("normal", "week", "fdr")
    with pytest.raises(InvalidInputError, match="rules must be one of default, arcgis"):
        validate_config({"hotspots": {"rules": "esri"}})
    with pytest.raises(InvalidInputError, match="unknown key"):
        validate_config({"hotspots": {"rule_sources": []}})


def test_cli_rules_recorded_in_run_json(db, tmp_path, monkeypatch, capsys, key_env):
    runs = {}
    for name, extra in (("default", []), ("arcgis", ["--rules", "arcgis"]),
                        ("arcgis_fdr_week", ["--rules", "arcgis", "--fdr", "week"])):
        code, _, err = run_cli(monkeypatch, capsys, "hotspots", "--db", str(db), "--week", WEEK, "--replicates", "0",
                               "--out", str(tmp_path / name), *extra)
        assert code == 0, err
        runs[name] = json.loads(file_path(tmp_path / name, "run.json").read_text())
    assert runs["default"]["rules"]["p_method"] == {"value": "poisson", "from": "rules default"}
    assert runs["arcgis"]["rules"] == {"set": "arcgis", "evidence_for_rise": False,
                                       "p_method": {"value": "normal", "from": "rules arcgis"},
                                       "fdr": {"value": "cube", "from": "rules arcgis"},
                                       "share_basis": {"value": "fdr", "from": "rules arcgis"}}
    assert runs["arcgis_fdr_week"]["rules"]["fdr"] == {"value": "week", "from": "explicit"}
    assert runs["arcgis"]["parameters"]["p_method"] == "normal"
    hot = {n: pd.read_parquet(file_path(tmp_path / n, "hotspots.parquet")) for n in ("default", "arcgis")}
    assert not np.allclose(hot["default"]["p"], hot["arcgis"]["p"])  # normal vs Poisson tails
    assert (hot["arcgis"]["rise_weeks"] == 0).all()
    assert (hot["arcgis"]["share_hot_weeks"] == hot["arcgis"]["hot_weeks"]).all()
    for command in ("hotspots", "weekly"):
        code, _, err = run_cli(monkeypatch, capsys, command, "--db", str(db), "--rules", "esri")
        assert (code, err.strip()) == (1, "Error: --rules 'esri' is not a rule set; use default or arcgis.")


# ------------------------------------------------------------------------------ GIS outputs (item 10)
@pytest.fixture(scope="module")
def weekly_gpkg(db, tmp_path_factory):
    out = tmp_path_factory.mktemp("weekly_gpkg")
    mp = pytest.MonkeyPatch()
    mp.setenv("HOTSPOTS_KEY", TEST_KEY.decode())
    mp.setattr(sys, "argv", ["hotspots", "weekly", "--db", str(db), "--week", WEEK, "--out", str(out),
                             "--rules", "arcgis", "--format", "gpkg"])
    try:
        with pytest.raises(SystemExit) as info:
            cli.main()
    finally:
        mp.undo()
    assert info.value.code == 0
    return out / WEEK


def test_hotspots_parquet_is_geoparquet_of_the_hexagons(weekly_gpkg):
    geo = gpd.read_parquet(file_path(weekly_gpkg, "hotspots.parquet"))
    assert geo.crs.to_epsg() == 4326
    assert set(geo.geometry.geom_type) == {"Polygon"}
    assert all(h3.is_valid_cell(c) for c in geo["cell"])
    row = geo.iloc[0]
    hexagon = Polygon([(lon, lat) for lat, lon in h3.cell_to_boundary(row["cell"])])
    assert row.geometry.symmetric_difference(hexagon).area < 1e-12
    assert {"category", "reason", "z", "p"} <= set(geo.columns)


def test_gpkg_outputs_open_and_are_scanned(weekly_gpkg):
    hot = gpd.read_file(file_path(weekly_gpkg, "hotspots.gpkg"))
    plan = gpd.read_file(weekly_gpkg / "patrol_plan.gpkg")
    assert len(hot) == len(gpd.read_parquet(file_path(weekly_gpkg, "hotspots.parquet"))) and hot.crs.to_epsg() == 4326
    csv = pd.read_csv(weekly_gpkg / "patrol_plan.csv")
    assert plan["cells"].tolist() == csv["cells"].tolist() and set(plan.geometry.geom_type) == {"Polygon"}
    assert "patrol_plan.gpkg" in SHARED_FILES and "hotspots.gpkg" in ANALYST_ONLY_FILES
    meta = json.loads(file_path(weekly_gpkg, "run.json").read_text())
    assert meta["weekly"]["privacy"]["findings"] == []
    assert meta["rules"]["set"] == "arcgis"
    assert {"hotspots_gpkg", "patrol_plan_gpkg"} <= set(meta["outputs"])


def test_privacy_scan_reads_gpkg(tmp_path):
    placement = (-33.8700, 151.2070)
    frame = gpd.GeoDataFrame({"cell": ["x"], "note": ["seen with pk_0123456789abcdef"]},
                             geometry=[Point(151.207112, -33.870013)], crs=4326)  # ~10 m from it
    for name in ("patrol_plan.gpkg", "hotspots.gpkg"):
        frame.to_file(tmp_path / name, driver="GPKG", layer="layer")
    found = scan_outputs(tmp_path, pd.DataFrame({"lat": [placement[0]], "lon": [placement[1]]}), [], None)
    kinds = {(f.file, f.kind) for f in found}
    assert ("patrol_plan.gpkg", "person_ref") in kinds and ("patrol_plan.gpkg", "placement_coordinate") in kinds
    assert ("hotspots.gpkg", "person_ref") in kinds  # analyst-only: references only
    assert ("hotspots.gpkg", "placement_coordinate") not in kinds


def test_format_is_validated():
    assert parse_formats(None) == () and parse_formats("gpkg") == ("gpkg",) and parse_formats("GPKG, gpkg") == ("gpkg",)
    with pytest.raises(InvalidInputError, match="--format shp is not supported; use gpkg"):
        parse_formats("shp")


# ------------------------------------------------------------------------------ 80 columns (item 10)
def _check_80(text: str) -> None:
    long = [line for line in text.splitlines() if len(line) > 80 and not line.lstrip().startswith(str(HOTSPOTS_EXE))]
    assert not long, long
    assert "…" not in text


def test_tables_fit_80_columns_in_a_pipe(tmp_path):
    env = {**os.environ, "HOTSPOTS_KEY": TEST_KEY.decode(), "COLUMNS": "80"}
    store = tmp_path / "narrow.duckdb"
    bad = [report(report_id=f"R{i}", lat="95" if i % 2 else "-33.87",
                  observed_at="2025-03-01T22:15:00+11:00" if i % 2 else "32/13/2025 10:00") for i in range(6)]
    long_name = tmp_path / "location_reports_exported_from_the_records_system_2025.csv"
    write_csv(long_name, REPORT_HEADER, bad + [report(report_id="OK1")])
    outputs = []
    for args in (["init"], ["ingest", "reports", str(long_name)], ["quarantine"], ["audit"]):
        done = subprocess.run([str(HOTSPOTS_EXE), *args, "--db", str(store)], capture_output=True, text=True,
                              env=env, cwd=tmp_path, timeout=120)
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout)
    for text in outputs:
        _check_80(text)
    ingest_out = outputs[1]
    for header in ("accepted", "duplicate", "rejected"):
        assert header in ingest_out
    assert "top reasons (" in ingest_out


# ------------------------------------------------------------------------------ demo (item 10)
@pytest.mark.slow  # runs the demo and five commands on it: about 1.5 minutes on 2 cores
def test_demo_what_next_commands_run_as_printed(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("HOTSPOTS_DB",)}
    env["HOTSPOTS_KEY"] = TEST_KEY.decode()
    env["PATH"] = "/usr/bin:/bin"  # a fresh shell without the venv on the PATH
    done = subprocess.run([str(HOTSPOTS_EXE), "demo", "--dir", "demo"], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr
    after = done.stdout.split("What next", 1)[1].splitlines()[1:]
    commands = [line.strip() for line in after if line.strip() and not line.strip().startswith("#")]
    assert len(commands) >= 4 and any("--res 8" in c for c in commands)
    assert all(c.startswith(str(HOTSPOTS_EXE)) for c in commands), commands
    for command in commands:
        ran = subprocess.run(command, shell=True, capture_output=True, text=True, env=env, cwd=tmp_path,
                             timeout=600)
        assert ran.returncode == 0, (command, ran.stderr[-2000:])
    assert (tmp_path / "demo" / "cube_res8.parquet").is_file()
