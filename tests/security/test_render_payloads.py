"""Text from data never runs: the maps, the report and the charts with the payload corpus in every text field.

For each page: every payload appears literally (escaped), no template expression is evaluated,
no file is created, the page has exactly the scripts it has with harmless data, every embedded
GeoJSON block parses and gives the payload back, and no ``href``/``src`` holds ``javascript:``.
"""

from __future__ import annotations

import html
import json
import re
from datetime import date
from pathlib import Path

import folium
import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point

from analytics.errors import InvalidInputError
from pipelines.render.analyst_map import analyst_map
from pipelines.render.map_parts import render_html
from pipelines.render.patrol_map import patrol_map
from pipelines.render.html import escape_text
from pipelines.render.offline import offline_html
from pipelines.evaluate import forest_svg, line_chart_svg
from pipelines.report import render_report, sparkline_svg
from pipelines.report_charts import bar_chart, overview_map, stacked_chart
from tests.security.payloads import DISTINCTIVE, LONG, NEVER, PAYLOADS, shown

_ADD_RE = re.compile(r"geo_json_\w+_add\(")
_JS_URL_ATTR = re.compile(r"""\b(?:href|src|action|formaction)\s*=\s*["']?\s*javascript:""", re.IGNORECASE)
ALL = PAYLOADS + [LONG]


def _cells(n: int) -> list[str]:
    centre = h3.latlng_to_cell(-33.8688, 151.2093, 9)
    return sorted(h3.grid_disk(centre, 4))[:n]


def _blobs(page: str) -> list[dict]:
    dec = json.JSONDecoder()
    return [dec.raw_decode(page, m.end())[0] for m in _ADD_RE.finditer(page)]


def _props(page: str, layer: str) -> list[dict]:
    return [f["properties"] for b in _blobs(page) for f in b["features"] if f["properties"].get("layer") == layer]


def _assert_safe_page(page: str, baseline: str) -> None:
    for bad in NEVER:
        assert bad not in page, bad
    assert page.lower().count("<script") == baseline.lower().count("<script")
    assert page.lower().count("</script") == baseline.lower().count("</script")
    assert not _JS_URL_ATTR.search(page)
    assert "http://" not in page and "https://" not in page  # a URL in the data stays text, never a link


def _hotspots(texts: list[str]) -> pd.DataFrame:
    cells = _cells(len(texts))
    return pd.DataFrame({"cell": cells, "category": "new_hot", "gi_class": 3, "count": 7, "z": 3.2, "p_fdr": 0.01,
                         "reason": texts, "places": list(reversed(texts))})


def _places(texts: list[str]) -> gpd.GeoDataFrame:
    pts = [Point(151.2093 + 0.001 * i, -33.8688) for i in range(len(texts))]
    return gpd.GeoDataFrame({"name": texts, "category": texts}, geometry=pts, crs="EPSG:4326")


def _analyst(texts: list[str], title: str, subtitle: str) -> str:
    texts = list(texts) + [f"pad {i}" for i in range(max(0, 4 - len(texts)))]
    cells = _cells(len(texts))
    scan = pd.DataFrame({"cluster_rank": [1], "kind": [texts[0]], "n_cells": [2], "cells": [tuple(cells[:2])]})
    st = gpd.GeoDataFrame({"label": [texts[1]], "n_events": [9], "n_young_people": [3]},
                          geometry=[Point(151.2093, -33.8688).buffer(0.002)], crs="EPSG:4326")
    conv = pd.DataFrame({"cell": cells[:2], "rank": [1, 2], "n_young_people": [3, 6], "first_week": texts[:2],
                         "last_week": texts[2:4]})
    weeks = pd.DataFrame({"cell": cells, "week": texts, "count": 2})
    return render_html(analyst_map(_hotspots(texts), places=_places(texts), scan_clusters=scan, st_clusters=st,
                                   convergence=conv, recent_weeks=weeks, title=title, subtitle=subtitle,
                                   synthetic=True, n_recent_weeks=len(texts)))


