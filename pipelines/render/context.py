"""Geographic context on every map, offline: base tiles, area outlines and names, place labels.

Base tiles come from :mod:`pipelines.render.tiles` (a tile server URL or an offline MBTiles/PMTiles file).

Labels (area names, place names) are permanent Leaflet tooltips whose text is HTML-escaped
here (:func:`pipelines.render.map_parts._json_value`); a label group is on the map only from
its zoom on (area names from :data:`AREA_LABEL_ZOOM`, place names at street zoom,
:data:`PLACE_LABEL_ZOOM`), so a city-wide view is not buried in text.
"""

from __future__ import annotations

import math
from typing import Any

import folium
import numpy as np
import shapely

from analytics.errors import InvalidInputError
from pipelines.render.map_parts import (
    _DP, _ENCODE, _add_geojson, _geometries_json, _html_safe, _json_value, _layer_name, _PageScript,
)
from pipelines.render.tiles import BLANK_TILE, OFFLINE_TILES_JS, check_tiles, offline_tiles, tiles_url

__all__ = ["AREA_LABEL_ZOOM", "PLACE_LABEL_ZOOM", "AREA_COLUMNS", "add_base_tiles", "add_area_layers", "add_labels",
           "map_notes", "points_clear"]

#: Zoom from which area names are shown (whole districts readable), and place names (street zoom).
AREA_LABEL_ZOOM = 12
PLACE_LABEL_ZOOM = 15
#: The areas frame's columns (pipelines.areas.load_areas); geometry in EPSG:4326.
AREA_COLUMNS = ("layer", "area_id", "area_name", "geometry")
#: Leaflet pane below the hexagons (overlayPane is 400): an area's inside is clickable, a hexagon on top wins.
AREA_PANE = "hsAreas"
_AREA_COLOUR = "#1f3a93"


def add_base_tiles(m: folium.Map, tiles: Any, bounds: list[list[float]] | None) -> None:
    """Add the configured base map: a tile server URL, or the MBTiles/PMTiles tiles covering ``bounds``."""
    notes = m.__dict__.setdefault("_hs_notes", [])
    if tiles is None or tiles_url(tiles):
        return  # the URL layer is made with the map (map_parts._new_map)
    problem = check_tiles(tiles)
    if problem:
        raise InvalidInputError(problem + ".")
    if bounds is None:
        return
    got = offline_tiles(tiles, bounds)
    notes.append(got["note"])
    if not got["tiles"]:
        return
    data = {k: got[k] for k in ("tiles", "min_zoom", "max_zoom", "bounds", "attribution")}
    _PageScript(OFFLINE_TILES_JS, _html_safe(_ENCODE(data)), blank=_ENCODE(BLANK_TILE)).add_to(m)


def map_notes(m: folium.Map) -> list[str]:
    """Sentences about how the map was made (e.g. the offline tiles embedded), for the run's choices."""
    return list(getattr(m, "_hs_notes", []))


# ---------------------------------------------------------------------------------- labels
#: Permanent labels ``[[lat, lon, escaped text], …]`` in a layer group, on the map only from ``min_zoom``
#: while ``%(parent)s`` (their feature group) is shown.
_LABELS_JS = """var %(data)s_group = L.layerGroup();
%(data)s.labels.forEach(function (d) {
    L.tooltip({permanent: true, direction: %(data)s.dir, offset: %(data)s.offset, className: %(data)s.cls,
               interactive: false, opacity: 1})
        .setLatLng([Number(d[0]), Number(d[1])]).setContent(String(d[2])).addTo(%(data)s_group); });
function %(data)s_sync() {
    var on = %(map)s.getZoom() >= %(data)s.min_zoom && %(map)s.hasLayer(%(parent)s);
    if (on && !%(parent)s.hasLayer(%(data)s_group)) { %(parent)s.addLayer(%(data)s_group); }
    if (!on && %(parent)s.hasLayer(%(data)s_group)) { %(parent)s.removeLayer(%(data)s_group); } }
%(map)s.on("zoomend overlayadd overlayremove", %(data)s_sync);
setTimeout(%(data)s_sync, 0);"""


def add_labels(m: folium.Map, group: folium.FeatureGroup, points: list[tuple[float, float, Any]], css_class: str,
               min_zoom: int, beside: bool = False, dp: int = _DP) -> None:
    """Permanent text labels at ``points`` (lat, lon, text) that follow ``group`` and show from ``min_zoom``.

    The text is HTML-escaped here (Leaflet inserts it with ``innerHTML``); ``css_class`` is a constant.
    ``beside``: the label sits right of its point (a place's marker) instead of centred on it;
    ``dp``: coordinate decimals (4 on the shared sheet: never an exact event location).
    """
    labels = [[round(float(la), dp), round(float(lo), dp), _json_value(t)] for la, lo, t in points
              if np.isfinite(la) and np.isfinite(lo)]
    if labels:
        data = {"labels": labels, "cls": f"hs-label {css_class}", "min_zoom": int(min_zoom),
                "dir": "right" if beside else "center", "offset": [7, 0] if beside else [0, 0]}
        _PageScript(_LABELS_JS, _html_safe(_ENCODE(data)), parent=group.get_name()).add_to(m)


# ---------------------------------------------------------------------------------- areas
def _check_areas(areas) -> Any:
    missing = set(AREA_COLUMNS) - set(getattr(areas, "columns", []))
    if missing:
        raise InvalidInputError(f"areas lacks column(s) {sorted(missing)}; expected {', '.join(AREA_COLUMNS)} "
                                "(pipelines.areas.load_areas).")
    gdf = areas.to_crs("EPSG:4326") if getattr(areas, "crs", None) is not None else areas
    return gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty]


