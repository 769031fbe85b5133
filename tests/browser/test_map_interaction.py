"""The analyst map used as people use it, in headless Chromium driven over the DevTools protocol.

A page with areas, places and 30 weeks of history (tests/analytics/test_map_context.py) and
the weekly sample's own analyst map are opened; the tests click, press Tab, type and shrink
the window, and assert:

* labels: area names at the opening zoom, place names from street zoom, none city-wide;
* the legend follows the layers: switching Gi* on in the layer control shows its section;
* a click on a hexagon (or an area) opens a popup with its reason and a 26-bar chart;
* keyboard: Tab reaches the search box and the layer control and never a hexagon;
* search: typing a place's name lists it, choosing it moves the map there;
* a phone-sized window starts with the layer control collapsed and the legend closed;
* offline MBTiles tiles are drawn from ``data:`` URIs;
* throughout: no console message, no exception, no network request.

Screenshots go to ``tests/artifacts/`` (git-ignored). Without chromium the tests skip
(``HOTSPOTS_REQUIRE_BROWSER=1`` makes that a failure), as in test_maps_in_chromium.py.
"""

from __future__ import annotations

import time
from pathlib import Path

import h3
import pytest

from pipelines.layout import file_path
from pipelines.render.analyst_map import analyst_map
from pipelines.render.context import PLACE_LABEL_ZOOM
from pipelines.render.map_parts import render_html
from tests.analytics.test_map_context import context_layers, make_mbtiles
from tests.browser.cdp import Browser
from tests.browser.test_maps_in_chromium import _artifacts, chromium  # noqa: F401  (fixture)
from tests.pipelines.test_weekly import sample_weekly

pytestmark = pytest.mark.browser

#: The page's Leaflet map object (folium names it map_<hex>).
MAP = "window[Object.keys(window).find(function (k) { return /^map_[0-9a-f]+$/.test(k); })]"


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("interaction") / "analyst_map.html"
    out.write_text(render_html(analyst_map(**context_layers(), synthetic=True)), encoding="utf-8")
    return out


@pytest.fixture()
def browser(chromium, tmp_path):  # noqa: F811
    with Browser(chromium, tmp_path / "profile") as b:
        yield b
        assert b.console() == [], "console output:\n" + "\n".join(b.console())
        assert b.requests() == [], f"network requests: {b.requests()}"


def _labels(b: Browser, cls: str) -> int:
    return b.js(f"document.querySelectorAll('.leaflet-tooltip.{cls}').length")


def _sections(b: Browser) -> dict:
    return b.js("(function () { var o = {}; document.querySelectorAll('#hs-legend section').forEach("
                "function (s) { o[s.dataset.layer] = o[s.dataset.layer] || !s.hidden; }); return o; })()")


def _point_on(b: Browser, selector: str, elements: str | None = None) -> list[float]:
    """A screen point where an element matching ``selector`` (or of the JS array ``elements``) is the
    topmost element, so that a click hits it."""
    found = elements or f"Array.from(document.querySelectorAll({selector!r}))"
    return b.js(f"(function () {{ var els = {found};"
                "for (var k = 0; k < els.length; k++) { var e = els[k], r = e.getBoundingClientRect();"
                " for (var i = 1; i < 8; i++) { for (var j = 1; j < 8; j++) {"
                "  var x = r.x + r.width * i / 8, y = r.y + r.height * j / 8;"
                "  if (x > 0 && y > 0 && x < innerWidth && y < innerHeight && document.elementFromPoint(x, y) === e)"
                "   { return [x, y]; } } } } return null; })()")


