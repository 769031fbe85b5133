"""Folium builders for the analyst map and the commander patrol map.

This module builds :class:`folium.Map` objects and HTML strings; it never writes
files (the weekly pipeline does). :func:`render_html` turns a map into one
self-contained page through :func:`analytics.offline.offline_html`: Leaflet is
inlined, nothing is fetched, and no tile layer is drawn unless one is configured.

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
  constant Jinja2 templates with autoescaping and written verbatim (:class:`RawElement`);
* layer data and options reach JavaScript only as JSON made script-safe by
  :func:`_html_safe` (``< > & '`` and U+2028/U+2029 escaped), through :class:`_JsonLayer`,
  which writes its script verbatim; feature properties are HTML-escaped first
  (:func:`_json_value`), because Leaflet tooltips and popups insert them with ``innerHTML``;
* layer-control names, which Leaflet also inserts with ``innerHTML``, go through
  :func:`_layer_name`;
* no folium object is given text from data, and :func:`analytics.offline.offline_html`
  never compiles rendered output again (second line of defence).
"""

from __future__ import annotations

import functools
import json
import math
from typing import Any, Iterable, Mapping

import folium
import h3
import jinja2
import numpy as np
import pandas as pd
import shapely

from analytics.errors import InvalidInputError
from analytics import grid
from analytics.grid import cells_to_hex
from analytics.offline import RawElement, escape_text, html_environment, offline_html
from analytics.patrol import CATEGORIES, CATEGORY_LABELS, SEVERITY_ORDER
from analytics.places import cell_rings
from analytics.privacy import DEFAULT_K, suppress_count

