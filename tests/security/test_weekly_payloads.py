"""End to end: places named with the payload corpus, through ``ingest`` and ``run_weekly``.

The committed SYNTHETIC sample (ingested once per session, copied) gets its places ingested again with
every place renamed to a payload (the places file itself carries a name that could name a child) and
its episodes with a few payload genders (both go through ingest's update path: staging, then the same
insert into the current table as a new row), the store gets areas named with the payloads,
and the weekly run is made from a scratch working folder. The run must succeed, every output
file (HTML, CSV, GeoJSON) must show the names literally or escaped, nothing may run (no
evaluated template, no extra script, no file created), and the input file name must not appear
in any shared output.
"""

from __future__ import annotations

import csv
import html
import json
import os
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from shapely.geometry import box, shape

from pipelines.render.analyst_map import analyst_map
from pipelines.render.map_parts import render_html
from pipelines.render.patrol_map import patrol_map
from pipelines import store as store_mod
from pipelines.csv_out import neutralise
from pipelines.evaluate import run_evaluation
from pipelines.ingest import ingest_file
from pipelines.layout import file_path
from pipelines.resources import shipped_dir
from pipelines.weekly import ANALYST_OUTPUTS, SHARED_OUTPUTS, run_weekly
from pipelines.layout import file_path
from tests.conftest import TEST_KEY, duckdb_one_thread, shared_sample_store
from tests.security.payloads import DISTINCTIVE, LONG_INGESTIBLE, NEVER, PAYLOADS, shown

SAMPLE = shipped_dir("data_samples")
FAST = {"hotspots": {"scan_replicates": 49}}
#: A places file name that could name a child: it must never reach a shared output.
CHILD_FILE = "Jane Citizen dob 04-03-2011 {{ 7*7 }}.geojson"
#: The name of the place a disruption is evaluated at (shown in evaluation.html).
TARGET_NAME = "Hotel {{ 7*7 }} end </script><img src=x onerror=alert(1)> =HYPERLINK(\"http://x\")"
NAMES = PAYLOADS + [LONG_INGESTIBLE]
#: An areas file name that could name a child (the layer is stored under the user's --layer-name only).
AREAS_FILE = "Jane Citizen wards {{ 7*7 }}.geojson"
_ADD_RE = re.compile(r"geo_json_\w+_add\(")


@pytest.fixture(scope="module")
def payload_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("payload_weekly")
    cwd = base / "cwd"
    cwd.mkdir()
    places = json.loads((SAMPLE / "places.geojson").read_text(encoding="utf-8"))
    intervention = json.loads((SAMPLE / "ground_truth.json").read_text())["interventions"][0]
    for i, feature in enumerate(places["features"]):
        feature["properties"]["name"] = NAMES[i % len(NAMES)]
        if feature["properties"]["place_id"] == intervention["place_id"]:  # the evaluated place
            feature["properties"]["name"] = TARGET_NAME
    places_path = base / CHILD_FILE
    places_path.write_text(json.dumps(places, ensure_ascii=False), encoding="utf-8")
    episodes = pd.read_csv(SAMPLE / "episodes.csv", dtype=str, keep_default_na=False)
    genders = [t for t in PAYLOADS if t.isprintable()]  # line breaks in a CSV field are ingest's business
    episodes.loc[episodes.index[-40:], "gender"] = [genders[i % len(genders)] for i in range(40)]
    episodes_path = base / "episodes.csv"
    episodes.to_csv(episodes_path, index=False)
    areas_path = base / AREAS_FILE  # 4 x 4 areas over the boundary's extent, named with the payloads
    x0, y0, x1, y1 = shape(json.loads((SAMPLE / "boundary.geojson").read_text())["features"][0]["geometry"]).bounds
    dx, dy = (x1 - x0) / 4, (y1 - y0) / 4
    areas_path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": NAMES[(3 * (4 * j + i)) % len(NAMES)]},
         "geometry": box(x0 + i * dx, y0 + j * dy, x0 + (i + 1) * dx, y0 + (j + 1) * dy).__geo_interface__}
        for j in range(4) for i in range(4)]}, ensure_ascii=False), encoding="utf-8")
    # the sample as ingested once per session (boundary, places, episodes, reports, disruptions), copied;
    # the payload places and episodes then go through ingest again as updates: the same read, staging
    # rules and insert into the current table as new rows (pipelines.ingest._apply), checked below
    sample = shared_sample_store(tmp_path_factory)
    db = base / "payload.duckdb"
    shutil.copyfile(sample.db, db)
    db.chmod(0o600)
    truth = sample.truth
    old = os.getcwd()
    os.chdir(cwd)  # anything a payload made with a relative path would land here
    try:
        with duckdb_one_thread(), store_mod.opened(db) as st:
            results = {kind: ingest_file(st, kind, path, TEST_KEY)
                       for kind, path in (("places", places_path), ("episodes", episodes_path))}
            ingest_file(st, "areas", areas_path, TEST_KEY, area_options={"layer_name": "wards"})
            stored = [r[0] for r in st.con.execute("select name from places").fetchall()]
        # --units areas: area names in every output
        with duckdb_one_thread(), store_mod.opened(db, read_only=True) as st:
            run = run_weekly(st, truth["weeks"][1], base / "weekly",
                             config={"hotspots": {**FAST["hotspots"], "units": "areas"}}, analyst_detail=True,
                             formats=("gpkg",))
            evaluation = run_evaluation(st, intervention["place_id"], intervention["start_week"],
                                        intervention["end_week"], "reports_non_police", 2, base / "evaluation",
                                        n_boot=100)
    finally:
        os.chdir(old)
    return {"base": base, "cwd": cwd, "run": run, "out": run.out_dir, "stored": stored, "results": results,
            "n_places": len(places["features"]),
            "evaluation": evaluation, "eval_out": base / "evaluation"}