def _until(b: Browser, expression: str, timeout: float = 5.0):
    """The value of ``expression`` once it is truthy (polled; the page's timers run meanwhile)."""
    deadline = time.monotonic() + timeout
    while True:
        value = b.js(expression)
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def test_labels_follow_the_zoom(browser, page):
    browser.open(page)
    assert browser.js(f"{MAP}.getZoom()") >= PLACE_LABEL_ZOOM  # a small study area opens at street zoom
    assert _until(browser, "document.querySelectorAll('.hs-area-label').length") == 2  # the "beats" layer is on, "wards" off
    assert _labels(browser, "hs-place-label") == 6
    names = browser.js("Array.from(document.querySelectorAll('.hs-place-label')).map(function (e) "
                       "{ return e.textContent; }).sort()")
    assert "Central <Station>" in names and "Park {{ 7*7 }}" in names  # shown as written, never run
    browser.js(f"void {MAP}.setZoom({PLACE_LABEL_ZOOM - 1}, {{animate: false}})")
    assert _until(browser, "document.querySelectorAll('.hs-place-label').length === 0")
    assert _labels(browser, "hs-area-label") == 2
    browser.js(f"void {MAP}.setZoom(10, {{animate: false}})")
    assert _until(browser, "document.querySelectorAll('.hs-area-label').length === 0")
    browser.screenshot(_artifacts() / "analyst_map_context_zoom10.png")


def test_legend_follows_the_layers(browser, page):
    browser.open(page)
    before = _sections(browser)
    assert before["emerging"] and before["areas"] and before["places"] and not before["gistar"]
    x, y, _ = browser.js("(function () { var l = Array.from(document.querySelectorAll("
                         "'.leaflet-control-layers-overlays label')).find(function (l) {"
                         " return l.textContent.indexOf('Gi*') >= 0; }).querySelector('input');"
                         " var r = l.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2, 0]; })()")
    browser.click(x, y)  # a real click on the layer control's checkbox
    assert _until(browser, "!document.querySelector('#hs-legend section[data-layer=\"gistar\"]').hidden")
    assert _sections(browser)["emerging"]
    browser.click(x, y)
    assert _until(browser, "document.querySelector('#hs-legend section[data-layer=\"gistar\"]').hidden")


def test_click_opens_reason_and_26_week_chart(browser, page):
    browser.open(page)
    x, y = _point_on(browser, "path.hs-emerging")
    browser.click(x, y)
    assert _until(browser, "document.querySelectorAll('.leaflet-popup svg.hs-chart rect.hs-bar').length") == 26
    text = browser.js("document.querySelector('.leaflet-popup-content').textContent")
    assert "Reason" in text and "hot in 9 of the last 10 weeks" in text and "2025-W30" in text
    heights = browser.js("Array.from(document.querySelectorAll('.leaflet-popup rect.hs-bar')).map("
                         "function (r) { return Number(r.getAttribute('height')); })")
    assert max(heights) > 0 and min(heights) == 0  # the synthetic series has zeros and peaks
    browser.screenshot(_artifacts() / "analyst_map_popup.png")


def test_click_on_an_area_opens_its_chart(browser, page):
    browser.open(page)
    browser.js(f"void {MAP}.setZoom(12, {{animate: false}})")  # the hexagons cover less of the area
    time.sleep(0.2)
    five_points = ("(function () { var out = []; " + MAP + ".eachLayer(function (l) { if (l.feature && "
                   "l.feature.properties.area_name === 'Five Points') { out.push(l.getElement()); } }); return out; })()")
    x, y = _point_on(browser, "", five_points)  # inside the area, where no hexagon lies on top
    browser.click(x, y)
    text = _until(browser, "(document.querySelector('.leaflet-popup-content') || {}).textContent || ''")
    assert "Five Points" in text and "beats" in text and "Rising for 4 weeks" in text
    assert browser.js("document.querySelectorAll('.leaflet-popup rect.hs-bar').length") == 26


def test_tab_reaches_search_and_layers_not_hexagons(browser, page):
    browser.open(page)
    assert browser.js("document.querySelectorAll('path.leaflet-interactive:not([tabindex=\"-1\"])').length") == 0
    seen = []
    for _ in range(12):
        browser.key("Tab", 9)
        seen.append(browser.js("(function (e) { return e.tagName.toLowerCase() + '#' + (e.id || '') + '.' +"
                               " (e.getAttribute('class') || ''); })(document.activeElement)"))
    assert not any(s.startswith("path") for s in seen), seen
    assert "input#hs-search." in seen[:4], seen
    assert any("leaflet-control-layers-selector" in s for s in seen[:8]), seen


