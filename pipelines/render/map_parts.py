"""Shared pieces of the maps: palettes, script-safe GeoJSON layers, tooltips, the base page.

This module builds :class:`folium.Map` pieces and HTML strings; it never writes files
(the weekly pipeline does). :func:`render_html` turns a map into one self-contained page
through :func:`pipelines.render.offline.offline_html`: Leaflet is inlined, nothing is
fetched, and no tile layer is drawn unless one is configured (see
:mod:`pipelines.render.context` for tile servers and offline MBTiles).

Palettes (chosen to read in greyscale and for colour-blind readers)
-------------------------------------------------------------------
Emerging categories use two ColorBrewer sequential ramps (Brewer 2003,
colorbrewer2.org; both "colour-blind safe" and "print friendly"):

* hot: **YlOrRd** (classes 2–9 of the 9-class ramp), darkest = most severe;
* cold: **Blues** (classes 2–9), darkest = most severe.

Lightness falls with severity in both ramps, so the order survives greyscale
printing and every form of colour-vision deficiency; hot and cold of the same
severity have similar lightness, so hot cells carry a solid dark outline and
cold cells a dashed one (a cue that does not depend on colour). Severity order
(:data:`SEVERITY_ORDER`), most to least urgent for presence next week:
intensifying, persistent, new, consecutive, diminishing, sporadic, oscillating,
historical — cells hot now and getting hotter first, cells no longer hot last.
Gi* classes use the diverging **RdBu** ramp (7 classes, ±1/2/3 = 90/95/99 %
confidence); the patrol map's priority bands use **RdPu** (dark = priority 1).

Wording: the maps speak of risk to young people at a place. Counts of distinct
young people or placements shown in tooltips are suppressed below ``k``.

Text from data (place, area and category names, reasons, time windows, titles) never
becomes template, HTML or JavaScript source:

* page blocks (title, legend, plan table) are rendered by :func:`_html_fragment` from
  constant templates in the one Jinja environment (:mod:`pipelines.render.html`,
  autoescaping) and written verbatim (:class:`RawElement`);
* layer data and options reach JavaScript only as JSON made script-safe by
  :func:`_html_safe` (``< > & '`` and U+2028/U+2029 escaped), through :class:`_JsonLayer`,
  which writes its script verbatim; feature properties are HTML-escaped first
  (:func:`_json_value`), because Leaflet tooltips and popups insert them with ``innerHTML``;
* layer-control names, which Leaflet also inserts with ``innerHTML``, go through
  :func:`_layer_name`;
* no folium object is given text from data, and :func:`pipelines.render.offline.offline_html`
  never compiles rendered output again (second line of defence).
"""

from __future__ import annotations

import json
import math
from typing import Any, Iterable, Mapping

import folium
import h3.api.numpy_int as h3n
import numpy as np
import pandas as pd
import shapely
from branca.element import MacroElement

from analytics.errors import InvalidInputError
from analytics.grid import cells_to_hex
from analytics.patrol import CATEGORIES, CATEGORY_LABELS, SEVERITY_ORDER
from analytics.places import cell_rings
from analytics.privacy import suppress_count
from pipelines.render.html import escape_text, fragment
from pipelines.render.offline import RawElement, offline_html
from pipelines.render.tiles import check_tiles, tiles_url

__all__ = [
    "render_html",
    "cells_feature_collection",
    "SEVERITY_ORDER",
    "CATEGORIES",
    "CATEGORY_COLOURS",
    "CATEGORY_LABELS",
    "GI_COLOURS",
    "PRIORITY_COLOURS",
]

_YLORRD = ["#800026", "#bd0026", "#e31a1c", "#fc4e2a", "#fd8d3c", "#feb24c", "#fed976", "#ffeda0"]
_BLUES = ["#08306b", "#08519c", "#2171b5", "#4292c6", "#6baed6", "#9ecae1", "#c6dbef", "#deebf7"]