def _plan(texts: list[str]) -> pd.DataFrame:
    cells = _cells(len(texts))
    return pd.DataFrame({"rank": range(1, len(texts) + 1), "priority": [1 + i % 3 for i in range(len(texts))],
                         "cells": cells, "places": texts, "windows": list(reversed(texts)), "dose": texts[0],
                         "reason": texts, "kind": texts, "area_name": list(reversed(texts)), "time_zone": texts[0]})


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a payload that reached os.system would create PWNED here
    yield
    assert not list(tmp_path.iterdir()), "a payload created a file"


# ---------------------------------------------------------------- analyst map
def test_analyst_map_shows_every_payload_literally():
    benign = [f"Place {i}" for i in range(len(ALL))]
    baseline = _analyst(benign, "Title", "Subtitle")
    for title in ("Hotel {{ 7*7 }} end", "</script><script>alert(1)</script>"):
        page = _analyst(ALL, title, LONG)
        _assert_safe_page(page, baseline)
        assert shown(title, page) and shown(LONG, page)
        emerging = _props(page, "emerging")
        assert [html.unescape(p["reason"]) for p in emerging] == ALL  # JSON parses; text comes back exactly
        assert [html.unescape(p["places"]) for p in emerging] == list(reversed(ALL))
        places = _props(page, "place")
        assert sorted(html.unescape(p["name"]) for p in places) == sorted(ALL)
        assert [html.unescape(p["week"]) for p in _props(page, "week")][:1]
        assert html.unescape(_props(page, "scan")[0]["kind"]) == ALL[0]
        assert html.unescape(_props(page, "st")[0]["label"]) == ALL[1]
        for text in DISTINCTIVE:
            assert shown(text, page), text


def test_analyst_map_layer_names_are_escaped():
    page = _analyst(ALL, "t", "s")
    control = page.split("L.control.layers(")[0].rsplit("var layer_control_", 1)[-1]
    assert "<img" not in control and "<script" not in control
    assert "&lt;img src=x onerror=alert(1)&gt;" in control.replace("\\u0026", "&").replace("\\u003c", "<")


def test_feature_values_are_html_escaped_including_quotes():
    page = _analyst(['"><b>x</b>', "it's"], "t", "s")
    reasons = [p["reason"] for p in _props(page, "emerging")][:2]
    assert reasons == ["&#34;&gt;&lt;b&gt;x&lt;/b&gt;", "it&#39;s"]


def test_script_json_escapes_line_separators():
    page = _analyst(["a\u2028b\u2029c", "plain"], "t", "s")
    scripts = "".join(re.findall(r"<script>.*?</script>", page, re.S))
    assert "\u2028" not in scripts and "\u2029" not in scripts
    assert "\\u2028" in scripts and "\\u2029" in scripts


# ---------------------------------------------------------------- patrol map
def test_patrol_map_shows_every_payload_literally():
    benign = [f"Place {i}" for i in range(len(ALL))]
    baseline = render_html(patrol_map(_plan(benign), synthetic=True, title="T", subtitle="S"))
    page = render_html(patrol_map(_plan(ALL), synthetic=True, title="Plan {{ 7*7 }} end", subtitle=LONG,
                                  dates=ALL[0], time_zone=ALL[-1]))
    _assert_safe_page(page, baseline)
    props = _props(page, "patrol")
    assert [html.unescape(p["places"]) for p in props] == ALL
    assert [html.unescape(p["reason"]) for p in props] == ALL
    table = page.split('id="hs-plan"')[1]
    for text in DISTINCTIVE:
        assert shown(text, table), text  # the printable table shows it too
    assert shown("Plan {{ 7*7 }} end", page) and "Plan 49 end" not in page


def test_tile_url_must_be_http():
    with pytest.raises(InvalidInputError, match="tiles must be an http"):
        patrol_map(_plan(["a"]), tiles="javascript:alert(1)//{z}/{x}/{y}")


# ---------------------------------------------------------------- folium objects are never recompiled
def test_offline_html_never_compiles_rendered_output():
    m = folium.Map(tiles=None, location=[0, 0])
    folium.FeatureGroup(name="Hotel {{ 7*7 }} end").add_to(m)
    folium.LayerControl().add_to(m)
    page = offline_html(m)
    assert "Hotel {{ 7*7 }} end" in page and "Hotel 49 end" not in page


