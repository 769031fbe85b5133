"""End to end (issue 12, item 2): a young person missing from, and found at, their own care home every
second day must not turn the home into a place to patrol.

A small SYNTHETIC city is generated with ``plant_repeat_home=True`` and ingested WITHOUT a placements
file, so the home is known to the run only as a placement derived from where episodes start. Without
the safeguarding rules the home's cell is the plan's first entry (``rank_without_rule`` in withheld.csv
says so); with them it, and every cell within 300 m of the home that lacks three sources unlinked to
it, is absent from patrol_plan.csv/.geojson, patrol_map.html and report.html, the analyst-only
withheld.csv lists it as a safeguarding referral, and the run's privacy scan passes. Planting the home's
cell back into a shared file makes the scan fail.
"""

from __future__ import annotations

import json
import shutil

import h3
import numpy as np
import pandas as pd
import pytest

from analytics.privacy import key_fingerprint
from analytics.safeguarding import PLACEMENT_RADIUS_M, WITHHELD_REASONS, RULE_NEAR_PLACEMENT, cells_near_placements
from pipelines import store as store_mod
from pipelines.ingest import ingest_file
from pipelines.layout import file_path
from pipelines.placements import known_and_derived_placements
from pipelines.privacy_scan import ANALYST_ONLY_FILES, SHARED_FILES, scan_outputs, store_forbidden, store_raw_points
from pipelines.synthesize import write_synthetic_city
from pipelines.weekly import run_weekly
from pipelines import publish
from tests.conftest import TEST_KEY, duckdb_one_thread

SHARED = ("patrol_plan.csv", "patrol_plan.geojson", "patrol_map.html", "report.html")


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    base = tmp_path_factory.mktemp("repeat_home")
    paths = write_synthetic_city(base / "in", seed=7, weeks=30, scale=5000, plant_repeat_home=True)
    truth = json.loads(paths["ground_truth"].read_text())
    db = base / "store.duckdb"
    store_mod.init_store(db, key_fingerprint=key_fingerprint(TEST_KEY))
    # no placements file: the home must be derived from the episodes
    with duckdb_one_thread(), store_mod.opened(db) as st:
        for kind, name in (("boundary", "boundary"), ("places", "places"), ("episodes", "episodes"),
                           ("reports", "location_reports")):
            ingest_file(st, kind, paths[name], TEST_KEY)
    with duckdb_one_thread(), store_mod.opened(db, read_only=True) as st:
        run = run_weekly(st, truth["weeks"][1], base / "out", config={"hotspots": {"scan_replicates": 19}})
        placements = known_and_derived_placements(st)
    homes = pd.read_csv(paths["placements"])
    home = homes[homes["placement_ref"] == truth["repeat_home"]["placement_ref"]].iloc[0]
    return {"db": db, "run": run, "out": run.out_dir, "truth": truth, "home": (float(home["lat"]), float(home["lon"])),
            "placements": placements}


def test_the_plant_is_in_the_generated_data(city):
    rh = city["truth"]["repeat_home"]
    assert rh["placement_type"] == "residential" and rh["episodes"] >= 100
    assert rh["cell"] == h3.latlng_to_cell(*city["home"], 9)
    # the run derived the home (no placements file) within one cell of where it really is
    derived = city["placements"][city["placements"]["source"] == "derived"]
    assert len(derived) > 0 and (derived["radius_m"] > PLACEMENT_RADIUS_M).all()
    home_cell = h3.latlng_to_cell(*city["home"], 9)
    assert any(h3.latlng_to_cell(la, lo, 9) == home_cell for la, lo in zip(derived["lat"], derived["lon"]))


def test_the_home_is_withheld_for_the_analyst(city):
    withheld = pd.read_csv(file_path(city["out"], "withheld.csv"))
    row = withheld[withheld["cell"] == city["truth"]["repeat_home"]["cell"]]
    assert len(row) == 1
    row = row.iloc[0]
    assert row["rule"] == RULE_NEAR_PLACEMENT and row["reason"] == WITHHELD_REASONS[RULE_NEAR_PLACEMENT]
    assert "safeguarding referral, not a patrol" in row["reason"]
    assert row["rank_without_rule"] <= 10, "without the rule the home would have been in the plan"
    assert row["young_people"] <= 2 and row["min_unlinked_sources"] < 3
    assert "withheld.csv" in ANALYST_ONLY_FILES and "withheld.csv" not in SHARED_FILES
    # the analyst list names cells only: no coordinate columns, nothing of the home but its cell
    assert not {"lat", "lon", "placement_ref", "placement_key"} & set(withheld.columns)