#: Fill colour per category (``no_pattern`` is only drawn on request).
CATEGORY_COLOURS: dict[str, str] = {
    **{f"{s}_hot": c for s, c in zip(SEVERITY_ORDER, _YLORRD)},
    **{f"{s}_cold": c for s, c in zip(SEVERITY_ORDER, _BLUES)},
    "no_pattern": "#f0f0f0",
}
#: Gi* class (−3…3) -> colour (ColorBrewer RdBu, 7 classes); 0 is not drawn.
GI_COLOURS = {-3: "#2166ac", -2: "#67a9cf", -1: "#d1e5f0", 0: "#f7f7f7", 1: "#fddbc7", 2: "#ef8a62", 3: "#b2182b"}
GI_LABELS = {
    -3: "Cold spot, 99 % confidence", -2: "Cold spot, 95 % confidence", -1: "Cold spot, 90 % confidence",
    0: "Not significant",
    1: "Hot spot, 90 % confidence", 2: "Hot spot, 95 % confidence", 3: "Hot spot, 99 % confidence",
}
#: Patrol priority band -> colour (ColorBrewer RdPu; 1 = darkest).
PRIORITY_COLOURS = {1: "#7a0177", 2: "#c51b8a", 3: "#f768a1"}

_DP = 5  # coordinate decimals: 5 dp ≈ 1 m, far below an H3 cell's ~170 m edge at res 9
_CONVERGENCE_COLOUR = "#54278f"  # ColorBrewer Purples, darkest
_STUDY_COLOUR = "#969696"

_BASE_CSS = """
.hs-box{background:rgba(255,255,255,.94);border:1px solid #777;border-radius:4px;padding:6px 8px;
  font:12px/1.35 system-ui,-apple-system,'Segoe UI',Arial,sans-serif;color:#111;}
.hs-legend{position:fixed;bottom:64px;left:10px;z-index:1000;max-height:70vh;overflow:auto;}
.hs-legend h4{margin:4px 0 2px;font-size:12px;}
.hs-legend .sw{display:inline-block;width:14px;height:11px;margin-right:5px;vertical-align:-1px;
  border:1.5px solid #333;}
.hs-legend .sw.cold{border-style:dashed;}
.hs-title{position:fixed;top:38px;left:56px;z-index:1000;max-width:46vw;}
.hs-title b{font-size:14px;}
.hs-synthetic{position:fixed;top:0;left:50%;transform:translateX(-50%);z-index:1100;background:#000;color:#fff;
  font:bold 15px/1.2 system-ui,Arial,sans-serif;letter-spacing:.12em;padding:4px 14px;border:2px solid #fff;}
.leaflet-tooltip table th,.leaflet-popup-content table th{text-align:left;padding-right:6px;vertical-align:top;}
.leaflet-tooltip table td{max-width:360px;white-space:normal;}
.leaflet-tooltip.hs-label { background: rgba(255,255,255,.78); border: 0; box-shadow: none; padding: 0 3px;
  font: 11px/1.2 system-ui,-apple-system,'Segoe UI',Arial,sans-serif; color: #111; white-space: nowrap; }
.leaflet-tooltip.hs-label::before { display: none; }
.leaflet-tooltip.hs-area-label { color: #1f3a93; font-weight: 600; letter-spacing: .02em; background: rgba(255,255,255,.6); }
.leaflet-tooltip.hs-place-label { font-size: 10.5px; color: #222; transform-origin: left; }
"""


# --------------------------------------------------------------------------- helpers
def _json_value(value: Any) -> Any:
    """A JSON-safe, HTML-escaped scalar for feature properties ('' for missing)."""
    if value is None:
        return ""
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(float(value)):
            return ""
        return round(float(value), 4)
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    try:
        if pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    # tooltips and popups insert values with innerHTML: escape text from the data (quotes included)
    return str(escape_text(str(value)))


def _rings(cells: np.ndarray) -> list[list[list[float]]]:
    """Closed [lon, lat] rings (``_DP`` decimals) of many cells, rounded in numpy, not per vertex."""
    lonlat, sizes = cell_rings(cells)
    flat = np.round(lonlat, _DP).tolist()
    ends = np.cumsum(sizes).tolist()
    return [flat[e - n:e] for e, n in zip(ends, sizes.tolist())]


#: Compact JSON (no spaces, ASCII only) for data embedded in the page.
_ENCODE = json.JSONEncoder(separators=(",", ":")).encode


def _html_safe(text: str) -> str:
    """JSON text safe inside ``<script>``: Jinja's ``tojson`` escapes (< > & ') plus U+2028/U+2029.

    Escaped, a ``</script>`` or ``<!--`` in a string cannot end or comment out the script, and
    the two line separators cannot end a JavaScript string literal in older engines.
    """
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").replace("'", "\\u0027")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _html_fragment(template: str, **data: Any) -> RawElement:
    """A page block rendered from a CONSTANT template (one Jinja environment, autoescaped), written verbatim.

    ``template`` must be a module constant, never text built from data; data goes in as
    variables only (escaped on output). The result is a :class:`RawElement`, which the
    page writes as is (branca's ``Element`` would compile it as a template again).
    """
    return RawElement(fragment(template, **data))


