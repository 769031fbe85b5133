"""The analyst map's interface: a legend that follows the layers, click popups with a 26-week chart,
a place/area search box, keyboard focus and small screens.

Everything here is constant JavaScript (module constants, never text built from data); data
reach it only as script-safe JSON (:func:`pipelines.render.map_parts._html_safe`) through
:class:`pipelines.render.map_parts._PageScript`:

* **legend** — each legend section names the feature groups it explains; on ``overlayadd`` /
  ``overlayremove`` a section is shown only while one of its groups is on the map;
* **popup** — a click on a cell or an area opens its name, pattern, reason and nearby places
  (values HTML-escaped in Python) and a bar chart of its weekly counts, drawn as SVG with
  ``createElementNS``: numbers go through ``Number()``, week labels through ``textContent``;
* **search** — a box that finds places and areas in the page (no network): names are decoded
  from their escaped form by a ``<textarea>`` (RCDATA: no markup is parsed) and shown with
  ``textContent``; choosing one moves the map there;
* **keyboard** — interactive paths get ``tabindex=-1``, so Tab goes to the search box, the
  zoom buttons and the layer control instead of every hexagon;
* **small screens** (≤ 700 px wide) — the layer control starts collapsed and the legend closed.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from pipelines.render.map_parts import _DP, _ENCODE, RawElement, _PageScript, _html_safe, _json_value

__all__ = ["SERIES_WEEKS", "SMALL_SCREEN_PX", "series_table", "add_series", "add_interface", "search_items", "POPUP_JS",
           "UI_CSS"]

#: Weeks of history in the click chart.
SERIES_WEEKS = 26
#: Width (CSS px) up to which the layer control starts collapsed and the legend closed.
SMALL_SCREEN_PX = 700


def series_table(history: pd.DataFrame | None, key: str, keep: set | None = None,
                 n_weeks: int = SERIES_WEEKS) -> tuple[dict, dict]:
    """Weekly counts per key (``cell`` or ``area_id``) for the last ``n_weeks`` week labels.

    Returns ``({"weeks": [...], "values": [[...], ...]}, {key value: row index})``; a key
    without a row in a week counts 0. ``keep`` limits the keys (the drawn cells).
    """
    if history is None or not len(history):
        return {"weeks": [], "values": []}, {}
    missing = {key, "week", "count"} - set(history.columns)
    if missing:
        from analytics.errors import InvalidInputError

        raise InvalidInputError(f"history lacks column(s) {sorted(missing)}; expected {key}, week, count.")
    h = history[[key, "week", "count"]].copy()
    h["week"] = h["week"].astype(str)
    weeks = sorted(h["week"].unique())[-int(n_weeks):]
    h = h[h["week"].isin(weeks)]
    if keep is not None:
        h = h[h[key].isin(keep)]
    h["count"] = pd.to_numeric(h["count"], errors="coerce").fillna(0)
    wide = h.pivot_table(index=key, columns="week", values="count", aggfunc="sum").reindex(columns=weeks).fillna(0)
    values = np.round(wide.to_numpy(dtype=np.float64), 2)
    values = [[int(v) if float(v).is_integer() else float(v) for v in row] for row in values.tolist()]
    index = {k: i for i, k in enumerate(wide.index.tolist())}
    return {"weeks": weeks, "values": values}, index


def add_series(m, cells: dict, areas: dict) -> None:
    """Write the page's weekly series once (``hs_series``), read by :data:`POPUP_JS`."""
    _PageScript("var hs_series = %(data)s;", _html_safe(_ENCODE({"cells": cells, "areas": areas}))).add_to(m)


#: Click popup of a cell or an area: escaped values in a table, then the weekly bar chart.
POPUP_JS = """%(name)s.bindPopup(function (layer) {
    var p = layer.feature.properties, div = L.DomUtil.create("div", "hs-pop");
    var rows = [["Area", p.area_name], ["Area layer", p.area_layer], ["Pattern", p.label],
                ["Count (this week)", p.count], ["Why", p.reason], ["Nearby places", p.places]];
    var html = "<table>";
    rows.forEach(function (r) { var v = r[1];
        if (v !== undefined && v !== null && v !== "" && typeof v !== "object") {
            html += "<tr><th>" + r[0] + "</th><td>" + v + "</td></tr>"; } });
    div.innerHTML = html + "</table>";  // values were HTML-escaped in Python; labels are constants
    var tab = (typeof hs_series === "undefined") ? null : hs_series[p.layer === "area" ? "areas" : "cells"];
    if (tab && p.s !== undefined && tab.values[p.s | 0]) { div.appendChild(hs_chart(tab.weeks, tab.values[p.s | 0])); }
    return div;
}, {maxWidth: 360, className: "hs-popup"});"""