def test_no_shared_output_points_at_the_home(city):
    out, home = city["out"], city["home"]
    home_cell = city["truth"]["repeat_home"]["cell"]
    for name in SHARED:
        assert home_cell not in (out / name).read_text(encoding="utf-8"), name
    plan = pd.read_csv(out / "patrol_plan.csv")
    assert len(plan) == 10, "the plan takes the next-best cells and stays full"
    near_home = cells_near_placements(
        np.array([h3.str_to_int(c) for cs in plan["cells"] for c in cs.split(";")], dtype=np.uint64),
        pd.DataFrame({"placement_key": ["home"], "lat": [home[0]], "lon": [home[1]],
                      "radius_m": [PLACEMENT_RADIUS_M]}))
    approved = {a.cell: a for a in city["run"].safeguard.approvals}
    for cell in near_home["cell"].tolist():  # a cell near the home is shown only with the rule's evidence
        assert cell in approved and approved[cell].min_unlinked_sources >= 3
    meta = json.loads(file_path(out, "run.json").read_text())
    assert home_cell not in meta["weekly"]["plan_cells"]
    assert home_cell in meta["weekly"]["safeguarding"]["withheld"]


def test_the_run_privacy_scan_passes_and_an_independent_scan_agrees(city):
    assert city["run"].privacy_findings == []
    assert json.loads(file_path(city["out"], "run.json").read_text())["weekly"]["privacy"]["findings"] == []
    true_home = pd.DataFrame({"lat": [city["home"][0]], "lon": [city["home"][1]]})  # the real location, 300 m
    findings = scan_outputs(city["out"], true_home, set(), None, approved=city["run"].safeguard.approvals)
    assert findings == [], "\n".join(map(str, findings))


def _scan(folder, city):
    with store_mod.opened(city["db"], read_only=True) as st:
        return scan_outputs(folder, known_and_derived_placements(st), store_forbidden(st), store_raw_points(st),
                            approved=city["run"].safeguard.approvals)


def test_the_home_cell_injected_into_a_shared_file_fails_the_scan(city, tmp_path):
    for name in SHARED:
        shutil.copy(city["out"] / name, tmp_path / name)
    assert _scan(tmp_path, city) == []
    home_cell = city["truth"]["repeat_home"]["cell"]
    plan = pd.read_csv(tmp_path / "patrol_plan.csv")
    lat, lon = h3.cell_to_latlng(home_cell)
    leak = plan.iloc[:1].assign(cell=home_cell, lat=round(lat, 5), lon=round(lon, 5))
    pd.concat([plan, leak]).to_csv(tmp_path / "patrol_plan.csv", index=False)
    kinds = {(f.file, f.kind) for f in _scan(tmp_path, city)}
    assert kinds == {("patrol_plan.csv", "placement_cell"), ("patrol_plan.csv", "placement_coordinate")}


def test_the_home_cell_id_alone_in_the_report_fails_the_scan(city, tmp_path):
    shutil.copy(city["out"] / "report.html", tmp_path / "report.html")
    path = tmp_path / "report.html"
    home_cell = city["truth"]["repeat_home"]["cell"]
    path.write_text(path.read_text(encoding="utf-8").replace("</body>", f"<code>{home_cell}</code></body>"),
                    encoding="utf-8")
    assert {(f.file, f.kind) for f in _scan(tmp_path, city)} == {("report.html", "placement_cell")}


def test_without_the_rules_the_cli_run_fails_its_privacy_check(city, tmp_path, monkeypatch, capsys, key_env):
    """The scanner is independent of the rules: with a rule that withholds nothing, the home's cell reaches
    the plan, and ``hotspots weekly`` exits 1 with a privacy failure."""
    import sys

    from analytics import safeguarding
    from pipelines import cli

    real = safeguarding.assess_cells

    def withhold_nothing(*args, **kwargs):
        d = real(*args, **kwargs)
        return safeguarding.SafeguardDecision(d.cells.assign(withheld=False, rule=None), ())

    monkeypatch.setattr(safeguarding, "assess_cells", withhold_nothing)
    config = tmp_path / "hotspots.toml"
    config.write_text("[hotspots]\nscan_replicates = 19\n")
    monkeypatch.setattr(sys, "argv", ["hotspots", "weekly", "--db", str(city["db"]), "--week", city["truth"]["weeks"][1],
                                      "--out", str(tmp_path / "out"), "--config", str(config)])
    with duckdb_one_thread(), pytest.raises(SystemExit) as info:
        cli.main()
    err = capsys.readouterr().err
    assert info.value.code == 1
    assert "Error: Privacy check found" in err and "placement_cell" in err
    assert not (tmp_path / "out" / city["truth"]["weeks"][1]).exists()  # nothing published
    kept = publish.withheld_path(tmp_path / "out", city["truth"]["weeks"][1])  # owner-only, for inspection
    plan = pd.read_csv(kept / "patrol_plan.csv")
    assert city["truth"]["repeat_home"]["cell"] in {c for cs in plan["cells"] for c in cs.split(";")}