__all__ = [
    "analyst_map",
    "patrol_map",
    "render_html",
    "cells_feature_collection",
    "SEVERITY_ORDER",
    "CATEGORIES",
    "CATEGORY_COLOURS",
    "CATEGORY_LABELS",
    "GI_COLOURS",
    "PRIORITY_COLOURS",
    "PATROL_FIELDS",
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


#: The only way text from data becomes page HTML: constant templates, autoescaped.
_FRAGMENTS = html_environment(undefined=jinja2.StrictUndefined)


@functools.lru_cache(maxsize=None)
def _fragment_template(template: str) -> jinja2.Template:
    return _FRAGMENTS.from_string(template)


def _html_fragment(template: str, **data: Any) -> RawElement:
    """A page block rendered from a CONSTANT Jinja2 template with autoescaping, written verbatim.

    ``template`` must be a module constant, never text built from data; data goes in as
    variables only (escaped on output). The result is a :class:`RawElement`, which the
    page writes as is (branca's ``Element`` would compile it as a template again).
    """
    return RawElement(_fragment_template(template).render(**data))


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
    shape = h3.cells_to_h3shape([h3.int_to_str(int(c)) for c in np.unique(cells)])
    return _geometry_dict(shape)


def _new_map(tiles: str | None, title: str) -> folium.Map:
    if tiles and not str(tiles).lower().startswith(("http://", "https://")):
        raise InvalidInputError(f"tiles must be an http(s) URL template like \"https://your-tile-server/{{z}}/{{x}}/{{y}}.png\"; "
                                f"received {tiles!r}.")
    m = folium.Map(tiles=None, control_scale=True, prefer_canvas=False, zoom_start=12, location=[0, 0])
    m._hs_tiles = tiles  # read by render_html: the one URL allowed in the page
    if tiles:
        folium.TileLayer(tiles=tiles, attr="Configured tile server", name="Base map", control=True).add_to(m)
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


# --------------------------------------------------------------------------- analyst map
def _check_hotspots(hotspots: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(hotspots, pd.DataFrame):
        raise InvalidInputError("hotspots must be a pandas DataFrame with columns cell and category.")
    missing = {"cell", "category"} - set(hotspots.columns)
    if missing:
        raise InvalidInputError(
            f"hotspots lacks column(s) {sorted(missing)}; expected cell, category, gi_class, count, z, p_fdr, reason, places."
        )
    bad = sorted(set(hotspots["category"].astype(str)) - set(CATEGORIES))
    if bad:
        raise InvalidInputError(f"hotspots has unknown category value(s) {bad[:5]}; allowed: {CATEGORIES}.")
    out = hotspots.copy()
    out["cell"] = grid.cells_from_any(out["cell"], "hotspots")
    if out["cell"].duplicated().any():
        dup = h3.int_to_str(int(out.loc[out["cell"].duplicated(), "cell"].iloc[0]))
        raise InvalidInputError(f"hotspots must have one row per cell; cell {dup} appears more than once.")
    for col in ("gi_class", "count", "z", "p_fdr", "reason", "places"):
        if col not in out.columns:
            out[col] = None
    return out


_LEGEND_TEMPLATE = (
    '<div class="hs-box hs-legend" id="hs-legend" aria-label="Legend"><b>Legend</b>'
    "{% for heading, rows in sections %}<h4>{{ heading }}</h4>"
    '{% for colour, label, cls in rows %}<div><span class="sw {{ cls }}" style="background:{{ colour }}"></span>'
    "{{ label }}</div>{% endfor %}{% endfor %}"
    '{% if note %}<div style="margin-top:4px;max-width:240px;color:#444">{{ note }}</div>{% endif %}</div>'
)


def _legend(sections: list[tuple[str, list[tuple[str, str, str]]]], note: str = "") -> RawElement:
    """The analyst map's legend block (every text escaped)."""
    return _html_fragment(_LEGEND_TEMPLATE, sections=sections, note=note)


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
                 on_each_feature: str | None = None, after: str | None = None):
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

    def script(self) -> str:
        """The layer's JavaScript: styles, the L.geoJson layer, its data, tooltip and popup."""
        name = self.get_name()
        options = _POINT_JS % {"name": name} if self.points else ""
        if self.on_each_feature:
            options += f"onEachFeature: {self.on_each_feature}, "
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


_TITLEBOX_TEMPLATE = ('<div class="hs-box hs-title" id="hs-title"><b>{{ title }}</b>'
                      "{% if subtitle %}<br>{{ subtitle }}{% endif %}"
                      "{% if synthetic %}<br><b>SYNTHETIC DATA</b>{% endif %}</div>")


def analyst_map(
    hotspots: pd.DataFrame,
    places=None,
    scan_clusters=None,
    st_clusters=None,
    convergence: pd.DataFrame | None = None,
    recent_weeks: pd.DataFrame | None = None,
    tiles: str | None = None,
    title: str = "Places where young people may be at risk — weekly hotspot map (analyst)",
    synthetic: bool = False,
    *,
    show_no_pattern: bool = False,
    n_recent_weeks: int = 4,
    k: int | None = DEFAULT_K,
    subtitle: str = "",
) -> folium.Map:
    """Analyst map: emerging categories, Gi* classes, clusters, convergence, places, recent weeks.

    Parameters
    ----------
    hotspots : pandas.DataFrame
        One row per cell: ``cell`` (uint64 or hex), ``category`` (one of
        :data:`CATEGORIES`), and optionally ``gi_class`` (−3…3), ``count``,
        ``z``, ``p_fdr``, ``reason``, ``places`` (text).
    places : geopandas.GeoDataFrame, optional
        ``name``, ``category`` and point/polygon geometry; one layer per category.
    scan_clusters : DataFrame or GeoDataFrame, optional
        Prospective scan clusters: a GeoDataFrame with geometry, or the
        :attr:`analytics.scan.ScanResult.clusters` frame (``cells`` = tuples of
        cells, drawn as the dissolved outline of the cluster's cells).
    st_clusters : geopandas.GeoDataFrame, optional
        ST-DBSCAN hulls from :func:`analytics.clusters.cluster_summaries`.
    convergence : pandas.DataFrame, optional
        :func:`analytics.convergence.find_convergence` output (``cell`` …).
    recent_weeks : pandas.DataFrame, optional
        ``cell``, ``week`` (label), ``count``: one layer per week (the last
        ``n_recent_weeks``), off by default.
    tiles : str, optional
        Tile URL template of a configured (internal) server; no tiles by default.
    title, subtitle : str
        Title block text.
    synthetic : bool
        Show the SYNTHETIC banner.
    show_no_pattern : bool, default False
        Also draw ``no_pattern`` cells on the category layer (they are always
        part of the study-area outline).
    n_recent_weeks : int, default 4
    k : int or None, default 5
        Counts of young people / placements in tooltips below ``k`` show as
        ``"<k"``; ``None`` shows exact counts.

    Returns
    -------
    folium.Map
        Feature groups (layer control names): "Study area", "Emerging hot and
        cold spots", "Gi* hot/cold spots", "Scan clusters", "ST-DBSCAN
        clusters", "Convergence sites", "Places: <category>", "Week <label>".
        Each hexagon carries ``className`` ``hs-cell hs-<layer>`` so browser
        tests can count drawn paths.
    """
    hs = _check_hotspots(hotspots)
    m = _new_map(tiles, title)
    all_cells = hs["cell"].to_numpy(dtype=np.uint64)
    rings = _RingTable()  # every hexagon layer below shares one ring per cell

    # Study area: the dissolved outline of every cell, no_pattern included.
    study = folium.FeatureGroup(name="Study area", show=True)
    outline = _cells_outline(all_cells)
    if outline is not None:
        style = {"color": _STUDY_COLOUR, "weight": 1.2, "fill": True, "fillOpacity": 0.03,
                 "fillColor": _STUDY_COLOUR, "interactive": False, "className": "hs-study"}
        _add_geojson(study, _collection_json([{"type": "Feature", "id": "study_area", "properties": {"layer": "study"},
                                               "geometry": outline}]), "layer", {"study": style}, style, None, None)
    study.add_to(m)

    # Emerging categories: one GeoJson, style keyed on the category property.
    emerging = folium.FeatureGroup(name="Emerging hot and cold spots", show=True)
    drawn = hs if show_no_pattern else hs[hs["category"] != "no_pattern"]
    props = []
    for rec in drawn[["category", "count", "z", "p_fdr", "gi_class", "reason", "places"]].to_dict("records"):
        props.append({
            "layer": "emerging",
            "category": rec["category"],
            "label": CATEGORY_LABELS[rec["category"]],
            "count": _json_value(rec["count"]),
            "z": _json_value(None if rec["z"] is None else round(float(rec["z"]), 2)),
            "p_fdr": _json_value(None if rec["p_fdr"] is None else float(f"{float(rec['p_fdr']):.3g}")),
            "reason": _json_value(rec["reason"]),
            "places": _json_value(rec["places"]),
        })
    cat_styles = {
        cat: {
            "fillColor": colour, "fillOpacity": 0.72, "color": "#222" if cat.endswith("_hot") else "#08306b",
            "weight": 1.2 if cat != "no_pattern" else 0.5,
            "dashArray": "3 3" if cat.endswith("_cold") else None,
            "className": "hs-cell hs-emerging",
        }
        for cat, colour in CATEGORY_COLOURS.items()
    }
    cat_styles = {c: {k_: v for k_, v in s.items() if v is not None} for c, s in cat_styles.items()}
    if len(drawn):
        drawn_cells = drawn["cell"].to_numpy(dtype=np.uint64)
        _add_geojson(
            emerging, _cells_json(rings, drawn_cells, props, cells_to_hex(drawn_cells)), "category",
            cat_styles, cat_styles["no_pattern"],
            ["label", "count", "z", "p_fdr", "reason", "places"],
            ["Pattern", "Count (this week)", "Gi* z", "p (FDR)", "Why", "Nearby places"], rings,
        )
    emerging.add_to(m)

    # Gi* classes (significant cells only), off by default.
    gi = hs[pd.to_numeric(hs["gi_class"], errors="coerce").fillna(0).astype(int) != 0]
    if len(gi):
        gi_group = folium.FeatureGroup(name="Gi* hot/cold spots (this week)", show=False)
        gi_props = [
            {"layer": "gistar", "gi_class": int(g), "label": GI_LABELS[int(g)], "z": _json_value(
                None if z is None else round(float(z), 2))}
            for g, z in zip(gi["gi_class"], gi["z"])
        ]
        gi_styles = {g: {"fillColor": c, "fillOpacity": 0.75, "color": "#333", "weight": 0.8,
                         "className": "hs-cell hs-gistar"} for g, c in GI_COLOURS.items()}
        gi_cells = gi["cell"].to_numpy(dtype=np.uint64)
        _add_geojson(gi_group, _cells_json(rings, gi_cells, gi_props, cells_to_hex(gi_cells)),
                     "gi_class", gi_styles, gi_styles[0], ["label", "z"], ["Gi* class", "Gi* z"], rings)
        gi_group.add_to(m)

    if scan_clusters is not None and len(scan_clusters):
        _add_scan_layer(m, scan_clusters)
    if st_clusters is not None and len(st_clusters):
        _add_st_layer(m, st_clusters, k)
    if convergence is not None and len(convergence):
        _add_convergence_layer(m, convergence, k, rings)
    if places is not None and len(places):
        _add_places_layers(m, places)
    if recent_weeks is not None and len(recent_weeks):
        _add_week_layers(m, recent_weeks, n_recent_weeks, rings)

    folium.LayerControl(collapsed=False, position="topright").add_to(m)
    hot_rows = [(CATEGORY_COLOURS[f"{s}_hot"], CATEGORY_LABELS[f"{s}_hot"], "hot") for s in SEVERITY_ORDER]
    cold_rows = [(CATEGORY_COLOURS[f"{s}_cold"], CATEGORY_LABELS[f"{s}_cold"], "cold") for s in SEVERITY_ORDER]
    present = set(hs["category"])
    hot_rows = [r for r, s in zip(hot_rows, SEVERITY_ORDER) if f"{s}_hot" in present] or hot_rows[:1]
    cold_rows = [r for r, s in zip(cold_rows, SEVERITY_ORDER) if f"{s}_cold" in present]
    sections = [("Hot spots (most urgent first)", hot_rows)]
    if cold_rows:
        sections.append(("Cold spots", cold_rows))
    other = [("#ffffff", "Study area (outline)", "")]
    if convergence is not None and len(convergence):
        other.append((_CONVERGENCE_COLOUR, "Convergence site", ""))
    sections.append(("Other layers", other))
    m.get_root().html.add_child(_legend(
        sections, "Darker = more urgent. Hot: solid outline; cold: dashed. Hover a cell for why it is flagged."),
        name="hs_legend")
    m.get_root().html.add_child(_html_fragment(_TITLEBOX_TEMPLATE, title=title, subtitle=subtitle,
                                               synthetic=synthetic), name="hs_titlebox")
    _banner(m, synthetic)
    if outline is not None:  # the outline's vertices are the outer vertices of all cells
        m.fit_bounds(_outline_bounds(outline), padding=(10, 10))
    return m


def _add_scan_layer(m: folium.Map, clusters) -> None:
    group = folium.FeatureGroup(name="Scan clusters (emerging)", show=True)
    cols = [c for c in ("cluster_rank", "kind", "n_cells", "window_start", "window_end", "observed", "expected",
                        "relative_risk", "p_value", "recurrence_weeks") if c in clusters.columns]
    props = _frame_props(clusters, cols, (), None)
    feats = []
    if "geometry" in getattr(clusters, "columns", []) and hasattr(clusters, "crs"):
        geoms = clusters.to_crs("EPSG:4326").geometry if clusters.crs is not None else clusters.geometry
        geoms = [None if g is None or g.is_empty else _geometry_dict(g) for g in geoms]
    elif "cells" in clusters.columns:
        geoms = [_cells_outline(grid.cells_from_any(list(cs), "scan_clusters")) for cs in clusters["cells"]]
    else:
        raise InvalidInputError("scan_clusters needs a geometry column (GeoDataFrame) or a 'cells' column.")
    for i, (p, g) in enumerate(zip(props, geoms)):
        if g is not None:
            feats.append({"type": "Feature", "id": f"scan{i}", "properties": {"layer": "scan", **p}, "geometry": g})
    style = {"color": "#000000", "weight": 3, "fill": True, "fillOpacity": 0.0, "dashArray": "8 4",
             "className": "hs-cluster hs-scan"}
    _add_geojson(group, _collection_json(feats), "layer", {"scan": style}, style,
                 cols or None, [_label(c) for c in cols] or None)
    group.add_to(m)


def _add_st_layer(m: folium.Map, clusters, k: int | None) -> None:
    if "geometry" not in clusters.columns:
        raise InvalidInputError("st_clusters must be a GeoDataFrame of cluster hulls (analytics.clusters.cluster_summaries).")
    group = folium.FeatureGroup(name="ST-DBSCAN clusters", show=False)
    cols = [c for c in ("label", "n_events", "n_young_people", "first_t", "last_t") if c in clusters.columns]
    props = _frame_props(clusters, cols, ("n_young_people",), k)
    geoms = clusters.to_crs("EPSG:4326").geometry if getattr(clusters, "crs", None) is not None else clusters.geometry
    keep = [i for i, g in enumerate(geoms) if g is not None and not g.is_empty]
    geom_json = _geometries_json(geoms.iloc[keep] if hasattr(geoms, "iloc") else [geoms[i] for i in keep])
    feats = ['{"type":"Feature","id":"st%d","properties":%s,"geometry":%s}' % (i, _ENCODE({"layer": "st", **props[i]}), g)
             for i, g in zip(keep, geom_json)]
    style = {"color": "#4d4d4d", "weight": 2, "fillColor": "#bababa", "fillOpacity": 0.25, "className": "hs-cluster hs-st"}
    data = _html_safe('{"type":"FeatureCollection","features":[' + ",".join(feats) + "]}")
    _add_geojson(group, data, "layer", {"st": style}, style, cols or None, [_label(c) for c in cols] or None)
    group.add_to(m)


def _add_convergence_layer(m: folium.Map, conv: pd.DataFrame, k: int | None, rings: _RingTable) -> None:
    if "cell" not in conv.columns:
        raise InvalidInputError("convergence needs a 'cell' column (analytics.convergence.find_convergence).")
    group = folium.FeatureGroup(name="Convergence sites", show=True)
    cols = [c for c in ("rank", "n_young_people", "n_placements", "first_week", "last_week") if c in conv.columns]
    props = [{"layer": "convergence", **p} for p in _frame_props(conv, cols, ("n_young_people", "n_placements"), k)]
    style = {"color": _CONVERGENCE_COLOUR, "weight": 3.5, "fill": False, "className": "hs-cell hs-convergence"}
    _add_geojson(group, _cells_json(rings, grid.cells_from_any(conv["cell"], "convergence"), props,
                                    ids=[f"cv{i}" for i in range(len(conv))]),
                 "layer", {"convergence": style}, style, cols or None, [_label(c) for c in cols] or None, rings)
    group.add_to(m)


_PLACE_COLOURS = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666"]


def _add_places_layers(m: folium.Map, places) -> None:
    missing = {"name", "category", "geometry"} - set(places.columns)
    if missing:
        raise InvalidInputError(f"places lacks column(s) {sorted(missing)}; expected name, category, geometry.")
    gdf = places.to_crs("EPSG:4326") if getattr(places, "crs", None) is not None else places
    gdf = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty]
    for i, (cat, grp) in enumerate(gdf.groupby(gdf["category"].astype(str), sort=True)):
        pts = grp.geometry.representative_point()
        feats = [
            {"type": "Feature", "id": f"pl{i}_{j}", "properties": {"layer": "place", "name": _json_value(n),
                                                                    "category": _json_value(cat)},
             "geometry": {"type": "Point", "coordinates": [round(p.x, _DP), round(p.y, _DP)]}}
            for j, (n, p) in enumerate(zip(grp["name"], pts))
        ]
        colour = _PLACE_COLOURS[i % len(_PLACE_COLOURS)]
        group = folium.FeatureGroup(name=_layer_name(f"Places: {cat.replace('_', ' ')}"), show=False)
        style = {"color": "#000", "weight": 1, "fillColor": colour, "fillOpacity": 0.9, "radius": 5,
                 "className": "hs-place"}
        _add_geojson(group, _collection_json(feats), "layer", {"place": style}, style,
                     ["name", "category"], ["Place", "Category"], points=True)
        group.add_to(m)