def _files(out: Path) -> dict[str, Path]:
    return {p.name: p for p in out.rglob("*") if p.is_file()}


def _blobs(page: str) -> list[dict]:
    dec = json.JSONDecoder()
    return [dec.raw_decode(page, m.end())[0] for m in _ADD_RE.finditer(page)]


def test_the_run_succeeds_and_creates_nothing_else(payload_run):
    assert payload_run["run"].privacy_findings == []
    assert not list(payload_run["cwd"].iterdir()), "a payload created a file in the working folder"
    assert not [p for p in payload_run["base"].rglob("*") if "PWNED" in p.name]
    names = set(_files(payload_run["out"]))
    assert set(SHARED_OUTPUTS) | set(ANALYST_OUTPUTS) <= names
    assert all(Path(n).suffix in (".html", ".csv", ".geojson", ".json", ".parquet", ".gpkg") for n in names), names


def test_payload_names_were_ingested(payload_run):
    stored = set(payload_run["stored"])
    assert len(stored & set(NAMES)) >= 0.8 * len(set(NAMES))  # the run really carried the payloads
    # every payload place replaced the sample's row through ingest (none kept, none refused), and so did
    # the episodes given payload genders
    places, episodes = payload_run["results"]["places"], payload_run["results"]["episodes"]
    assert places.read == places.updated == payload_run["n_places"] and places.rejected == 0
    assert episodes.updated == 40


def test_no_html_output_runs_anything(payload_run):
    files = _files(payload_run["out"])
    benign = {"analyst_map.html": render_html(analyst_map(pd.DataFrame({"cell": [], "category": []}))),
              "patrol_map.html": render_html(patrol_map(pd.DataFrame(
                  {c: [] for c in ("rank", "priority", "cell", "places", "windows", "dose", "reason")})))}
    for name in ("analyst_map.html", "patrol_map.html", "report.html", "report_analyst_detail.html"):
        page = files[name].read_text(encoding="utf-8")
        for bad in NEVER:
            assert bad not in page, (name, bad)
        scripts = page.lower().count("<script")
        assert scripts == (benign[name].lower().count("<script") if name in benign else 0), name
        assert not re.search(r"""\b(?:href|src)\s*=\s*["']?\s*javascript:""", page, re.IGNORECASE), name
        assert "http://" not in page and "https://" not in page, name
        for blob in _blobs(page):  # every embedded GeoJSON block parses
            assert blob["type"] == "FeatureCollection"