def test_search_finds_a_place_and_goes_there(browser, page):
    browser.open(page)
    browser.js(f"void {MAP}.setZoom(11, {{animate: false}})")
    browser.js("document.getElementById('hs-search').focus()")
    browser.type_text("hyde")
    assert _until(browser, "document.getElementById('hs-results').textContent") == "Hyde Park · park"
    browser.key("Enter", 13)
    _until(browser, f"{MAP}.getZoom() >= 16")
    lat, lon, zoom = browser.js(f"(function (m) {{ var c = m.getCenter(); return [c.lat, c.lng, m.getZoom()]; }})({MAP})")
    assert zoom >= 16
    ctx = context_layers()
    p = ctx["places"].set_index("name").geometry["Hyde Park"]
    assert abs(lat - p.y) < 1e-4 and abs(lon - p.x) < 1e-4
    browser.js("void (document.getElementById('hs-search').value = '')")
    browser.type_text("<hill")
    assert _until(browser, "document.getElementById('hs-results').textContent") == "Capitol <Hill> · beats"


def test_small_screen_panel_collapsed(chromium, page, tmp_path):  # noqa: F811
    with Browser(chromium, tmp_path / "profile", width=390, height=780, mobile=True) as b:
        b.open(page)
        cls = b.js("document.querySelector('.leaflet-control-layers').className")
        assert "leaflet-control-layers-expanded" not in cls
        assert b.js("document.getElementById('hs-legend').open") is False
        panel = b.js("(function (r) { return r.width * r.height; })("
                     "document.querySelector('.leaflet-control-layers').getBoundingClientRect())")
        assert panel < 0.05 * 390 * 780  # a button, not two thirds of the map
        b.screenshot(_artifacts() / "analyst_map_phone.png")
        assert b.console() == [] and b.requests() == []


def test_offline_mbtiles_drawn_without_requests(browser, tmp_path):
    ctx = context_layers()
    lat, lon = h3.cell_to_latlng(h3.int_to_str(int(ctx["hotspots"]["cell"].iloc[0])))
    tiles = make_mbtiles(tmp_path / "city.mbtiles", lat, lon)
    out = tmp_path / "tiles.html"
    out.write_text(render_html(analyst_map(ctx["hotspots"], tiles=str(tiles))), encoding="utf-8")
    browser.open(out, settle_s=1.0)
    srcs = browser.js("Array.from(document.querySelectorAll('img.leaflet-tile')).map(function (i) { return i.src; })")
    assert srcs and all(s.startswith("data:image/") for s in srcs)
    assert any(s.startswith("data:image/png") for s in srcs)  # the file's tiles, not only blanks
    browser.screenshot(_artifacts() / "analyst_map_mbtiles.png")


@pytest.mark.slow  # a full weekly run in Chromium (~30 s); CI runs the slow suite
def test_weekly_analyst_map_popup_chart(browser, tmp_path_factory):
    weekly = sample_weekly(tmp_path_factory)
    browser.open(file_path(weekly["out"], "analyst_map.html"), settle_s=1.0)
    x, y = _point_on(browser, "path.hs-emerging")
    browser.click(x, y)
    assert _until(browser, "document.querySelectorAll('.leaflet-popup svg.hs-chart rect.hs-bar').length") == 26
    assert "Why" in browser.js("document.querySelector('.leaflet-popup-content').textContent")
    browser.js(f"void {MAP}.setZoom({PLACE_LABEL_ZOOM}, {{animate: false}})")
    assert _until(browser, "document.querySelectorAll('.hs-place-label').length") > 0
    browser.screenshot(_artifacts() / "analyst_map_weekly_street_zoom.png")