_WEEK_BREAKS = [(1, 1, "#fed976"), (2, 3, "#feb24c"), (4, 6, "#fd8d3c"), (7, 10, "#e31a1c"), (11, None, "#800026")]


def _week_class(n: float) -> int:
    for i, (lo, hi, _) in enumerate(_WEEK_BREAKS):
        if n >= lo and (hi is None or n <= hi):
            return i
    return -1


def _add_week_layers(m: folium.Map, weeks: pd.DataFrame, n_recent: int, rings: _RingTable) -> None:
    missing = {"cell", "week", "count"} - set(weeks.columns)
    if missing:
        raise InvalidInputError(f"recent_weeks lacks column(s) {sorted(missing)}; expected cell, week, count.")
    w = weeks[pd.to_numeric(weeks["count"], errors="coerce").fillna(0) > 0].copy()
    w["week"] = w["week"].astype(str)
    labels = sorted(w["week"].unique())[-int(n_recent):]
    styles = {i: {"fillColor": c, "fillOpacity": 0.7, "color": "#444", "weight": 0.6, "className": "hs-cell hs-week"}
              for i, (_, _, c) in enumerate(_WEEK_BREAKS)}
    for label in labels:
        sub = w[w["week"] == label]
        props = [{"layer": "week", "week": _json_value(label), "count": int(c), "cls": _week_class(float(c))} for c in sub["count"]]
        group = folium.FeatureGroup(name=_layer_name(f"Week {label}"), show=False)
        _add_geojson(group, _cells_json(rings, grid.cells_from_any(sub["cell"], "recent_weeks"), props),
                     "cls", styles, styles[0], ["week", "count"], ["Week", "Count"], rings)
        group.add_to(m)


