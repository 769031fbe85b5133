"""The privacy scanner: clean on the sample's weekly outputs, and it catches planted leaks.

Each test copies one clean output file of the SYNTHETIC sample's weekly run into a fresh
folder, checks the copy scans clean, plants one leak and checks the scanner reports exactly
that kind of leak in that file.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h3
import pandas as pd
import pytest

from analytics.safeguarding import Approval
from pipelines import store as store_mod
from pipelines.layout import file_path
from pipelines.privacy_scan import (Finding, scan_outputs, store_forbidden, store_forbidden_strings,
                                    store_raw_points)
from pipelines.resources import shipped_dir
from tests.pipelines.test_weekly import sample_weekly

SAMPLE = shipped_dir("data_samples")


@pytest.fixture(scope="module")
def refs(tmp_path_factory):
    """The sample's weekly outputs and the reference sets the scanner needs."""
    weekly = sample_weekly(tmp_path_factory)
    placements = pd.read_csv(SAMPLE / "placements.csv")
    with store_mod.opened(weekly["db"], read_only=True) as st:
        forbidden = store_forbidden_strings(st) | set(placements["placement_ref"])
        raw = store_raw_points(st)
        person = st.con.execute("select person_key from episodes order by episode_id limit 1").fetchone()[0]
        report = st.con.execute("select lat, lon from location_reports order by report_id limit 1").fetchone()
    return {"out": weekly["out"], "db": weekly["db"], "placements": placements[["lat", "lon"]],
            "forbidden": forbidden, "raw": raw, "approved": weekly["run"].safeguard.approvals,
            "person": person, "report_point": report, "placement_point": tuple(placements.iloc[0][["lat", "lon"]])}


def _scan(folder: Path, refs: dict, **kw) -> list[Finding]:
    return scan_outputs(folder, refs["placements"], refs["forbidden"], refs["raw"], k=kw.get("k", 5),
                        approved=refs["approved"])


def _copy(refs: dict, name: str, tmp_path: Path) -> Path:
    shutil.copy(file_path(refs["out"], name), tmp_path / name)
    assert _scan(tmp_path, refs) == [], f"clean copy of {name} must scan clean"
    return tmp_path / name


def _kinds(findings: list[Finding]) -> set[tuple[str, str]]:
    return {(f.file, f.kind) for f in findings}


def test_sample_outputs_scan_clean(refs):
    findings = _scan(refs["out"], refs)
    assert findings == [], "\n".join(map(str, findings))


def test_catches_a_placement_coordinate_in_a_csv(refs, tmp_path):
    path = _copy(refs, "patrol_plan.csv", tmp_path)
    plan = pd.read_csv(path)
    lat, lon = refs["placement_point"]
    leak = plan.iloc[:1].assign(lat=lat, lon=lon)
    pd.concat([plan, leak]).to_csv(path, index=False)
    assert _kinds(_scan(tmp_path, refs)) == {("patrol_plan.csv", "placement_coordinate")}


def test_catches_a_coordinate_near_a_placement(refs, tmp_path):
    path = _copy(refs, "report.html", tmp_path)
    lat, lon = refs["placement_point"]
    near = f"{lat + 0.0002:.4f}, {lon:.4f}"  # ~22 m north, 4 decimals
    path.write_text(path.read_text(encoding="utf-8").replace("</body>", f"<p>Meet at {near}</p></body>"),
                    encoding="utf-8")
    assert ("report.html", "placement_coordinate") in _kinds(_scan(tmp_path, refs))


def test_catches_a_person_pseudonym_in_html(refs, tmp_path):
    path = _copy(refs, "report.html", tmp_path)
    html = path.read_text(encoding="utf-8")
    path.write_text(html.replace("</footer>", f"<p>{refs['person']}</p></footer>"), encoding="utf-8")
    findings = _scan(tmp_path, refs)
    assert _kinds(findings) == {("report.html", "person_ref")}
    assert refs["person"] not in str(findings[0]), "the finding masks the leaked value"