def _layer_name(text: str) -> str:
    """A layer-control label: HTML-escaped (Leaflet inserts it with ``innerHTML``), braces as entities."""
    return str(escape_text(str(text))).replace("{", "&#123;").replace("}", "&#125;")


def _rings_json(lonlat: np.ndarray, sizes: np.ndarray) -> list[str]:
    """Each ring of ``lonlat`` (consecutive runs of ``sizes`` points) as JSON text ``[[lon,lat],...]``.

    Coordinates are rounded to ``_DP`` decimals in numpy and all rings are encoded by one
    C-level ``json`` call, then split: no Python work per vertex.
    """
    if len(sizes) == 0:
        return []
    flat = np.round(lonlat, _DP).tolist()
    ends = np.cumsum(sizes).tolist()
    text = _ENCODE([flat[e - n:e] for e, n in zip(ends, np.asarray(sizes).tolist())])  # "[[[x,y],..],[[x,y],..]]"
    return ["[[" + part + "]]" for part in text[3:-3].split("]],[[")]


#: Page variable holding every hexagon ring of the analyst map once (see :class:`_RingTable`).
RINGS_VAR = "hs_rings"


class _RingTable:
    """Each drawn cell's closed ring, once per page, as the JavaScript array ``hs_rings``.

    Why: the analyst map draws the same cell on up to seven layers (emerging, Gi*,
    convergence, four recent weeks); writing its ring into every layer made the page
    (and its build, write and scans) several times larger. Features carry the index of
    their ring (foreign member ``"ring"``, ``"geometry": null``); each layer's ``_add``
    function restores a GeoJSON Polygon before Leaflet reads it. Boundaries come from h3
    once per cell and are formatted without Python work per vertex.
    """

    def __init__(self) -> None:
        self._index: dict[int, int] = {}
        self._text: list[str] = []

    def index(self, cells: np.ndarray) -> list[int]:
        """The ring index of each cell in ``cells`` (uint64), adding new cells to the table."""
        cells = np.asarray(cells, dtype=np.uint64)
        known = np.fromiter(self._index, dtype=np.uint64, count=len(self._index))
        missing = np.setdiff1d(np.unique(cells), known)
        if len(missing):
            start = len(self._text)
            self._index.update(zip(missing.tolist(), range(start, start + len(missing))))
            self._text.extend(_rings_json(*cell_rings(missing)))
        return [self._index[c] for c in cells.tolist()]

    def script(self) -> str:
        """``var hs_rings = [[[lon,lat],...], ...];``"""
        return f"var {RINGS_VAR} = [" + ",".join(self._text) + "];"


#: Restores each feature's Polygon from ``hs_rings`` (before Leaflet's addData).
_RESTORE_RINGS_JS = ("data.features.forEach(function(f) { if (f.ring !== undefined) { "
                     f'f.geometry = {{"type": "Polygon", "coordinates": [{RINGS_VAR}[f.ring]]}}; }} }});')


def _cells_json(rings: _RingTable, cells: np.ndarray, properties: list[dict], ids: list[str] | None = None) -> str:
    """A FeatureCollection of hexagons as compact, script-safe JSON text (built as strings, not dicts).

    Geometry is ``null`` with the cell's index in :class:`_RingTable` as ``"ring"``.
    """
    head = '{"type":"Feature",' if ids is None else None
    feats = []
    for i, (ring, props) in enumerate(zip(rings.index(cells), properties)):
        start = head or '{"type":"Feature","id":%s,' % _ENCODE(ids[i])
        feats.append('%s"properties":%s,"geometry":null,"ring":%d}' % (start, _ENCODE(props), ring))
    return _html_safe('{"type":"FeatureCollection","features":[' + ",".join(feats) + "]}")


def _collection_json(features: list[dict]) -> str:
    """Features (plain dicts) as one compact, script-safe FeatureCollection text."""
    return _html_safe(_ENCODE({"type": "FeatureCollection", "features": features}))


def _as_uint64_cells(values, what: str) -> np.ndarray:
    try:
        return np.asarray(values, dtype=np.uint64)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidInputError(f"{what}: 'cell' must hold uint64 H3 cells; {exc}") from exc