def test_escape_text_writes_no_url():
    assert str(escape_text('=HYPERLINK("http://x")')) == "=HYPERLINK(&#34;http:&#47;&#47;x&#34;)"
    assert html.unescape(str(escape_text('=HYPERLINK("http://x")'))) == '=HYPERLINK("http://x")'


# ---------------------------------------------------------------- report and charts
def _report_context(t: list[str]) -> dict:
    """A complete report context with a payload in every text field."""
    n = len(t)
    rows = [{"rank": i + 1, "cell": _cells(n)[i], "places": t[i], "category": t[-1 - i], "previous": t[i],
             "reason": t[-1 - i], "count": 3, "expected": "1.0", "z": "2.00",
             "spark": sparkline_svg([1, 2, 3], [t[i], t[-1 - i], t[i]]), "police": {"flag": True, "share": t[i]}}
            for i in range(n)]
    plan = [{"rank": i + 1, "priority": 1, "places": t[i], "windows": t[-1 - i], "reason": t[i], "cells": _cells(n)[i],
             "dose": t[0]} for i in range(n)]
    src = {"total": 3, "rows": [{"source": x, "n": 1, "share": x} for x in t]}
    return {
        "week": t[0], "monday": date(2025, 2, 10), "sunday": date(2025, 2, 16), "generated": t[1], "synthetic": True,
        "summary": {"weeks": t[2], "first_week": t[3], "last_week": t[4]}, "measure": t[5],
        "headline": {"new": [{"cell": "c", "places": x, "category": x} for x in t],
                     "became_hot": [{"cell": "c", "places": x, "category": x, "area": x} for x in t],
                     "intensifying": [],
                     "ended": []},
        "n_hot": 1, "events_week": 3, "top": rows, "top_n": n, "plan": plan,
        "backtest": {"plan_week": t[6], "source": t[7], "n_cells": 1, "measure": t[8], "events_week": t[9],
                     "hit_rate_txt": t[10], "n": 1, "N": 2, "pai_txt": t[11], "a_km2": 0.1, "A_km2": 9.0,
                     "pei_txt": t[12], "n_star": 1},
        "equity": {"week_start": date(2025, 2, 10), "week_end": date(2025, 2, 16), "first_week": t[13],
                   "equity_weeks": 8, "columns": t, "rows": [{"label": x, "part": "gender", "values": t} for x in t]},
        "dq": {"batches": [{"batch_id": 1, "kind": x, "n_read": 1, "n_accepted": 1, "n_updated": 0,
                            "n_duplicate": 0, "n_rejected": 0, "finished": x} for x in t],
               "quarantine": [{"kind": x, "reason": x, "n": 1} for x in t], "quarantine_total": n,
               "late": {"n": 1, "late": 0, "share": t[14], "n_week": 1, "late_week": 0, "share_week": t[15],
                        "bulk": False},
               "sources_week": src, "sources_window": src,
               "police_flags": [{"rank": 1, "cell": "c", "places": x, "reports": 1, "police": 1, "share": x,
                                 "flag": True} for x in t], "n_flagged": 1},
        "late_days": 7, "police_share_flag": 60, "params": [(x, x) for x in t], "choices": t,
        "versions": {x: x for x in t}, "inputs": [{"batch_id": 1, "kind": x, "sha256": x * 20} for x in t],
        "timings": {x: 1.0 for x in t}, "k": 5, "resolution": 9, "study_area": t[16], "analyst_detail": False,
        "omitted": [t[17]], "sec": {"dq": 6, "methods": 7}, "single_source": t[18], "rules_text": t[19],
        "time_zone": t[20],
        "areas": {"layer": t[21 % len(t)], "n_areas": n,
                  "rows": [{"area_name": x, "category": x, "z": "1.0", "reason": x} for x in t]},
        # the first screen (pipelines.report_front) and the trend charts (pipelines.report_charts)
        "fs": {"sentences": t[:3], "links": [{"href": "patrol_map.html", "label": t[3]}], "plan_dates": t[4],
               "entries": [{"rank": i + 1, "priority": 1, "kind": t[i], "area_name": t[-1 - i], "places": t[i],
                            "windows": t[-1 - i], "expected": t[i]} for i in range(n)], "n_plan": n + 1,
               "map": overview_map(None, [(c, "sporadic_hot") for c in _cells(3)], []), "counts": {}},
        "change_table": [{"label": x, "now": 1, "before": 0, "became": 1} for x in t], "n_hot_before": 0,
        "trends": {"events": bar_chart(t[:4], [3, 0, 2, 9], y_unit=t[5], x_unit=t[6], title=t[7]),
                   "people": bar_chart(t[:4], [3, 0, 2, 9], y_unit=t[8], x_unit=t[9], title=t[10], k=5),
                   "categories": {**stacked_chart(t[:3], [None, {"new_hot": 1}, {"sporadic_hot": 2}], title=t[11],
                                                  y_unit=t[12], x_unit=t[13]), "saved_weeks": 0}},
    }