#: The interface script (legend sync, search, keyboard, small screens, the chart function).
_UI_JS = r"""function hs_chart(weeks, values) {
    var NS = "http:" + "//www.w3.org/2000/svg", W = 320, H = 120, L0 = 30, B = 22, T = 18;
    var svg = document.createElementNS(NS, "svg");
    svg.setAttribute("viewBox", "0 0 " + W + " " + H); svg.setAttribute("width", W); svg.setAttribute("height", H);
    svg.setAttribute("class", "hs-chart"); svg.setAttribute("role", "img");
    var nums = values.map(function (v) { var x = Number(v); return isFinite(x) && x > 0 ? x : 0; });
    var max = Math.max.apply(null, [1].concat(nums)), n = Math.max(1, nums.length), bw = (W - L0 - 4) / n;
    function el(tag, attrs, text) { var e = document.createElementNS(NS, tag);
        for (var k in attrs) { e.setAttribute(k, attrs[k]); } if (text !== undefined) { e.textContent = String(text); }
        svg.appendChild(e); return e; }
    var label = "Events per week, last " + nums.length + " weeks (most recent right)";
    svg.setAttribute("aria-label", label);
    el("title", {}, label);
    el("text", {x: 0, y: 11, "font-size": 10}, "Events per week, last " + nums.length + " weeks");
    el("line", {x1: L0, y1: H - B, x2: W - 2, y2: H - B, stroke: "#555"});
    el("text", {x: L0 - 4, y: T + 8, "font-size": 9, "text-anchor": "end"}, max);
    el("text", {x: L0 - 4, y: H - B, "font-size": 9, "text-anchor": "end"}, 0);
    nums.forEach(function (v, i) { var h = (H - B - T) * v / max;
        el("rect", {x: (L0 + i * bw + 0.5).toFixed(1), y: (H - B - h).toFixed(1), width: Math.max(1, bw - 1).toFixed(1),
                    height: h.toFixed(1), fill: i === nums.length - 1 ? "#bd0026" : "#fd8d3c", "class": "hs-bar"},
           undefined).appendChild(document.createElementNS(NS, "title")).textContent =
           String(weeks[i] === undefined ? "" : weeks[i]) + ": " + v; });
    if (weeks.length) {
        el("text", {x: L0, y: H - 6, "font-size": 9}, weeks[0]);
        el("text", {x: W - 2, y: H - 6, "font-size": 9, "text-anchor": "end"}, weeks[weeks.length - 1]); }
    return svg;
}
(function () {
    var map = %(map)s, d = %(data)s, ctl = %(control)s, groups = %(groups)s;
    // legend: a section is shown while one of its groups is on the map
    function syncLegend() {
        Object.keys(groups).forEach(function (key) {
            var on = groups[key].some(function (g) { return map.hasLayer(g); });
            var sec = document.querySelector('#hs-legend [data-layer="' + key + '"]');
            if (sec) { sec.hidden = !on; } }); }
    map.on("overlayadd overlayremove", syncLegend);
    // keyboard: no hexagon or outline in the Tab order
    function untab(layer) { var el = layer && layer.getElement && layer.getElement();
        if (el && el.setAttribute) { el.setAttribute("tabindex", "-1"); el.setAttribute("focusable", "false"); } }
    map.on("layeradd", function (e) { untab(e.layer); });
    map.eachLayer(untab);
    // small screens: the layer control collapsed (it expands on tap) and the legend closed
    if (window.matchMedia && window.matchMedia("(max-width: " + d.small + "px)").matches) {
        if (ctl) { ctl.options.collapsed = true; ctl.remove(); ctl.addTo(map); }
        var leg = document.getElementById("hs-legend"); if (leg) { leg.open = false; } }
    // search: places and areas in this page, matched on their plain text
    var decode = document.createElement("textarea");
    var items = d.search.map(function (s) { decode.innerHTML = String(s[1]);
        return {kind: String(s[0]), name: decode.value, key: decode.value.toLowerCase(), box: s.slice(2).map(Number)}; });
    var box = L.control({position: "topleft"});
    box.onAdd = function () {
        var div = L.DomUtil.create("div", "leaflet-bar hs-search");
        div.setAttribute("role", "search");
        var input = L.DomUtil.create("input", "", div);
        input.type = "search"; input.id = "hs-search"; input.placeholder = "Search places and areas";
        input.setAttribute("aria-label", "Search places and areas"); input.autocomplete = "off";
        var list = L.DomUtil.create("ul", "hs-results", div); list.id = "hs-results";
        function go(it) { var b = it.box;
            if (b.length === 4) { map.fitBounds([[b[0], b[1]], [b[2], b[3]]], {maxZoom: 16}); }
            else { map.setView([b[0], b[1]], Math.max(map.getZoom(), 16)); } }
        function show() { var q = input.value.trim().toLowerCase(); list.textContent = "";
            if (!q) { return; }
            items.filter(function (it) { return it.key.indexOf(q) >= 0; }).slice(0, 8).forEach(function (it) {
                var li = document.createElement("li"), b = document.createElement("button");
                b.type = "button"; b.textContent = it.name + " · " + it.kind;
                b.addEventListener("click", function () { go(it); });
                li.appendChild(b); list.appendChild(li); });
            if (!list.firstChild) { var li = document.createElement("li"); li.textContent = "No match"; list.appendChild(li); } }
        input.addEventListener("input", show);
        input.addEventListener("keydown", function (e) {
            if (e.key === "Enter") { var b = list.querySelector("button"); if (b) { b.click(); } } });
        L.DomEvent.disableClickPropagation(div); L.DomEvent.disableScrollPropagation(div);
        return div; };
    if (items.length) { box.addTo(map);
        var c = box.getContainer(); c.parentNode.insertBefore(c, c.parentNode.firstChild); }
    setTimeout(syncLegend, 0);
})();"""