# --------------------------------------------------------------------------- patrol map
#: The patrol sheet's map frame (mm). It has the same size on screen and on paper, so the view
#: fitted here in Python (zoom, centre, label offsets) is the view printed.
SHEET_MAP_MM = (158.0, 168.0)
#: Plan entries listed on the sheet (one A4 page); the rest are in patrol_plan.csv.
SHEET_ROWS = 12
_PX_PER_MM = 96 / 25.4
_SHEET_PAD_PX = 34     # room around the fitted cells for labels and leader lines
_LABEL_H_PX = 18
_LABEL_RADII = (0, 26, 38, 52, 68, 86, 108)  # when the label fits inside its cell
_LABEL_ANGLES = (0, 330, 30, 300, 60, 180, 150, 210, 270, 90, 120, 240)  # degrees; 0 = right, screen y down

_PATROL_CSS = """
@page { size: A4 landscape; margin: 0; }
html, body { width: 297mm !important; height: 209mm !important; margin: 0 !important; padding: 0 !important; }
body { box-sizing: border-box; padding: 6mm 7mm; display: grid !important; grid-template-columns: %(map_w)smm 1fr;
  grid-template-rows: 22mm %(map_h)smm; column-gap: 5mm; row-gap: 3mm; overflow: hidden;
  font: 11px/1.3 system-ui,-apple-system,'Segoe UI',Arial,sans-serif; color: #111; }
.hs-head { grid-column: 1 / 3; grid-row: 1; border-bottom: 2px solid #333; overflow: hidden; }
.hs-head h1 { font-size: 17px; margin: 0 0 2px; }
.hs-head .hs-when { font-size: 13px; font-weight: bold; }
.hs-head .hs-sub { color: #333; font-size: 10px; }
.hs-synthetic-inline { display:inline-block; background:#000; color:#fff; font-weight:bold; font-size: 12px;
  letter-spacing:.12em; padding:1px 8px; margin-left:8px; }
#{map} { grid-column: 1; grid-row: 2; width: %(map_w)smm !important; height: %(map_h)smm !important;
  position: relative !important; left: 0 !important; top: 0 !important; border: 1px solid #555; box-sizing: border-box;
  background: #fff; }
.hs-north { grid-column: 1; grid-row: 2; justify-self: end; align-self: end; z-index: 1000; margin: 0 8px 26px 0;
  background: rgba(255,255,255,.9); border: 1px solid #555; border-radius: 3px; padding: 2px 5px; text-align: center;
  font: bold 12px/1 system-ui,Arial,sans-serif; }
.hs-north .hs-arrow { display: block; width: 0; height: 0; margin: 2px auto 1px; border-left: 7px solid transparent;
  border-right: 7px solid transparent; border-bottom: 18px solid #000; }
.hs-side { grid-column: 2; grid-row: 2; overflow: hidden; display: flex; flex-direction: column; gap: 2mm; }
.hs-plan table { border-collapse: collapse; width: 100%%; table-layout: fixed; font-size: 8.5px; line-height: 1.25; }
.hs-plan th, .hs-plan td { border: 1px solid #999; padding: 2px 3px; text-align: left; vertical-align: top;
  overflow-wrap: break-word; }
.hs-plan code { overflow-wrap: anywhere; }
.hs-plan th { background: #eee; }
.hs-plan .hs-clamp { display: -webkit-box; -webkit-line-clamp: 3; -webkit-box-orient: vertical; overflow: hidden; }
.hs-plan code { font-size: 8px; }
.hs-band { display:inline-block; min-width: 14px; text-align:center; color:#fff; font-weight:bold; border-radius:2px;
  padding: 0 3px; }
.hs-patrol-legend { font-size: 10px; }
.hs-patrol-legend .hs-outline-sw { display:inline-block; width: 22px; height: 0; border-top: 2px dashed #444;
  vertical-align: middle; }
.hs-patrol-legend .hs-rank-sw { display:inline-block; border: 1.5px solid #000; background:#fff; font-weight:bold;
  padding: 0 3px; }
.hs-footer { font-size: 9px; color: #333; }
.leaflet-tooltip.hs-rank { background: #fff; border: 1.5px solid #000; border-radius: 3px; font: bold 12px/14px
  system-ui,Arial,sans-serif; padding: 1px 4px; box-shadow: none; color: #000; }
.leaflet-tooltip.hs-rank::before { display: none; }
.hs-leader { position: absolute; height: 0; border-top: 1.5px solid #000; transform-origin: 0 0; pointer-events: none; }
* { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
@media screen { html, body { overflow: auto; } }
@media print { .leaflet-control-zoom, .leaflet-control-layers { display: none !important; } }
"""