def cells_feature_collection(
    cells: np.ndarray, properties: list[dict] | None = None, ids: Iterable[str] | None = None
) -> dict:
    """Hexagon Polygons (closed 7-point rings, 5 dp) as a GeoJSON FeatureCollection.

    Parameters
    ----------
    cells : array of uint64
    properties : list of dict, optional
        One dict per cell (values must already be JSON-safe).
    ids : iterable of str, optional
        Feature ids; default the cells' hex strings.
    """
    cells = _as_uint64_cells(cells, "cells_feature_collection")
    ids = list(ids) if ids is not None else cells_to_hex(cells)
    properties = properties if properties is not None else [{} for _ in range(len(cells))]
    return {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "id": fid, "properties": props, "geometry": {"type": "Polygon", "coordinates": [ring]}}
            for ring, fid, props in zip(_rings(cells), ids, properties)
        ],
    }


def _round_coords(coords):
    if isinstance(coords, (list, tuple)) and coords and isinstance(coords[0], (int, float)):
        return [round(float(coords[0]), _DP), round(float(coords[1]), _DP)]
    return [_round_coords(c) for c in coords]


def _geometry_dict(geom) -> dict:
    gi = geom.__geo_interface__
    return {"type": gi["type"], "coordinates": _round_coords(gi["coordinates"])}


def _geometries_json(geoms) -> list[str]:
    """GeoJSON geometry text (``_DP`` decimals) of each shapely geometry (none None or empty).

    Polygons without holes (cluster hulls) are encoded together through one coordinate
    array; anything else goes through :func:`_geometry_dict`.
    """
    arr = np.asarray(list(geoms), dtype=object)
    out = [""] * len(arr)
    simple = (shapely.get_type_id(arr) == 3) & (shapely.get_num_interior_rings(arr) == 0)
    idx = np.flatnonzero(simple)
    if len(idx):
        coords, which = shapely.get_coordinates(shapely.get_exterior_ring(arr[idx]), return_index=True)
        rings = _rings_json(coords, np.bincount(which, minlength=len(idx)))
        for i, ring in zip(idx.tolist(), rings):
            out[i] = '{"type":"Polygon","coordinates":[%s]}' % ring
    for i in np.flatnonzero(~simple).tolist():
        out[i] = _ENCODE(_geometry_dict(arr[i]))
    return out


def _outline_bounds(outline: dict) -> list[list[float]]:
    """[[lat_min, lon_min], [lat_max, lon_max]] of a GeoJSON geometry (the study-area outline)."""
    pts = np.array([p for p in _positions(outline["coordinates"])], dtype=np.float64)
    (lon_min, lat_min), (lon_max, lat_max) = pts.min(axis=0).tolist(), pts.max(axis=0).tolist()
    return [[lat_min, lon_min], [lat_max, lon_max]]


def _positions(coords) -> Iterable[list[float]]:
    if coords and isinstance(coords[0], (int, float)):
        yield coords
    else:
        for c in coords:
            yield from _positions(c)


def _cells_outline(cells: np.ndarray) -> dict | None:
    """Dissolved outline of many cells as one GeoJSON geometry (None if empty)."""
    if len(cells) == 0:
        return None
    shape = h3n.cells_to_h3shape(np.unique(np.asarray(cells, dtype=np.uint64)))
    return _geometry_dict(shape)


def _new_map(tiles: str | None, title: str) -> folium.Map:
    """A map page without base tiles, or with the configured tile server (a tile file is added later,
    once the study area is known: :func:`pipelines.render.context.add_base_tiles`)."""
    problem = check_tiles(tiles, lead="tiles must be an http(s) URL template")
    if problem:
        raise InvalidInputError(problem + ".")
    url = tiles_url(tiles)
    m = folium.Map(tiles=None, control_scale=True, prefer_canvas=False, zoom_start=12, location=[0, 0])
    m._hs_tiles = url  # read by render_html: the one URL allowed in the page
    if url:
        folium.TileLayer(tiles=url, attr="Configured tile server", name="Base map", control=True).add_to(m)
    m.get_root().header.add_child(_html_fragment("<title>{{ title }}</title>", title=title), name="hs_title_tag")
    m.get_root().header.add_child(RawElement(f"<style>{_BASE_CSS}</style>"), name="hs_base_css")
    return m


def _banner(m: folium.Map, synthetic: bool) -> None:
    if synthetic:
        m.get_root().html.add_child(
            RawElement('<div class="hs-synthetic" id="hs-synthetic" role="alert">SYNTHETIC DATA — NOT REAL YOUNG PEOPLE</div>'),
            name="hs_synthetic",
        )