@pytest.mark.parametrize("ref", ["SYN-P00067", "SYN-E000001", "SYN-H0035"])
def test_catches_synthetic_ids_even_without_the_store(refs, tmp_path, ref):
    path = _copy(refs, "patrol_map.html", tmp_path)
    path.write_text(path.read_text(encoding="utf-8").replace("</body>", f"{ref}</body>"), encoding="utf-8")
    assert _kinds(scan_outputs(tmp_path, None, set(), None)) == {("patrol_map.html", "person_ref")}


def test_catches_a_raw_event_coordinate_in_geojson(refs, tmp_path):
    path = _copy(refs, "patrol_plan.geojson", tmp_path)
    data = json.loads(path.read_text())
    lat, lon = refs["report_point"]
    data["features"].append({"type": "Feature", "properties": {"note": "x"},
                             "geometry": {"type": "Point", "coordinates": [round(lon, 5), round(lat, 5)]}})
    path.write_text(json.dumps(data))
    assert ("patrol_plan.geojson", "event_coordinate") in _kinds(_scan(tmp_path, refs))


@pytest.mark.parametrize("snippet", ["<p>young people: 3</p>", "<p>Seen here: 2 young people</p>",
                                     '<table><tr><td class="num yp">4</td></tr></table>',
                                     '<script>var p = {"n_young_people": 1};</script>'])
def test_catches_unsuppressed_small_counts(refs, tmp_path, snippet):
    path = _copy(refs, "report.html", tmp_path)
    path.write_text(path.read_text(encoding="utf-8").replace("</body>", snippet + "</body>"), encoding="utf-8")
    assert _kinds(_scan(tmp_path, refs)) == {("report.html", "small_count")}


@pytest.mark.parametrize("snippet", ["<p>young people: &lt;5</p>", "<p>young people: 12</p>",
                                     "<p>young people: 0</p>", "<p>convergence_young_people = 3</p>",
                                     "<p>at least 3 young people from 2 placements (a parameter)</p>"])
def test_suppressed_or_large_counts_are_not_leaks(refs, tmp_path, snippet):
    path = _copy(refs, "report.html", tmp_path)
    path.write_text(path.read_text(encoding="utf-8").replace("</body>", snippet + "</body>"), encoding="utf-8")
    assert _scan(tmp_path, refs) == []


def test_catches_small_counts_in_a_csv_column(refs, tmp_path):
    path = _copy(refs, "patrol_plan.csv", tmp_path)
    pd.read_csv(path).assign(n_young_people=2).to_csv(path, index=False)
    assert _kinds(_scan(tmp_path, refs)) == {("patrol_plan.csv", "small_count")}


def test_unknown_files_are_scanned_as_shared(refs, tmp_path):
    lat, lon = refs["placement_point"]
    pd.DataFrame({"site": ["x"], "lat": [lat], "lon": [lon]}).to_parquet(tmp_path / "extra.parquet")
    assert _kinds(_scan(tmp_path, refs)) == {("extra.parquet", "placement_coordinate")}


def test_analyst_only_files_are_checked_for_person_refs_only(refs, tmp_path):
    path = _copy(refs, "analyst_map.html", tmp_path)
    lat, lon = refs["placement_point"]
    path.write_text(path.read_text(encoding="utf-8").replace(
        "</body>", f"<p>young people: 3 at {lat}, {lon}</p></body>"), encoding="utf-8")
    assert _scan(tmp_path, refs) == []  # exact counts and hull points are allowed in the analyst view
    path.write_text(path.read_text(encoding="utf-8").replace("</body>", f"{refs['person']}</body>"),
                    encoding="utf-8")
    assert _kinds(_scan(tmp_path, refs)) == {("analyst_map.html", "person_ref")}