def test_report_names_the_area_of_each_listed_cell_and_the_hot_areas():
    page = render_report(_report_context([f"text {i}" for i in range(len(ALL))]))
    assert "<code>c</code> — <b>text 0</b> · text 0" in page  # "became hot" names the cell's area
    assert f"Hot spots by area (text {21 % len(ALL)})" in page and "<td>text 1</td>" in page


def test_report_shows_every_payload_literally():
    baseline = render_report(_report_context([f"text {i}" for i in range(len(ALL))]))
    page = render_report(_report_context(ALL))
    _assert_safe_page(page, baseline)
    assert "<script" not in page.lower()
    for text in DISTINCTIVE + [LONG]:
        assert shown(text, page), text
    assert page.count('<svg class="spark"') == len(ALL)


def test_svg_charts_escape_labels():
    for svg in (sparkline_svg([1, 2], ALL[:2]), line_chart_svg(ALL[:3], {"treated": np.array([1.0, 2.0, 3.0])},
                                                               title=ALL[2]),
                forest_svg([(x, 0.1, -0.2, 0.3) for x in ALL])):
        text = str(svg)
        for bad in NEVER:
            assert bad not in text
        assert text.count("<svg") == 1 and "<script" not in text


# ---------------------------------------------------------------- the wrong thing is hard to write
ROOT = Path(__file__).resolve().parents[2]


def test_no_data_path_to_template_source():
    """Static guard: pages are built only through the escaping helpers.

    * the map modules in pipelines/render/ create no branca ``Element`` (only ``RawElement`` via
      ``_html_fragment``) and give no data-bearing folium object (GeoJson, popups, tooltips) text;
    * no template uses ``|safe`` or turns autoescaping off;
    * the only Jinja environment for pages is :func:`pipelines.render.html.environment`, and only
      :func:`pipelines.render.html.fragment` compiles template text (module constants).
    """
    render = ROOT / "pipelines" / "render"
    map_modules = sorted(p for p in render.glob("*.py") if p.name not in ("__init__.py", "html.py", "offline.py"))
    assert {"map_parts.py", "analyst_map.py", "patrol_map.py"} <= {p.name for p in map_modules}
    for py in map_modules:
        maps = py.read_text()
        assert not re.search(r"(?<![A-Za-z_])Element\(", maps), py.name
        for banned in ("folium.GeoJson(", "GeoJsonTooltip(", "GeoJsonPopup(", "folium.Popup(", "folium.Tooltip(",
                       "JsCode(", "folium.Marker("):
            assert banned not in maps, (py.name, banned)
    for tpl in (ROOT / "pipelines" / "templates").glob("*.j2"):
        text = tpl.read_text()
        assert "|safe" not in text.replace(" ", "") and "autoescape false" not in text, tpl.name
    for py in list((ROOT / "pipelines").rglob("*.py")) + list((ROOT / "analytics").rglob("*.py")):
        text = py.read_text()
        if py != render / "html.py":
            assert not re.search(r"\bEnvironment\(", text), f"{py.name}: use pipelines.render.html"
            assert "Template(" not in text and "from_string(" not in text and ".overlay(" not in text, py.name