def render_html(m: folium.Map) -> str:
    """Self-contained HTML for a map built here (what the pipeline writes).

    Render each map once: folium appends its ``addTo`` calls again on a second
    render (harmless in Leaflet, but the page grows).
    """
    tiles = getattr(m, "_hs_tiles", None)
    return offline_html(m, allowed_urls=[tiles] if tiles else [])



def _frame_props(df: pd.DataFrame, columns: list[str], suppress: Iterable[str], k: int | None) -> list[dict]:
    suppress = set(suppress)
    rows = []
    for rec in df[columns].to_dict("records"):
        props = {}
        for col, val in rec.items():
            if col in suppress and k is not None and val is not None and not (isinstance(val, float) and math.isnan(val)):
                props[col] = _json_value(suppress_count(int(val), k))
            else:
                props[col] = _json_value(val)
        rows.append(props)
    return rows


def _label(col: str) -> str:
    return {
        "cluster_rank": "Cluster rank", "kind": "Kind", "n_cells": "Cells", "window_start": "From",
        "window_end": "To", "window_weeks": "Weeks", "observed": "Observed", "expected": "Expected",
        "obs_exp": "Observed / expected", "relative_risk": "Relative risk", "p_value": "p", "recurrence_weeks":
        "Recurrence (weeks)", "label": "Cluster", "n_events": "Events", "n_young_people": "Young people",
        "n_placements": "Placements", "first_t": "First", "last_t": "Last", "area_m2": "Area (m²)",
        "score": "Score", "rank": "Rank", "first_week": "First week", "last_week": "Last week", "cell": "Cell",
    }.get(col, col.replace("_", " ").capitalize())


_TOOLTIP_CSS = """<style>
.foliumtooltip table{margin:auto;}
.foliumtooltip tr{text-align:left;}
.foliumtooltip th{padding:2px;padding-right:8px;}
</style>"""

#: folium's GeoJsonTooltip table (same fields/aliases text), bound once per layer. ``fields`` and
#: ``aliases`` are constant labels; property values were HTML-escaped by :func:`_json_value`.
_TOOLTIP_JS = """%(name)s.bindTooltip(function(layer){
    let div = L.DomUtil.create('div');
    let handleObject = feature => {
        if (feature === null || feature === undefined) { return ''; }
        else if (typeof(feature)=='object') { return ''; }
        else { return feature; }
    }
    let fields = %(fields)s;
    let aliases = %(aliases)s;
    let table = '<table>' + String(fields.map((v,i)=>
        `<tr><th>${aliases[i]}</th><td>${handleObject(layer.feature.properties[v])}</td></tr>`).join(''))
        + '</table>';
    div.innerHTML=table;
    return div;
}, {"sticky": true, "className": "foliumtooltip"});"""

#: The same table as a click popup (folium's GeoJsonPopup shape), for the patrol map.
_POPUP_JS = """%(name)s.bindPopup(function(layer){
    let div = L.DomUtil.create('div');
    let fields = %(fields)s;
    let aliases = %(aliases)s;
    let value = v => (v === null || v === undefined || typeof(v) == 'object') ? '' : v;
    div.innerHTML = '<table>' + String(fields.map((v,i)=>
        `<tr><th>${aliases[i]}</th><td>${value(layer.feature.properties[v])}</td></tr>`).join('')) + '</table>';
    return div;
}, {"maxWidth": %(max_width)d, "className": "foliumpopup"});"""

#: Each point feature drawn as a circle marker with the layer's style.
_POINT_JS = "pointToLayer: function(feature, latlng) { return L.circleMarker(latlng, %(name)s_styler(feature)); }, "