def test_analyst_map_shows_every_stored_name(payload_run):
    page = file_path(payload_run["out"], "analyst_map.html").read_text(encoding="utf-8")
    names = {html.unescape(f["properties"]["name"]) for b in _blobs(page) for f in b["features"]
             if f["properties"].get("layer") == "place"}
    assert names == set(payload_run["stored"])
    for text in DISTINCTIVE:
        if text in payload_run["stored"]:
            assert shown(text, page), text


def test_plan_outputs_show_the_names_literally(payload_run):
    out = payload_run["out"]
    gj = json.loads((out / "patrol_plan.geojson").read_text(encoding="utf-8"))
    texts = [f["properties"]["places"] or "" for f in gj["features"]]
    assert any(any(name in t for name in PAYLOADS) for t in texts), "no payload name reached the plan"
    patrol = (out / "patrol_map.html").read_text(encoding="utf-8")
    report = (out / "report.html").read_text(encoding="utf-8")
    for t in texts:
        if t:
            assert shown(t, patrol) and shown(t, report), t
    plan = pd.read_csv(out / "patrol_plan.csv", dtype={"places": str}, keep_default_na=False)
    assert plan["rank"].dtype.kind == "i" and plan["priority"].dtype.kind == "i"
    assert plan["places"].tolist() == [neutralise(t) for t in texts]
    with open(out / "patrol_plan.csv", newline="", encoding="utf-8") as fh:
        for row in csv.reader(fh):
            for field in row:
                assert not field.startswith(("=", "+", "@", "\t", "\r")), field
                assert not field.startswith("-") or re.fullmatch(r"-\d+(\.\d+)?", field), field  # numbers only


def test_hotspots_geojson_keeps_names_as_data(payload_run):
    hot = json.loads(file_path(payload_run["out"], "hotspots.geojson").read_text(encoding="utf-8"))
    texts = " ".join(f["properties"].get("places") or "" for f in hot["features"])
    assert any(name in texts for name in DISTINCTIVE)


def test_area_names_stay_data_in_the_plan_and_the_area_results(payload_run):
    out = payload_run["out"]
    gj = json.loads((out / "patrol_plan.geojson").read_text(encoding="utf-8"))
    names = [f["properties"]["area_name"] or "" for f in gj["features"]]
    assert names and all(names), "every plan entry names its area"
    plan = pd.read_csv(out / "patrol_plan.csv", dtype={"area_name": str}, keep_default_na=False)
    assert plan["area_name"].tolist() == [neutralise(t) for t in names]  # formulas cannot run (checked above too)
    area = json.loads(file_path(out, "area_hotspots.geojson").read_text(encoding="utf-8"))
    given = [NAMES[(3 * k) % len(NAMES)].strip() for k in range(16)]  # trimmed; a blank one is "wards <id>"
    assert [f["properties"]["area_name"] for f in area["features"]] == [
        t or f"wards {k + 1}" for k, t in enumerate(given)]


def test_input_file_names_never_reach_shared_outputs(payload_run):
    files = _files(payload_run["out"])
    stem, areas_stem = Path(CHILD_FILE).stem, Path(AREAS_FILE).stem
    for name in SHARED_OUTPUTS:
        text = files[name].read_bytes().decode("utf-8", errors="replace")  # GeoPackages are SQLite files
        for form in (CHILD_FILE, stem, html.escape(stem), AREAS_FILE, areas_stem, "Jane Citizen"):
            assert form not in text, (name, form)
    report = files["report.html"].read_text(encoding="utf-8")
    assert re.search(r"<td>B?\d+</td><td>places</td>", report)  # the batch is listed by id and kind


def test_evaluation_outputs_show_the_target_name_literally(payload_run):
    out = payload_run["eval_out"]
    page = (out / "evaluation.html").read_text(encoding="utf-8")
    assert payload_run["evaluation"]["target"]["name"] == TARGET_NAME
    assert shown(TARGET_NAME, page)
    for bad in NEVER:
        assert bad not in page, bad
    assert "<script" not in page.lower() and "http://" not in page
    for name in ("series_weekly.csv", "series_synthetic_control.csv"):
        frame = pd.read_csv(out / name)
        assert frame.select_dtypes("number").shape[1] >= 2, name  # series stay numeric
        with open(out / name, newline="", encoding="utf-8") as fh:
            for row in csv.reader(fh):
                for field in row:
                    assert not field.startswith(("=", "+", "@", "\t", "\r")), field