def test_cell_geometry_near_a_placement_is_a_leak_unless_approved_with_evidence(refs, tmp_path):
    """A cell centre is grid geometry, but a cell near a home points at the home: it passes only when the
    safeguarding rule (b) approved the cell and its evidence is handed to the scanner."""
    path = _copy(refs, "patrol_plan.csv", tmp_path)
    plan = pd.read_csv(path)
    shutil.copy(refs["out"] / "patrol_plan.geojson", tmp_path / "patrol_plan.geojson")
    cell = plan["cells"].iloc[0]
    clat, clon = h3.cell_to_latlng(cell)
    near = pd.DataFrame({"lat": [clat + 0.00018], "lon": [clon]})  # a placement 20 m from the cell's centre
    kinds = _kinds(scan_outputs(tmp_path, near, set(), None))
    assert kinds == {("patrol_plan.csv", "placement_coordinate"), ("patrol_plan.csv", "placement_cell"),
                     ("patrol_plan.geojson", "placement_coordinate"), ("patrol_plan.geojson", "placement_cell")}
    ok = [Approval(h3.str_to_int(cell), placements=1, min_unlinked_sources=3)]
    assert scan_outputs(tmp_path, near, set(), None, approved=ok) == []
    weak = [Approval(h3.str_to_int(cell), placements=1, min_unlinked_sources=2)]  # evidence below rule (b)
    assert scan_outputs(tmp_path, near, set(), None, approved=weak) != []
    # an approved cell exempts its own centre and vertices only, never the home's own coordinates
    plan.assign(lat=near["lat"].iloc[0], lon=clon).to_csv(path, index=False)
    kinds = _kinds(scan_outputs(tmp_path, near, set(), None, approved=ok))
    assert kinds == {("patrol_plan.csv", "placement_coordinate")}


def test_a_hexagon_whose_centre_is_near_a_home_reveals_it(tmp_path):
    """A large (res 7) hexagon, drawn without its id: vertices over 1 km away, centre 250 m from a home."""
    home = (-33.80, 151.00)
    cell = h3.latlng_to_cell(*home, 7)
    clat, clon = h3.cell_to_latlng(cell)
    placement = pd.DataFrame({"lat": [clat + 250 / 111_320], "lon": [clon]})
    ring = [[round(lon, 6), round(lat, 6)] for lat, lon in h3.cell_to_boundary(cell)]
    gj = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"band": 1},
          "geometry": {"type": "Polygon", "coordinates": [ring + ring[:1]]}}]}
    (tmp_path / "patrol_plan.geojson").write_text(json.dumps(gj))
    findings = scan_outputs(tmp_path, placement, set(), None)
    assert _kinds(findings) == {("patrol_plan.geojson", "placement_coordinate")}
    assert "centroid" in findings[0].detail
    far = pd.DataFrame({"lat": [clat + 0.05], "lon": [clon]})  # 5.5 km away: nothing to find
    assert scan_outputs(tmp_path, far, set(), None) == []


def test_a_cell_id_near_a_home_is_a_leak(tmp_path):
    home = (-33.80, 151.00)
    cell = h3.latlng_to_cell(home[0] + 0.002, home[1], 9)  # about 220 m north of the home
    (tmp_path / "report.html").write_text(f"<html><body><code>{cell}</code></body></html>")
    placement = pd.DataFrame({"lat": [home[0]], "lon": [home[1]]})
    assert _kinds(scan_outputs(tmp_path, placement, set(), None)) == {("report.html", "placement_cell")}
    # a derived placement carries its own, wider radius
    far = h3.latlng_to_cell(home[0] + 0.0045, home[1], 9)  # about 500 m north
    (tmp_path / "report.html").write_text(f"<html><body><code>{far}</code></body></html>")
    assert scan_outputs(tmp_path, placement, set(), None) == []
    assert _kinds(scan_outputs(tmp_path, placement.assign(radius_m=600.0), set(), None)) == {
        ("report.html", "placement_cell")}


def test_forbidden_strings_with_spaces(refs, tmp_path):
    path = _copy(refs, "report.html", tmp_path)
    path.write_text(path.read_text(encoding="utf-8").replace("</body>", "Jane Citizen</body>"), encoding="utf-8")
    findings = scan_outputs(tmp_path, None, {"Jane Citizen"}, None)
    assert _kinds(findings) == {("report.html", "person_ref")}