class _JsonLayer(folium.map.Layer):
    """A GeoJSON layer whose data is embedded as ready-made JSON text (never re-serialised).

    Why: ``folium.GeoJson`` re-encodes its data, lists every feature id in a style switch
    and compiles the rendered script (tens of MB on a busy week) as a Jinja template; at
    millions of reports that was most of the maps step. The page keeps folium's shape —
    ``geo_json_<id>_add({FeatureCollection})``, one shared style per value of
    ``style_key`` and folium's tooltip table — so Leaflet draws the same paths.
    """

    def __init__(self, data_json: str, style_key: str, styles: Mapping[Any, dict], default: dict,
                 fields: list[str] | None = None, aliases: list[str] | None = None, rings: _RingTable | None = None,
                 *, points: bool = False, popup: tuple[list[str], list[str], int] | None = None,
                 on_each_feature: str | None = None, after: str | None = None, pane: str | None = None):
        super().__init__(overlay=True, control=False, show=True)
        self.rings = rings
        self._name = "GeoJson"  # page variables are named geo_json_<id>, as folium names them
        self.data_json = data_json
        self.style_key = style_key
        self.styles = {str(k): v for k, v in styles.items()}
        self.default = default
        self.fields = fields
        self.aliases = aliases or fields
        self.points = points
        self.popup = popup
        self.on_each_feature = on_each_feature  # a module constant (JavaScript), never data
        self.after = after  # JavaScript run after the data is added (``%(name)s`` = the layer); never data
        self.pane = pane  # a Leaflet pane name (a module constant)

    def script(self) -> str:
        """The layer's JavaScript: styles, the L.geoJson layer, its data, tooltip and popup."""
        name = self.get_name()
        options = _POINT_JS % {"name": name} if self.points else ""
        if self.on_each_feature:
            options += f"onEachFeature: {self.on_each_feature}, "
        if self.pane:
            options += f"pane: {_html_safe(_ENCODE(self.pane))}, "
        lines = [
            f"var {name}_styles = {_html_safe(_ENCODE(self.styles))};",
            f"function {name}_styler(feature) {{ var s = {name}_styles[feature.properties[{_html_safe(_ENCODE(self.style_key))}]];"
            f" return s === undefined ? {_html_safe(_ENCODE(self.default))} : s; }}",
            f"var {name} = L.geoJson(null, {{{options}smoothFactor: 0.5, style: {name}_styler}});",
            f"function {name}_add (data) {{ {_RESTORE_RINGS_JS if self.rings else ''}{name}.addData(data); }}",
            f"{name}_add({self.data_json});",
        ]
        if self.after:
            lines.append(self.after % {"name": name})
        if self.fields:
            lines.append(_TOOLTIP_JS % {"name": name, "fields": _html_safe(json.dumps(self.fields)),
                                        "aliases": _html_safe(json.dumps(self.aliases))})
        if self.popup:
            fields, aliases, max_width = self.popup
            lines.append(_POPUP_JS % {"name": name, "fields": _html_safe(json.dumps(fields)),
                                      "aliases": _html_safe(json.dumps(aliases)), "max_width": int(max_width)})
        return "\n".join(lines)

    def render(self, **kwargs) -> None:
        """Write the script verbatim (no template), then let folium add the layer to its group."""
        figure = self.get_root()
        if self.fields:
            figure.header.add_child(RawElement(_TOOLTIP_CSS), name="hs_tooltip_css")
        if self.rings is not None and RINGS_VAR not in figure.script._children:  # once, before the first layer
            figure.script.add_child(RawElement(self.rings.script()), name=RINGS_VAR)
        figure.script.add_child(RawElement(self.script()), name=self.get_name())
        super().render(**kwargs)


class _PageScript(MacroElement):
    """Constant JavaScript (``%(map)s`` = the map's variable) written verbatim after the layers added before it.

    Add it to the map after every layer and control it refers to; folium renders children in
    order, so its script runs once they exist. ``data`` (script-safe JSON text) is bound to the
    page variable ``%(data)s``; the code itself is a module constant, never data.
    """

    def __init__(self, code: str, data_json: str = "null", **names: str):
        super().__init__()
        self._name = "PageScript"
        self.code, self.data_json, self.names = code, data_json, names

    def render(self, **kwargs) -> None:
        """Write the script verbatim (no template)."""
        figure = self.get_root()
        name = self.get_name()
        text = f"var {name}_data = {self.data_json};\n" + self.code % {
            "map": self._parent.get_name(), "data": f"{name}_data", **self.names}
        figure.script.add_child(RawElement(text), name=name)


def _add_geojson(
    group, data_json: str, style_key: str, styles: Mapping[Any, dict], default: dict,
    fields: list[str] | None, aliases: list[str] | None, rings: _RingTable | None = None, **options: Any,
) -> _JsonLayer:
    """Add a layer of pre-encoded features to ``group`` (see :class:`_JsonLayer`); ``rings`` when they use the table.

    ``data_json`` must be script-safe JSON (:func:`_collection_json`, :func:`_cells_json`).
    """
    layer = _JsonLayer(data_json, style_key, styles, default, fields, aliases, rings, **options)
    layer.add_to(group)
    return layer