#: Permanent rank label per cell, centred at the cell centre plus the offset fitted in Python
#: (``label_dx``/``label_dy``, pixels), with a leader line back to the centre when moved. Only
#: integers are read from the feature; the label's text is set with ``textContent``.
_RANK_LABEL_JS = (
    "function(feature, layer) { var p = feature.properties; var dx = p.label_dx | 0, dy = p.label_dy | 0; "
    "var el = document.createElement('span'); el.className = 'hs-rank-text'; el.textContent = String(p.rank | 0); "
    "if (dx !== 0 || dy !== 0) { var line = document.createElement('div'); line.className = 'hs-leader'; "
    "var len = Math.max(0, Math.sqrt(dx * dx + dy * dy) - (p.label_edge | 0)); "
    "line.style.width = len + 'px'; line.style.left = 'calc(50% - ' + dx + 'px)'; "
    "line.style.top = 'calc(50% - ' + dy + 'px)'; "
    "line.style.transform = 'rotate(' + Math.atan2(dy, dx) + 'rad)'; "
    "var box = document.createElement('span'); box.appendChild(el); box.appendChild(line); el = box; } "
    "layer.bindTooltip(el, {permanent: true, direction: 'center', offset: [dx, dy], "
    "className: 'hs-rank hs-rank-' + (p.rank | 0), opacity: 1, interactive: false}); }"
)

_PATROL_HEAD_TEMPLATE = (
    '<div class="hs-head" id="hs-title"><h1>{{ title }}'
    '{% if synthetic %}<span class="hs-synthetic-inline" id="hs-synthetic" role="alert">SYNTHETIC DATA — '
    "NOT REAL YOUNG PEOPLE</span>{% endif %}</h1>"
    '<div class="hs-when"><span id="hs-dates">{{ dates or "Next week" }}</span>'
    '{% if time_zone %} · <span id="hs-tz">times in {{ time_zone }}</span>{% endif %}</div>'
    '{% if subtitle %}<div class="hs-sub">{{ subtitle }}</div>{% endif %}</div>'
    '<div class="hs-north" id="hs-north" aria-label="North is up">N<span class="hs-arrow"></span></div>'
)
_PATROL_SIDE_TEMPLATE = (
    '<div class="hs-side">'
    '<div class="hs-plan" id="hs-plan"><table><colgroup><col style="width:7%"><col style="width:11%">'
    '<col style="width:25%"><col style="width:16%"><col style="width:19%"><col style="width:22%"></colgroup>'
    "<thead><tr><th>Rank</th><th>Band</th><th>Where: nearest place(s)</th><th>Centre (lat, lon)</th>"
    "<th>When{% if time_zone %} ({{ time_zone }}){% endif %}</th><th>H3 cell(s)</th></tr></thead><tbody>"
    '{% for r in rows %}<tr><td><b>{{ r.rank }}</b></td><td><span class="hs-band" style="background:{{ r.colour }}">'
    '{{ r.priority }}</span>{% if r.kind %}<br>{{ r.kind }}{% endif %}</td>'
    '<td><div class="hs-clamp">{% if r.area %}<b>{{ r.area }}</b> · {% endif %}{{ r.places or "—" }}</div></td>'
    "<td>{{ r.centre }}</td><td>{{ r.windows or '—' }}</td><td><code>{{ r.cells }}</code></td></tr>{% endfor %}"
    "</tbody></table>{% if more %}<div>… and {{ more }} more entries in patrol_plan.csv.</div>{% endif %}</div>"
    '<div class="hs-patrol-legend" id="hs-legend"><b>Legend</b><br>Priority band: '
    '{% for b, colour, label in bands %}<span class="hs-band" style="background:{{ colour }}">{{ b }}</span> {{ label }}'
    "{% if not loop.last %} &nbsp;{% endif %}{% endfor %}<br>"
    '<span class="hs-rank-sw">1</span> rank of the place (a line joins a moved label to its hexagon) &nbsp; '
    '{% if outline %}<span class="hs-outline-sw"></span> study area{% endif %}<br>'
    "Hexagons are map cells about {{ cell_size }} across; north is up; scale bar at the map's bottom left.</div>"
    '<div class="hs-footer"><b>Dose:</b> {{ dose }}<br>This plan shows places and times only: no information about '
    "individual young people is included. Use with local knowledge; record what was done so the effect can be "
    "evaluated.</div></div>"
)