def add_area_layers(m: folium.Map, areas, *, clip: list[list[float]] | None = None, popup_js: str | None = None,
                    series: dict | None = None, placements=None) -> list[tuple[str, folium.FeatureGroup]]:
    """One layer per area layer (the user's name, e.g. "beats"): outlines and names; the first shown.

    Parameters
    ----------
    areas : GeoDataFrame
        ``layer``, ``area_id``, ``area_name``, ``geometry`` (optionally ``reason``, ``category``).
    clip : [[lat_min, lon_min], [lat_max, lon_max]], optional
        Draw only areas meeting this box (the patrol sheet's view).
    popup_js : str, optional
        A constant popup binder (``%(name)s`` = the layer) for a click on an area.
    series : dict, optional
        area_id -> index in the page's weekly series (property ``s``, read by the popup chart).
    placements : DataFrame, optional
        For a shared map: ``lat``, ``lon`` (``radius_m``) of care placements. Outlines and labels
        are then written at 4 decimals, and a layer any of whose vertices or labels lies near a
        placement is left out whole (a gap would point at the placement); the map's notes say so.

    Returns
    -------
    list of (layer name, FeatureGroup)
    """
    gdf = _check_areas(areas)
    if clip is not None:
        (s, w), (n, e) = clip
        gdf = gdf[gdf.geometry.intersects(shapely.box(w, s, e, n))]
    out = []
    if not len(gdf):
        return out
    folium.map.CustomPane(AREA_PANE, z_index=350, pointer_events=True).add_to(m)
    for i, (layer, grp) in enumerate(gdf.groupby(gdf["layer"].astype(str), sort=False)):
        geoms = shapely.simplify(np.asarray(grp.geometry.to_numpy(), dtype=object), 0.00002, preserve_topology=True)
        if placements is not None:
            geoms = shapely.set_precision(geoms, 1e-4)
        keep = ~shapely.is_empty(geoms)
        grp, geoms = grp[keep], geoms[keep]
        pts = shapely.point_on_surface(geoms)
        if placements is not None:
            xy = np.vstack([shapely.get_coordinates(geoms), shapely.get_coordinates(pts)])
            if not points_clear(xy[:, 1], xy[:, 0], placements):
                m.__dict__.setdefault("_hs_notes", []).append(
                    f"Shared map: the area layer {layer!r} is not drawn — an outline or name passes near a care placement.")
                continue
        text = _geometries_json(geoms)
        has = {c: c in grp.columns for c in ("reason", "category")}
        feats = []
        for j, (rec, g) in enumerate(zip(grp.to_dict("records"), text)):
            props = {"layer": "area", "area_layer": _json_value(layer), "area_id": _json_value(rec["area_id"]),
                     "area_name": _json_value(rec["area_name"])}
            if has["reason"]:
                props["reason"] = _json_value(rec["reason"])
            if has["category"]:
                props["category"] = _json_value(rec["category"])
            if series is not None and str(rec["area_id"]) in series:
                props["s"] = int(series[str(rec["area_id"])])
            feats.append('{"type":"Feature","id":"ar%d_%d","properties":%s,"geometry":%s}' % (i, j, _ENCODE(props), g))
        group = folium.FeatureGroup(name=_layer_name(f"Areas: {layer}"), show=(i == 0))
        style = {"color": _AREA_COLOUR, "weight": 1.6, "opacity": 0.9, "fill": True, "fillOpacity": 0.0,
                 "className": "hs-area"}
        data = _html_safe('{"type":"FeatureCollection","features":[' + ",".join(feats) + "]}")
        _add_geojson(group, data, "layer", {"area": style}, style, None, None, pane=AREA_PANE,
                     after=popup_js)
        group.add_to(m)
        add_labels(m, group, [(p.y, p.x, n) for p, n in zip(pts, grp["area_name"])], "hs-area-label",
                   AREA_LABEL_ZOOM, dp=4 if placements is not None else _DP)
        out.append((str(layer), group))
    return out


# ---------------------------------------------------------------------------------- shared sheet
#: Metres beyond a placement's radius that a coordinate on a shared map keeps clear (as the study outline).
SHARE_MARGIN_M = 50.0
_M_PER_DEG = 111_320.0


def points_clear(lat, lon, placements) -> bool:
    """True when every point is farther than its radius + :data:`SHARE_MARGIN_M` from every placement.

    ``placements``: ``lat``, ``lon``, optional ``radius_m`` (default
    :data:`analytics.safeguarding.PLACEMENT_RADIUS_M`) — what the privacy scan checks shared files against.
    """
    from scipy.spatial import cKDTree

    from analytics.safeguarding import PLACEMENT_RADIUS_M

    if placements is None or not len(placements):
        return True
    pl = placements.dropna(subset=["lat", "lon"])
    lat, lon = np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)
    if not len(pl) or not len(lat):
        return True
    radius = (pl["radius_m"].fillna(PLACEMENT_RADIUS_M).astype(float).to_numpy() if "radius_m" in pl.columns
              else np.full(len(pl), float(PLACEMENT_RADIUS_M)))
    kx = _M_PER_DEG * math.cos(math.radians(float(np.mean(lat))))
    tree = cKDTree(np.column_stack([pl["lon"].astype(float).to_numpy() * kx, pl["lat"].astype(float).to_numpy() * _M_PER_DEG]))
    pts = np.column_stack([lon * kx, lat * _M_PER_DEG])
    for i, near in enumerate(tree.query_ball_point(pts, float(radius.max()) + SHARE_MARGIN_M)):
        for j in near:
            if math.hypot(*(pts[i] - tree.data[j])) <= radius[j] + SHARE_MARGIN_M:
                return False
    return True
