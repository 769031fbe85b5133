"""The commander's patrol sheet: the plan on a map and in a table, one A4 landscape page.

The view (zoom, centre) and the rank labels' offsets are fitted here in Python at the
page's fixed map size, so what is printed is what was fitted.
"""

from __future__ import annotations

import math
from typing import Any, Iterable

import folium
import h3
import h3.api.numpy_int as h3n
import numpy as np
import pandas as pd

from analytics import grid
from analytics.errors import InvalidInputError
from analytics.grid import cells_to_hex
from analytics.places import cell_rings
from pipelines.render.context import add_area_layers, add_base_tiles, add_labels, points_clear
from pipelines.render.map_parts import (
    PRIORITY_COLOURS, RawElement, _add_geojson, _cells_outline, _collection_json, _html_fragment, _json_value,
    _new_map, _round_coords, cells_feature_collection,
)

__all__ = ["patrol_map", "sheet_view", "label_offsets", "PATROL_FIELDS", "SHEET_MAP_MM", "SHEET_ROWS"]

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
.hs-patrol-legend .hs-area-sw { display:inline-block; width: 22px; height: 0; border-top: 2px solid #1f3a93;
  vertical-align: middle; }
.leaflet-tooltip.hs-sheet-place { z-index: -1; font-size: 9.5px; background: rgba(255,255,255,.7); color: #333; }
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
    '{% if outline %}<span class="hs-outline-sw"></span> study area{% endif %}'
    '{% if areas %} &nbsp;<span class="hs-area-sw"></span> areas: {{ areas }}{% endif %}<br>'
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
    res = h3n.get_resolution(int(cells[0]))
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
    places=None,
    areas=None,
    placements=None,
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
        Configured tile URL template, or an offline ``.mbtiles``/``.pmtiles`` file (the tiles of the
        sheet's view embedded); none by default.
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
    places : geopandas.GeoDataFrame, optional
        ``name``, ``category``, geometry: the :data:`SHEET_PLACES` places in the view nearest
        to the planned cells are named on the map (text only, no markers).
    areas : geopandas.GeoDataFrame, optional
        ``layer``, ``area_id``, ``area_name``, geometry: outlines and names of the areas in view.
    placements : DataFrame, optional
        ``lat``, ``lon`` (``radius_m``) of care placements: the sheet is shared, so place names and
        area layers are drawn (at 4 decimals) only when none of their coordinates lies near one
        (each left out whole otherwise; :func:`pipelines.render.context.map_notes` says so).

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
    view = None
    if len(p):
        centre, zoom = sheet_view(all_cells, size_px)
        view = _view_bounds(centre, zoom, size_px)
        m.options["zoom"] = zoom  # the centre is set in the page from the cells (_SHEET_VIEW_JS)
        anchors = np.array([[np.mean([h3n.cell_to_latlng(int(c))[k] for c in e]) for k in (0, 1)]
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
                   ["Rank", "Priority band", "Kind", "Nearby places", "When (local time)", "Dose", "Why",
                    "H3 cell(s)"], 420),
            on_each_feature=_RANK_LABEL_JS,
            after=_SHEET_VIEW_JS % {"map": m.get_name(), "zoom": int(m.options["zoom"])},
        )
    group.add_to(m)
    add_base_tiles(m, tiles, view)
    area_layers = (add_area_layers(m, areas, clip=view, placements=placements)
                   if areas is not None and len(areas) and view else [])
    if places is not None and len(places) and view:
        _add_sheet_places(m, places, view, all_cells, placements)
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
        bands=bands, outline=outline is not None, areas=", ".join(name for name, _ in area_layers[:1]),
        cell_size=_cell_size_text(all_cells) if len(all_cells) else "350 m",
        dose=_text(p["dose"].iloc[0]) if len(p) else ""), name="hs_side")
    return m


def _centre_text(lat: Any, lon: Any, cells: np.ndarray) -> str:
    """"lat, lon" of a plan entry (5 dp); the mean of its cells' centres when the plan has none."""
    try:
        la, lo = float(lat), float(lon)
    except (TypeError, ValueError):
        la = lo = math.nan
    if not (math.isfinite(la) and math.isfinite(lo)):
        pts = [h3n.cell_to_latlng(int(c)) for c in cells]
        la, lo = float(np.mean([q[0] for q in pts])), float(np.mean([q[1] for q in pts]))
    return f"{la:.5f}, {lo:.5f}"


#: Places named on the sheet (those in view nearest to the planned cells).
SHEET_PLACES = 30


def _view_bounds(centre: list[float], zoom: int, size_px: tuple[float, float]) -> list[list[float]]:
    """[[lat_min, lon_min], [lat_max, lon_max]] of the sheet's map frame at ``zoom`` around ``centre``."""
    cx, cy = _world_px(np.array([centre[0]]), np.array([centre[1]]), zoom)[0].tolist()
    n, w = _unproject(cx - size_px[0] / 2, cy - size_px[1] / 2, zoom)
    s, e = _unproject(cx + size_px[0] / 2, cy + size_px[1] / 2, zoom)
    return [[s, w], [n, e]]


def _add_sheet_places(m: folium.Map, places, view: list[list[float]], cells: np.ndarray, placements=None) -> None:
    """Name the places in view nearest to the planned cells (labels only: no markers on the sheet).

    With ``placements`` the names are written at 4 decimals, and none is written if any lies near a
    placement (leaving out only that one would point at the placement).
    """
    missing = {"name", "geometry"} - set(places.columns)
    if missing:
        raise InvalidInputError(f"places lacks column(s) {sorted(missing)}; expected name, category, geometry.")
    gdf = places.to_crs("EPSG:4326") if getattr(places, "crs", None) is not None else places
    gdf = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty]
    pts = gdf.geometry.representative_point()
    lat, lon = pts.y.to_numpy(), pts.x.to_numpy()
    (s, w), (n, e) = view
    inside = (lat >= s) & (lat <= n) & (lon >= w) & (lon <= e)
    if not inside.any():
        return
    centres = np.array([h3n.cell_to_latlng(int(c)) for c in np.unique(cells)])
    d = np.min(np.hypot(lat[inside, None] - centres[None, :, 0],
                        (lon[inside, None] - centres[None, :, 1]) * np.cos(np.radians(centres[None, :, 0]))), axis=1)
    order = np.argsort(d, kind="mergesort")[:SHEET_PLACES]
    names = gdf["name"].to_numpy()[inside][order]
    lat, lon = lat[inside][order], lon[inside][order]
    if placements is not None and not points_clear(lat, lon, placements):
        m.__dict__.setdefault("_hs_notes", []).append(
            "Shared map: place names are not drawn on the patrol sheet — a place in view lies near a care placement.")
        return
    group = folium.FeatureGroup(name="Places (names)", show=True)
    group.add_to(m)
    add_labels(m, group, list(zip(lat, lon, names)), "hs-sheet-place", 0, dp=4 if placements is not None else 5)
