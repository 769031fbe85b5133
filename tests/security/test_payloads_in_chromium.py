"""The payload pages in a real browser: nothing in the data runs, even in tooltips, popups and the layer control.

The analyst and patrol maps are built with payloads that log ``PWNED`` to the console if they ever
run (markup with event handlers, a closing script tag, template expressions). A small harness
appended to a copy of each page (and an ``alert`` that logs instead of blocking) shows every overlay, then fires ``mouseover`` and ``click`` on
every feature (so every tooltip and popup is built with ``innerHTML``) and logs ``HARNESS-DONE n``.
Chromium runs the page headless with no network; the console must hold the harness line and
nothing else.
"""

from __future__ import annotations

import re

import pandas as pd
import pytest

from pipelines.render.analyst_map import analyst_map
from pipelines.render.map_parts import render_html
from pipelines.render.patrol_map import patrol_map
from tests.browser.test_maps_in_chromium import chromium, load_page  # noqa: F401 - the fixture is used
from tests.security.payloads import PAYLOADS
from tests.security.test_render_payloads import _analyst, _plan

pytestmark = pytest.mark.browser

RUNS = [
    "<img src=x onerror=\"console.log('PWNED-img')\">",
    "<svg onload=\"console.log('PWNED-svg')\"></svg>",
    "</script><script>console.log('PWNED-script')</script>",
    "'\"><img src=x onerror=console.log('PWNED-quote')>",
    "<iframe src=\"javascript:console.log('PWNED-iframe')\"></iframe>",
    "<a href=\"javascript:console.log('PWNED-href')\" id=pwned-link>x</a>",
]
TEXTS = RUNS + PAYLOADS

_HARNESS = """<script>
(function () {
  var groups = [%(groups)s], layers = [%(layers)s], n = 0;
  groups.forEach(function (g) { if (!%(map)s.hasLayer(g)) { %(map)s.addLayer(g); } });
  layers.forEach(function (g) {
    g.eachLayer(function (l) {
      var at = l.getLatLng ? l.getLatLng() : l.getBounds().getCenter();
      l.fire('mouseover', {latlng: at}, true);
      l.fire('click', {latlng: at}, true);
      n += 1;
    });
  });
  var link = document.getElementById('pwned-link');
  if (link) { link.click(); }
  console.log('HARNESS-DONE ' + n);
})();
</script>"""


def _with_harness(page: str) -> str:
    map_name = re.search(r"var (map_\w+) = L\.map", page).group(1)
    groups = re.findall(r"var (feature_group_\w+) = L\.featureGroup", page)
    layers = re.findall(r"var (geo_json_\w+) = L\.geoJson", page)
    script = _HARNESS % {"map": map_name, "groups": ", ".join(groups), "layers": ", ".join(layers)}
    # an alert() that ran would block headless chromium: make it log instead, before any page script
    trap = "<script>window.alert = function (m) { console.log('PWNED-alert ' + m); };</script>"
    return page.replace("<head>", "<head>" + trap, 1).replace("</html>", script + "\n</html>")


def _check(result: dict) -> int:
    lines = result["console"]
    pwned = [line for line in lines if "PWNED" in line]
    assert not pwned, pwned
    done = [line for line in lines if "HARNESS-DONE" in line]
    assert len(done) == 1, lines
    other = [line for line in lines if "HARNESS-DONE" not in line]
    assert other == [], other
    return int(re.search(r"HARNESS-DONE (\d+)", done[0]).group(1))


def test_analyst_map_payloads_never_run(chromium, tmp_path):  # noqa: F811
    page = tmp_path / "analyst.html"
    page.write_text(_with_harness(_analyst(TEXTS, RUNS[0], RUNS[2])), encoding="utf-8")
    result = load_page(chromium, page, tmp_path / "work")
    assert _check(result) >= 2 * len(TEXTS)  # every hexagon and place marker had its tooltip built
    dom = result["dom"]
    assert "leaflet-control-layers" in dom and "leaflet-tooltip" in dom  # tooltips were really opened
    assert not re.search(r"<(img|svg|iframe|a)\b[^>]*(onerror|onload|javascript:)", dom, re.IGNORECASE)
    assert result["requests"] == []


def test_patrol_map_payloads_never_run(chromium, tmp_path):  # noqa: F811
    page = tmp_path / "patrol.html"
    plan = _plan(TEXTS)
    page.write_text(_with_harness(render_html(patrol_map(plan, title=RUNS[1], subtitle=RUNS[3]))), encoding="utf-8")
    result = load_page(chromium, page, tmp_path / "work")
    assert _check(result) == len(plan)
    dom = result["dom"]
    assert 'id="hs-plan"' in dom and "leaflet-popup" in dom  # popups were really opened
    assert not re.search(r"<(img|svg|iframe|a)\b[^>]*(onerror|onload|javascript:)", dom, re.IGNORECASE)
    assert result["requests"] == []


def test_the_harness_catches_a_payload_that_runs(chromium, tmp_path):  # noqa: F811
    page = tmp_path / "unsafe.html"
    html = render_html(patrol_map(_plan(["a", "b"])))
    page.write_text(_with_harness(html.replace("<body>", "<body>" + RUNS[0], 1)), encoding="utf-8")
    with pytest.raises(AssertionError, match="PWNED-img"):
        _check(load_page(chromium, page, tmp_path / "work"))