def test_csv_rows_are_not_read_across_lines(refs, tmp_path):
    path = tmp_path / "plan.csv"
    path.write_text("rank,label\n1,SYNTHETIC — not real young people\n2,SYNTHETIC — not real young people\n")
    assert _scan(tmp_path, refs) == []
    path.write_text("label,n\nyoung people,3\n")
    assert _kinds(_scan(tmp_path, refs)) == {("plan.csv", "small_count")}


def test_store_lookup_finds_what_the_in_memory_set_finds(refs, tmp_path):
    """``store_forbidden`` (ids looked up in DuckDB) reports the same leaks as the ids copied into a set."""
    weekly = refs["out"]
    path = tmp_path / "report.html"
    shutil.copy(file_path(weekly, "report.html"), path)
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("</body>", f"<p>ref {refs['person']}</p></body>"), encoding="utf-8")
    shutil.copy(file_path(weekly, "analyst_map.html"), tmp_path / "analyst_map.html")
    with store_mod.opened(refs["db"], read_only=True) as st:
        in_memory = scan_outputs(tmp_path, None, store_forbidden_strings(st), None)
        in_store = scan_outputs(tmp_path, None, store_forbidden(st), None)
    assert in_memory == in_store
    assert ("report.html", "person_ref") in _kinds(in_store)


def _cell_with_short_vertex(res: int = 9) -> tuple[str, float, float]:
    """A cell one of whose vertices, rounded to 5 decimals, ends in "00" (so it prints with 3 decimals)."""
    lat0, lon0 = -33.70, 151.10
    for i in range(20_000):
        cell = h3.latlng_to_cell(lat0 + (i % 141) * 0.0011, lon0 + (i // 141) * 0.0013, res)
        for vlat, vlon in h3.cell_to_boundary(cell):
            if round(vlon, 5) == round(vlon, 3) and round(vlat, 5) != round(vlat, 4):
                return cell, vlat, vlon
    raise AssertionError("no such vertex found")


def test_an_approved_vertex_written_with_trailing_zeros_dropped_is_still_grid_geometry(tmp_path):
    """151.12900 is written 151.129 (3 decimals): it is still exactly the approved cell's vertex, so the
    plan is not withheld for it (seen on a 5 M-report SYNTHETIC run); a 3-decimal point that is not a grid
    point still is a leak."""
    cell, vlat, vlon = _cell_with_short_vertex()
    ring = [[round(lon, 5), round(lat, 5)] for lat, lon in h3.cell_to_boundary(cell)]
    assert any(len(json.dumps(v[0]).split(".")[1]) == 3 for v in ring)  # the short vertex is in the file
    gj = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"cells": cell},
          "geometry": {"type": "Polygon", "coordinates": [ring + ring[:1]]}}]}
    (tmp_path / "patrol_plan.geojson").write_text(json.dumps(gj))
    home = pd.DataFrame({"lat": [vlat + 200 / 111_320], "lon": [vlon]})  # 200 m from the vertex
    ok = [Approval(h3.str_to_int(cell), placements=1, min_unlinked_sources=3)]
    assert scan_outputs(tmp_path, home, set(), None, approved=ok) == []
    assert _kinds(scan_outputs(tmp_path, home, set(), None)) == {
        ("patrol_plan.geojson", "placement_coordinate"), ("patrol_plan.geojson", "placement_cell")}
    # a 3-decimal point 40 m off the vertex (not grid geometry) near the home is still found
    off = [[round(vlon, 3), round(vlat + 40 / 111_320, 5)]]
    gj["features"].append({"type": "Feature", "properties": {}, "geometry": {"type": "Point",
                                                                             "coordinates": off[0]}})
    (tmp_path / "patrol_plan.geojson").write_text(json.dumps(gj))
    assert _kinds(scan_outputs(tmp_path, home, set(), None, approved=ok)) == {
        ("patrol_plan.geojson", "placement_coordinate")}
