"""Geographic context on every map, offline: base tiles, area outlines and names, place labels.

Base tiles come from :mod:`pipelines.render.tiles` (a tile server URL or an offline MBTiles file).

Labels (area names, place names) are permanent Leaflet tooltips whose text is HTML-escaped
here (:func:`pipelines.render.map_parts._json_value`); a label group is on the map only from
its zoom on (area names from :data:`AREA_LABEL_ZOOM`, place names at street zoom,
:data:`PLACE_LABEL_ZOOM`), so a city-wide view is not buried in text.
"""

from __future__ import annotations

from typing import Any

import folium
import numpy as np
import shapely

from analytics.errors import InvalidInputError
from pipelines.render.map_parts import (
    _DP, _ENCODE, _add_geojson, _geometries_json, _html_safe, _json_value, _layer_name, _PageScript,
)
from pipelines.render.tiles import BLANK_TILE, OFFLINE_TILES_JS, check_tiles, mbtiles_tiles, tiles_url

__all__ = ["AREA_LABEL_ZOOM", "PLACE_LABEL_ZOOM", "AREA_COLUMNS", "add_base_tiles", "add_area_layers", "add_labels",
           "map_notes", "map_areas"]

#: Zoom from which area names are shown (whole districts readable), and place names (street zoom).
AREA_LABEL_ZOOM = 12
PLACE_LABEL_ZOOM = 15
#: The areas frame's columns (pipelines.areas.load_areas); geometry in EPSG:4326.
AREA_COLUMNS = ("layer", "area_id", "area_name", "geometry")
#: Leaflet pane below the hexagons (overlayPane is 400): an area's inside is clickable, a hexagon on top wins.
AREA_PANE = "hsAreas"
_AREA_COLOUR = "#1f3a93"


def add_base_tiles(m: folium.Map, tiles: Any, bounds: list[list[float]] | None) -> None:
    """Add the configured base map: a tile server URL, or the MBTiles tiles covering ``bounds``."""
    notes = m.__dict__.setdefault("_hs_notes", [])
    if tiles is None or tiles_url(tiles):
        return  # the URL layer is made with the map (map_parts._new_map)
    problem = check_tiles(tiles)
    if problem:
        raise InvalidInputError(problem + ".")
    if bounds is None:
        return
    got = mbtiles_tiles(tiles, bounds)
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
               min_zoom: int, beside: bool = False) -> None:
    """Permanent text labels at ``points`` (lat, lon, text) that follow ``group`` and show from ``min_zoom``.

    The text is HTML-escaped here (Leaflet inserts it with ``innerHTML``); ``css_class`` is a constant.
    ``beside``: the label sits right of its point (a place's marker) instead of centred on it.
    """
    labels = [[round(float(la), _DP), round(float(lo), _DP), _json_value(t)] for la, lo, t in points
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
                    series: dict | None = None) -> list[tuple[str, folium.FeatureGroup]]:
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
        keep = ~shapely.is_empty(geoms)
        grp, geoms = grp[keep], geoms[keep]
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
        pts = shapely.point_on_surface(geoms)
        add_labels(m, group, [(p.y, p.x, n) for p, n in zip(pts, grp["area_name"])], "hs-area-label",
                   AREA_LABEL_ZOOM)
        out.append((str(layer), group))
    return out


def map_areas(store) -> Any:
    """The store's areas for the maps (``pipelines.areas.load_areas``), or None when there are none.

    The areas module comes with area support; without it the maps simply have no areas.
    """
    import importlib
    import importlib.util

    if importlib.util.find_spec("pipelines.areas") is None:
        return None
    areas = importlib.import_module("pipelines.areas").load_areas(store.con)
    return areas if areas is not None and len(areas) else None
