"""The patrol sheet printed by a real browser: one A4 landscape page, everything on it.

A 10-entry plan (ranks 6 and 10, 7 and 9 in adjacent cells, so their labels would collide
where they were drawn at the cell centres) is rendered by :func:`pipelines.render.patrol_map.patrol_map`,
printed to PDF by headless chromium (``--print-to-pdf --no-pdf-header-footer``) and loaded
with a small checker script appended to a copy of the page, which measures the drawn rank
labels. Asserted: exactly one page of 842 × 595 pt (± 2); title, dates, time zone, legend,
north arrow, scale bar, outline and every rank label in the DOM; no two labels overlap and
every label lies inside the map frame; no console output and no network request. The PDF
and a screenshot are kept under ``tests/artifacts/``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import h3
import numpy as np
import pandas as pd
import pytest

from pipelines.render.map_parts import render_html
from pipelines.render.patrol_map import patrol_map
from pipelines.patrol_sheet import plan_week_dates
from tests.browser.test_maps_in_chromium import FLAGS, _artifacts, chromium, load_page, screenshot  # noqa: F401

pytestmark = pytest.mark.browser

TITLE = "Protective presence plan — test sheet"
TZ = "Australia/Sydney"
_CHECK = """<script>
setTimeout(function () {
  var labels = Array.prototype.slice.call(document.querySelectorAll('.leaflet-tooltip.hs-rank'));
  var map = document.querySelector('.folium-map').getBoundingClientRect();
  var rects = labels.map(function (el) { return el.getBoundingClientRect(); });
  var overlaps = 0, outside = 0;
  for (var i = 0; i < rects.length; i++) {
    var a = rects[i];
    if (a.left < map.left || a.top < map.top || a.right > map.right || a.bottom > map.bottom) { outside++; }
    for (var j = i + 1; j < rects.length; j++) {
      var b = rects[j];
      if (a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom) { overlaps++; }
    }
  }
  var out = document.createElement('pre');
  out.id = 'hs-check';
  out.textContent = JSON.stringify({labels: labels.map(function (el) { return el.textContent; }),
                                    overlaps: overlaps, outside: outside});
  document.body.appendChild(out);
}, 1000);
</script>"""


def ten_entry_plan() -> pd.DataFrame:
    """Ten single-cell entries around Sydney; ranks 6/10 and 7/9 sit in adjacent cells."""
    rng = np.random.default_rng(3)
    spread = [h3.latlng_to_cell(-33.87 + a, 151.21 + b, 9) for a, b in rng.uniform(-0.03, 0.03, (6, 2))]
    cells = spread + [h3.grid_ring(spread[0], 1)[0], h3.grid_ring(spread[0], 1)[3],
                      h3.grid_ring(spread[1], 1)[0], h3.grid_ring(spread[1], 1)[2]]
    ranks = [1, 2, 3, 4, 5, 8, 6, 10, 7, 9]
    assert h3.grid_distance(cells[6], cells[7]) <= 2 and h3.grid_distance(cells[8], cells[9]) <= 2
    centres = [h3.cell_to_latlng(c) for c in cells]
    return pd.DataFrame({
        "rank": ranks, "priority": [1 if r <= 3 else 2 if r <= 6 else 3 for r in ranks], "kind": "emerging",
        "area_name": "", "places": [f"Place {r} (park, 80 m); Station {r} (train_station, 210 m)" for r in ranks],
        "lat": [round(la, 5) for la, _ in centres], "lon": [round(lo, 5) for _, lo in centres],
        "windows": "Fri 22:00–24:00; Sat 21:00–23:00", "time_zone": TZ, "dose": "Visits of 10–15 minutes.",
        "expected": np.nan, "expected_low": np.nan, "expected_high": np.nan, "reason": "New hot spot",
        "cells": cells,
    })


@pytest.fixture(scope="module")
def sheet(tmp_path_factory):
    plan = ten_entry_plan()
    outline = {"type": "Polygon", "coordinates": [[[151.17, -33.91], [151.25, -33.91], [151.25, -33.83],
                                                   [151.17, -33.83], [151.17, -33.91]]]}
    folder = tmp_path_factory.mktemp("sheet")
    page = folder / "patrol_map.html"
    page.write_text(render_html(patrol_map(plan, title=TITLE, dates=plan_week_dates("2025-W26"), outline=outline)),
                    encoding="utf-8")
    return {"plan": plan, "page": page, "folder": folder}


def _pdf_pages(data: bytes) -> list[tuple[float, float]]:
    """(width, height) in points of every page object (``/Type /Page``, not ``/Pages``)."""
    pages = re.findall(rb"/Type\s*/Page(?![a-zA-Z])", data)
    boxes = [tuple(float(v) for v in m.split()) for m in re.findall(rb"/MediaBox\s*\[([^\]]*)\]", data)]
    sizes = [(b[2] - b[0], b[3] - b[1]) for b in boxes]
    assert len(sizes) >= 1 or not pages
    return sizes[:len(pages)] if len(sizes) >= len(pages) else sizes + [sizes[-1]] * (len(pages) - len(sizes))


def test_patrol_sheet_prints_on_one_a4_landscape_page(chromium, sheet, tmp_path):
    pdf = tmp_path / "patrol_sheet.pdf"
    cmd = [chromium, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=3000",
           "--host-resolver-rules=MAP * ~NOTFOUND", "--no-pdf-header-footer", f"--print-to-pdf={pdf}",
           sheet["page"].resolve().as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and pdf.is_file(), proc.stderr[-2000:]
    data = pdf.read_bytes()
    sizes = _pdf_pages(data)
    assert len(sizes) == 1, f"{len(sizes)} pages"
    assert re.findall(rb"/Count\s+(\d+)", data) == [b"1"]
    width, height = sizes[0]
    assert abs(width - 842) <= 2 and abs(height - 595) <= 2, (width, height)
    shutil.copy(pdf, _artifacts() / "patrol_sheet.pdf")


def test_patrol_sheet_content_and_labels_in_chromium(chromium, sheet, tmp_path):
    html = sheet["page"].read_text(encoding="utf-8")
    checked = tmp_path / "checked.html"
    checked.write_text(html.replace("</body>", _CHECK + "</body>") if "</body>" in html else html + _CHECK,
                       encoding="utf-8")
    result = load_page(chromium, checked, tmp_path / "work")
    assert result["console"] == [], result["console"]
    assert result["requests"] == [] and "http://" not in html and "https://" not in html
    dom = result["dom"]
    assert TITLE in dom and "Mon 30 Jun – Sun 6 Jul 2025" in dom and f"times in {TZ}" in dom
    for element in ('id="hs-legend"', 'id="hs-north"', 'id="hs-plan"', "leaflet-control-scale", 'class="hs-study'):
        assert element in dom, element
    found = json.loads(re.search(r'<pre id="hs-check">(.*?)</pre>', dom, re.S).group(1))
    ranks = sorted(sheet["plan"]["rank"].tolist())
    assert sorted(int(t) for t in found["labels"]) == ranks  # every rank label drawn, once
    assert found["overlaps"] == 0 and found["outside"] == 0, found
    rows = re.findall(r"<tr><td><b>(\d+)</b></td>", dom)
    assert [int(r) for r in rows] == ranks  # the table, in rank order
    for cell in sheet["plan"]["cells"]:
        assert cell in dom
    screenshot(chromium, sheet["page"], tmp_path, "patrol_sheet.png", size="1123,794")