#: Styles of the interface.
UI_CSS = """
.hs-legend { padding: 0; } .hs-legend > summary { cursor: pointer; font-weight: bold; padding: 6px 8px; }
.hs-legend > div { padding: 0 8px 6px; }
.hs-search input { width: 210px; padding: 5px 7px; border: 0; border-radius: 4px; font: 13px system-ui,Arial,sans-serif; }
.hs-search ul { list-style: none; margin: 0; padding: 0; max-height: 220px; overflow: auto; background: #fff; }
.hs-search li button { display: block; width: 100%; text-align: left; border: 0; border-top: 1px solid #ddd;
  background: #fff; padding: 4px 7px; font: 12px system-ui,Arial,sans-serif; cursor: pointer; }
.hs-search li button:hover, .hs-search li button:focus { background: #eef; }
.hs-legend .sw.area { background: transparent !important; border: 2px solid #1f3a93; }
.hs-legend .sw.place { border-radius: 50%; width: 10px; height: 10px; border-width: 1px; }
.hs-popup svg.hs-chart { display: block; margin-top: 4px; }
.hs-popup table th { text-align: left; padding-right: 6px; vertical-align: top; }
.hs-title { left: 250px; }
@media (max-width: 700px) {
  .hs-title { max-width: 60vw; font-size: 11px; top: auto; bottom: 58px; left: 8px; }
  .hs-title b { font-size: 12px; }
  .hs-legend { max-height: 40vh; bottom: auto; top: 52px; left: auto; right: 10px; }
  .hs-search input { width: 150px; }
}
"""


def search_items(places=None, areas=None) -> list[list[Any]]:
    """``[kind, escaped name, lat, lon]`` per place and ``[kind, escaped name, s, w, n, e]`` per area."""
    out: list[list[Any]] = []
    if areas is not None and len(areas):
        b = areas.geometry.bounds
        for layer, name, (w, s, e, n) in zip(areas["layer"].astype(str), areas["area_name"],
                                            b[["minx", "miny", "maxx", "maxy"]].to_numpy().tolist()):
            out.append([_json_value(layer), _json_value(name), round(s, _DP), round(w, _DP), round(n, _DP), round(e, _DP)])
    if places is not None and len(places):
        pts = places.geometry.representative_point()
        for cat, name, p in zip(places["category"].astype(str), places["name"], pts):
            out.append([_json_value(cat.replace("_", " ")), _json_value(name), round(p.y, _DP), round(p.x, _DP)])
    return out


def _identifier(name: str) -> str:
    """A page variable name made by folium (``feature_group_<hex>``); anything else is refused."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ValueError(f"not a page variable name: {name!r}")
    return name


def add_interface(m, control, legend: dict[str, list[str]], search: list[list[Any]]) -> None:
    """Add the interface script after every layer and the layer control (see module notes).

    ``legend`` maps a legend section (``data-layer``) to the page variables of its feature
    groups; those names (folium's own identifiers, checked) and the control's are written into
    the code, everything else reaches it as JSON.
    """
    groups = "{" + ", ".join(f"{_ENCODE(str(key))}: [{', '.join(_identifier(n) for n in names)}]"
                             for key, names in legend.items()) + "}"
    data = {"search": search, "small": SMALL_SCREEN_PX}
    m.get_root().header.add_child(RawElement(f"<style>{UI_CSS}</style>"), name="hs_ui_css")
    _PageScript(_UI_JS, _html_safe(_ENCODE(data)), control=_identifier(control.get_name()), groups=groups).add_to(m)