#: Centres the sheet's view on the plan's cells at the zoom fitted in Python (:func:`sheet_view`).
#: The centre is computed in the browser from the cells' own vertices, so no coordinate other
#: than the cells' geometry is written into the page. ``%(map)s`` and ``%(zoom)d`` are filled in
#: from the map's variable name and an integer; ``%%(name)s`` is the layer.
_SHEET_VIEW_JS = (
    "(function () { var b = %%(name)s.getBounds(), z = %(zoom)d; "
    "var c = %(map)s.unproject(%(map)s.project(b.getNorthWest(), z).add(%(map)s.project(b.getSouthEast(), z))"
    ".divideBy(2), z); %(map)s.setView(c, z, {animate: false}); })();"
)

#: The plan columns the patrol map reads (everything else is ignored); only ``rank``,
#: ``priority`` and ``cells`` (or a legacy ``cell``) are required.
PATROL_FIELDS = ["rank", "priority", "kind", "area_name", "places", "lat", "lon", "windows", "time_zone", "dose",
                 "reason", "cells"]


def _text(value: Any) -> str:
    """Plain text of a plan value for an autoescaped template ('' for missing)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def _check_plan(plan: pd.DataFrame) -> tuple[pd.DataFrame, list[np.ndarray]]:
    """The plan's :data:`PATROL_FIELDS` (missing optional ones empty), sorted by rank, and each entry's cells."""
    from analytics.patrol import plan_cells

    if not isinstance(plan, pd.DataFrame):
        raise InvalidInputError("plan must be the DataFrame returned by analytics.patrol.patrol_plan.")
    missing = {"rank", "priority"} - set(plan.columns)
    if missing or not {"cells", "cell"} & set(plan.columns):
        raise InvalidInputError(
            f"plan lacks column(s) {sorted(missing | ({'cells'} if not {'cells', 'cell'} & set(plan.columns) else set()))}; "
            "build it with analytics.patrol.patrol_plan."
        )
    out = plan.sort_values("rank", kind="mergesort").reset_index(drop=True)
    entries = [grid.cells_from_any(cs, "plan") for cs in plan_cells(out)]
    if any(len(e) == 0 for e in entries):
        raise InvalidInputError("plan has an entry without cells.")
    out = pd.DataFrame({c: (out[c] if c in out.columns else "") for c in PATROL_FIELDS if c != "cells"})
    # whitelist: nothing else from the input can reach the page
    bad = sorted(set(pd.to_numeric(out["priority"], errors="coerce").dropna().astype(int)) - set(PRIORITY_COLOURS))
    if bad or out["priority"].isna().any():
        raise InvalidInputError(f"plan priority must be 1, 2 or 3; found {bad or 'missing values'}.")
    out["windows"] = [("; ".join(w) if isinstance(w, (list, tuple, np.ndarray)) else ("" if w is None else str(w)))
                      for w in out["windows"]]
    out["cells"] = [";".join(cells_to_hex(e)) for e in entries]
    return out, entries


def _world_px(lat: np.ndarray, lon: np.ndarray, zoom: float) -> np.ndarray:
    """Web Mercator pixel coordinates (x right, y down) at ``zoom``, as Leaflet projects them."""
    scale = 256.0 * 2.0 ** zoom
    lat = np.clip(np.asarray(lat, dtype=np.float64), -85.0511287798, 85.0511287798)
    x = (np.asarray(lon, dtype=np.float64) + 180.0) / 360.0 * scale
    y = (0.5 - np.log(np.tan(np.pi / 4 + np.radians(lat) / 2)) / (2 * np.pi)) * scale
    return np.column_stack([x, y])


def _unproject(x: float, y: float, zoom: float) -> tuple[float, float]:
    scale = 256.0 * 2.0 ** zoom
    lon = x / scale * 360.0 - 180.0
    lat = math.degrees(2 * math.atan(math.exp((0.5 - y / scale) * 2 * math.pi)) - math.pi / 2)
    return lat, lon


def sheet_view(cells: np.ndarray, size_px: tuple[float, float], pad_px: float = _SHEET_PAD_PX,
               max_zoom: int = 16) -> tuple[list[float], int]:
    """Centre [lat, lon] and integer zoom that fit ``cells`` in a map of ``size_px`` (as Leaflet's fitBounds)."""
    lonlat, _ = cell_rings(np.unique(np.asarray(cells, dtype=np.uint64)))
    xy0 = _world_px(lonlat[:, 1], lonlat[:, 0], 0)
    span = np.maximum(xy0.max(axis=0) - xy0.min(axis=0), 1e-9)
    room = np.maximum(np.asarray(size_px, dtype=float) - 2 * pad_px, 16.0)
    zoom = int(np.clip(math.floor(math.log2(float(np.min(room / span)))), 1, max_zoom))
    cx, cy = ((xy0.max(axis=0) + xy0.min(axis=0)) / 2 * 2.0 ** zoom).tolist()
    return list(_unproject(cx, cy, zoom)), zoom


def _label_size(rank: int) -> tuple[float, float]:
    return 12.0 + 7.5 * len(str(int(rank))), float(_LABEL_H_PX)


def label_offsets(xy: np.ndarray, ranks: Iterable[int], size_px: tuple[float, float],
                  clear_px: Iterable[float] | None = None) -> list[tuple[int, int, int]]:
    """Pixel offsets that keep every rank label clear of the others: ``(dx, dy, edge)`` per label.

    Labels are placed in rank order (1 first). Each takes the first position, on rings of
    growing radius around its cell centre (12 directions, right first), whose box overlaps no
    label already placed, covers no other planned cell's centre and stays inside the map frame;
    if none is free, the position with the least overlap. A label sits on its cell only when the
    cell is drawn large enough to hold it; otherwise the rings start just beside the cell, so the
    hexagon stays visible. ``edge`` is the distance from the label's centre to its border along
    the leader line (where the line starts).

    Parameters
    ----------
    xy : array (n, 2)
        Cell centres in screen pixels (x right, y down) of the fitted view.
    ranks : iterable of int
    size_px : (width, height) of the map frame.
    clear_px : iterable of float, optional
        Radius (pixels) of each entry's drawn shape around its centre; default 0.
    """
    xy = np.asarray(xy, dtype=np.float64)
    ranks = [int(r) for r in ranks]
    order = np.argsort(ranks, kind="mergesort")
    placed: list[tuple[float, float, float, float]] = []   # x0, y0, x1, y1
    out: list[tuple[int, int, int]] = [(0, 0, 0)] * len(ranks)
    width, height = size_px
    clear = np.zeros(len(ranks)) if clear_px is None else np.asarray(list(clear_px), dtype=np.float64)
    for i in order.tolist():
        w, h = _label_size(ranks[i])
        others = np.delete(xy, i, axis=0)
        best, best_cost = None, math.inf
        inside_fits = clear[i] * 0.85 >= math.hypot(w, h) / 2 + 2   # the label fits inside the hexagon
        start = clear[i] + w / 2 + 4
        radii = _LABEL_RADII if inside_fits else tuple(start + r for r in (0, 12, 26, 42, 60, 80, 104))
        for radius in radii:
            for angle in (_LABEL_ANGLES if radius else (0,)):
                dx = round(radius * math.cos(math.radians(angle)))
                dy = round(-radius * math.sin(math.radians(angle)))
                cx, cy = xy[i, 0] + dx, xy[i, 1] + dy
                box = (cx - w / 2 - 2, cy - h / 2 - 2, cx + w / 2 + 2, cy + h / 2 + 2)
                cost = sum(max(0.0, min(box[2], b[2]) - max(box[0], b[0])) * max(0.0, min(box[3], b[3]) - max(box[1], b[1]))
                           for b in placed)
                if len(others):
                    inside = ((others[:, 0] >= box[0] - 3) & (others[:, 0] <= box[2] + 3)
                              & (others[:, 1] >= box[1] - 3) & (others[:, 1] <= box[3] + 3))
                    cost += 50.0 * float(inside.sum())
                if box[0] < 0 or box[1] < 0 or box[2] > width or box[3] > height:
                    cost += 10.0
                if cost < best_cost:
                    best, best_cost = (dx, dy, box), cost
                if cost == 0:
                    break
            if best_cost == 0:
                break
        dx, dy, box = best
        placed.append(box)
        edge = 0
        if dx or dy:
            ux, uy = abs(dx) / math.hypot(dx, dy), abs(dy) / math.hypot(dx, dy)
            edge = int(math.ceil(min((w / 2 + 2) / ux if ux else math.inf, (h / 2 + 2) / uy if uy else math.inf)))
        out[i] = (int(dx), int(dy), edge)
    return out


def _cell_size_text(cells: np.ndarray) -> str:
    res = h3.get_resolution(h3.int_to_str(int(cells[0])))
    across = 2 * h3.average_hexagon_edge_length(res, unit="m")
    return f"{across / 1000:.1f} km" if across >= 1000 else f"{int(round(across, -1))} m"


def patrol_map(
    plan: pd.DataFrame,
    tiles: str | None = None,
    synthetic: bool = False,
    *,
    title: str = "Protective presence plan — places where young people may be at risk",
    subtitle: str = "",
    dates: str = "",
    time_zone: str = "",
    outline: dict | None = None,
) -> folium.Map:
    """Commander's patrol sheet: the plan on a map and in a table, one A4 landscape page when printed.

    Parameters
    ----------
    plan : pandas.DataFrame
        Output of :func:`analytics.patrol.patrol_plan`. Only the columns in
        :data:`PATROL_FIELDS` are read (``rank``, ``priority`` and ``cells`` —
        or a legacy ``cell`` — are required) — anything else in the frame never
        reaches the page.
    tiles : str, optional
        Configured tile URL template; none by default.
    synthetic : bool
        Show the SYNTHETIC banner.
    title, subtitle : str
        Title block (e.g. subtitle "Week 2025-W07 analysed · generated 2025-02-17").
    dates : str
        The calendar dates of the plan's week (e.g. "Mon 30 Jun – Sun 6 Jul 2025").
    time_zone : str
        Zone of the windows; default the plan's ``time_zone``.
    outline : dict, optional
        The study-area outline as a GeoJSON geometry (lon/lat), drawn dashed.

    Returns
    -------
    folium.Map
        A page of fixed A4 landscape size (print CSS ``@page``): title, dates
        and time zone; the map (cells coloured by priority band, RdPu, 1 =
        darkest; rank labels kept apart by offsets with leader lines fitted in
        Python at the page's zoom; the outline; Leaflet's scale bar; a north
        arrow); and a table saying where to go — rank, band and kind, nearest
        places (and area), centre latitude/longitude, windows and the H3 ids
        last — with the legend and the dose. No counts of young people, no
        person or episode references, no placement locations, no point markers.
    """
    p, entries = _check_plan(plan)
    if not time_zone and len(p):
        time_zone = _text(p["time_zone"].iloc[0])
    m = _new_map(tiles, title)
    size_px = (SHEET_MAP_MM[0] * _PX_PER_MM, SHEET_MAP_MM[1] * _PX_PER_MM)
    all_cells = np.concatenate(entries) if entries else np.empty(0, dtype=np.uint64)
    if outline is not None:
        study = folium.FeatureGroup(name="Study area", show=True)
        style = {"color": "#444444", "weight": 2, "dashArray": "6 4", "fill": False, "interactive": False,
                 "className": "hs-study"}
        geometry = {"type": str(outline["type"]), "coordinates": _round_coords(outline["coordinates"])}
        _add_geojson(study, _collection_json([{"type": "Feature", "id": "study_area", "properties": {"layer": "study"},
                                               "geometry": geometry}]), "layer", {"study": style}, style, None, None)
        study.add_to(m)
    offsets: list[tuple[int, int, int]] = []
    if len(p):
        centre, zoom = sheet_view(all_cells, size_px)
        m.options["zoom"] = zoom  # the centre is set in the page from the cells (_SHEET_VIEW_JS)
        anchors = np.array([[np.mean([h3.cell_to_latlng(h3.int_to_str(int(c)))[k] for c in e]) for k in (0, 1)]
                            for e in entries])
        xy = _world_px(anchors[:, 0], anchors[:, 1], zoom) - _world_px(np.array([centre[0]]), np.array([centre[1]]), zoom)
        clear = []
        for e, (ax, ay) in zip(entries, xy):
            lonlat, _ = cell_rings(np.asarray(e, dtype=np.uint64))
            v = _world_px(lonlat[:, 1], lonlat[:, 0], zoom) - _world_px(np.array([centre[0]]), np.array([centre[1]]), zoom)
            clear.append(float(np.hypot(v[:, 0] - ax, v[:, 1] - ay).max()))
        offsets = label_offsets(xy + np.array(size_px) / 2, p["rank"].astype(int).tolist(), size_px, clear)
    feats = []
    for rec, cells, (dx, dy, edge) in zip(p.to_dict("records"), entries, offsets):
        props = {
            "layer": "patrol", "rank": int(rec["rank"]), "priority": int(rec["priority"]),
            "kind": _json_value(rec["kind"]), "places": _json_value(rec["places"]),
            "windows": _json_value(rec["windows"]), "dose": _json_value(rec["dose"]),
            "reason": _json_value(rec["reason"]), "cells": _json_value(rec["cells"]),
            "label_dx": dx, "label_dy": dy, "label_edge": edge,
        }
        geometry = (cells_feature_collection(cells)["features"][0]["geometry"] if len(cells) == 1
                    else _cells_outline(cells))
        feats.append({"type": "Feature", "properties": props, "geometry": geometry})
    group = folium.FeatureGroup(name="Patrol cells", show=True)
    styles = {b: {"fillColor": c, "fillOpacity": 0.8, "color": "#000", "weight": 3 if b == 1 else 2,
                  "className": f"hs-cell hs-patrol hs-band{b}"} for b, c in PRIORITY_COLOURS.items()}
    if len(p):
        _add_geojson(
            group, _collection_json(feats), "priority", styles, styles[3], None, None,
            popup=(["rank", "priority", "kind", "places", "windows", "dose", "reason", "cells"],
                   ["Rank", "Priority band", "Kind", "Nearby places", "When (2-hour windows)", "Dose", "Why",
                    "H3 cell(s)"], 420),
            on_each_feature=_RANK_LABEL_JS,
            after=_SHEET_VIEW_JS % {"map": m.get_name(), "zoom": int(m.options["zoom"])},
        )
    group.add_to(m)
    folium.LayerControl(collapsed=True, position="topright").add_to(m)

    root = m.get_root()
    css = _PATROL_CSS % {"map_w": SHEET_MAP_MM[0], "map_h": SHEET_MAP_MM[1]}
    root.header.add_child(RawElement(f"<style>{css.replace('{map}', m.get_name())}</style>"), name="hs_patrol_css")
    root.html.add_child(_html_fragment(_PATROL_HEAD_TEMPLATE, title=title, subtitle=subtitle, synthetic=synthetic,
                                       dates=dates, time_zone=time_zone), name="hs_head")
    bands = [(b, c, lab) for (b, c), lab in zip(PRIORITY_COLOURS.items(), ["highest", "high", "elevated"])]
    rows = [{"rank": int(r["rank"]), "priority": int(r["priority"]), "colour": PRIORITY_COLOURS[int(r["priority"])],
             "kind": _text(r["kind"]), "area": _text(r["area_name"]),
             "places": "; ".join(_text(r["places"]).split("; ")[:2]), "centre": _centre_text(r["lat"], r["lon"], e),
             "windows": _text(r["windows"]), "cells": ", ".join(cells_to_hex(e))}
            for r, e in zip(p.to_dict("records"), entries)]
    root.html.add_child(_html_fragment(
        _PATROL_SIDE_TEMPLATE, rows=rows[:SHEET_ROWS], more=max(0, len(rows) - SHEET_ROWS), time_zone=time_zone,
        bands=bands, outline=outline is not None, cell_size=_cell_size_text(all_cells) if len(all_cells) else "350 m",
        dose=_text(p["dose"].iloc[0]) if len(p) else ""), name="hs_side")
    return m


def _centre_text(lat: Any, lon: Any, cells: np.ndarray) -> str:
    """"lat, lon" of a plan entry (5 dp); the mean of its cells' centres when the plan has none."""
    try:
        la, lo = float(lat), float(lon)
    except (TypeError, ValueError):
        la = lo = math.nan
    if not (math.isfinite(la) and math.isfinite(lo)):
        pts = [h3.cell_to_latlng(h3.int_to_str(int(c))) for c in cells]
        la, lo = float(np.mean([q[0] for q in pts])), float(np.mean([q[1] for q in pts]))
    return f"{la:.5f}, {lo:.5f}"
