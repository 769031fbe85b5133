"""The analyst map: emerging categories, Gi* classes, clusters, convergence, places, recent weeks.

Built from the shared pieces in :mod:`pipelines.render.map_parts` (every text from data
escaped, every layer's data script-safe JSON); rendered offline by
:func:`pipelines.render.map_parts.render_html`.
"""

from __future__ import annotations

import folium
import h3
import numpy as np
import pandas as pd

from analytics import grid
from analytics.errors import InvalidInputError
from analytics.grid import cells_to_hex
from analytics.patrol import CATEGORIES, CATEGORY_LABELS, SEVERITY_ORDER
from analytics.privacy import DEFAULT_K
from pipelines.render.context import AREA_LABEL_ZOOM, PLACE_LABEL_ZOOM, _check_areas, add_area_layers, add_base_tiles, add_labels
from pipelines.render.map_parts import (
    CATEGORY_COLOURS, GI_COLOURS, GI_LABELS, _CONVERGENCE_COLOUR, _DP, _ENCODE, _STUDY_COLOUR, RawElement, _RingTable,
    _add_geojson, _banner, _cells_json, _cells_outline, _collection_json, _frame_props, _geometries_json,
    _geometry_dict, _html_fragment, _html_safe, _json_value, _label, _layer_name, _new_map, _outline_bounds,
)

from pipelines.render.map_ui import POPUP_JS, add_interface, add_series, search_items, series_table

__all__ = ["analyst_map"]


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
    '<details class="hs-box hs-legend" id="hs-legend" open><summary>Legend</summary><div>'
    '{% for layer, heading, rows in sections %}<section class="hs-leg-sec" data-layer="{{ layer }}"><h4>{{ heading }}</h4>'
    '{% for colour, label, cls in rows %}<div><span class="sw {{ cls }}" style="background:{{ colour }}"></span>'
    "{{ label }}</div>{% endfor %}</section>{% endfor %}"
    '{% if note %}<div style="margin-top:4px;max-width:240px;color:#444">{{ note }}</div>{% endif %}</div></details>'
)


def _legend(sections: list[tuple[str, str, list[tuple[str, str, str]]]], note: str = "") -> RawElement:
    """The analyst map's legend block (every text escaped); each section names the layer it explains
    (``data-layer``), so the page shows it only while that layer is on (:mod:`pipelines.render.map_ui`)."""
    return _html_fragment(_LEGEND_TEMPLATE, sections=sections, note=note)



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
    areas=None,
    history: pd.DataFrame | None = None,
    area_history: pd.DataFrame | None = None,
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
        Tile URL template of a configured (internal) server, or an offline ``.mbtiles``/``.pmtiles``
        file (tiles of the study area embedded, :mod:`pipelines.render.tiles`); none by default.
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
    areas : geopandas.GeoDataFrame, optional
        ``layer``, ``area_id``, ``area_name``, geometry (:func:`pipelines.areas.load_areas`;
        optionally ``reason``, ``category``): one layer per area layer, outlines and names.
    history, area_history : pandas.DataFrame, optional
        ``cell`` (or ``area_id``), ``week``, ``count``: the weekly counts drawn in the click
        popup's chart (the last :data:`~pipelines.render.map_ui.SERIES_WEEKS` weeks).

    Returns
    -------
    folium.Map
        Feature groups (layer control names): "Study area", "Emerging hot and
        cold spots", "Gi* hot/cold spots", "Scan clusters", "ST-DBSCAN
        clusters", "Convergence sites", "Areas: <layer>", "Places: <category>"
        (on, names shown from street zoom), "Week <label>". Each hexagon carries
        ``className`` ``hs-cell hs-<layer>`` so browser tests can count drawn paths.
        The legend shows the sections of the layers switched on; a click on a cell or
        an area opens its reason and weekly chart; a search box finds places and areas.
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
    add_base_tiles(m, tiles, _outline_bounds(outline) if outline is not None else None)
    groups: dict[str, list[str]] = {"study": [study.get_name()]}

    # Emerging categories: one GeoJson, style keyed on the category property.
    emerging = folium.FeatureGroup(name="Emerging hot and cold spots", show=True)
    drawn = hs if show_no_pattern else hs[hs["category"] != "no_pattern"]
    if history is not None and len(history):
        history = history.assign(cell=grid.cells_from_any(history["cell"], "history"))
    cell_series, cell_index = series_table(history, "cell", set(drawn["cell"].tolist()))
    area_gdf = _check_areas(areas) if areas is not None and len(areas) else None
    area_series, area_index = series_table(area_history, "area_id")
    area_index = {str(a): i for a, i in area_index.items()}
    if cell_series["values"] or area_series["values"]:
        add_series(m, cell_series, area_series)
    props = []
    for rec in drawn[["category", "count", "z", "p_fdr", "gi_class", "reason", "places"]].to_dict("records"):
        props.append({
            "layer": "emerging",
            "category": rec["category"],
            "label": CATEGORY_LABELS[rec["category"]],
            "count": _json_value(rec["count"]),
            "z": _json_value(None if rec["z"] is None else round(float(rec["z"]), 2)),
            "p_fdr": _json_value(_p_text(rec["p_fdr"])),
            "reason": _json_value(rec["reason"]),
            "places": _json_value(rec["places"]),
        })
    for p_, c in zip(props, drawn["cell"].tolist()):
        if c in cell_index:
            p_["s"] = cell_index[c]
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
            ["Pattern", "Count (this week)", "Gi* z", "p (FDR)", "Why", "Nearby places"], rings, after=POPUP_JS,
        )
    emerging.add_to(m)
    groups["emerging"] = [emerging.get_name()]

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
        groups["gistar"] = [gi_group.get_name()]
    gi_present = sorted({int(g) for g in gi["gi_class"]}, reverse=True)

    if scan_clusters is not None and len(scan_clusters):
        groups["scan"] = [_add_scan_layer(m, scan_clusters).get_name()]
    if st_clusters is not None and len(st_clusters):
        groups["st"] = [_add_st_layer(m, st_clusters, k).get_name()]
    if convergence is not None and len(convergence):
        groups["convergence"] = [_add_convergence_layer(m, convergence, k, rings).get_name()]
    area_layers = []
    if area_gdf is not None and len(area_gdf):
        area_layers = add_area_layers(m, area_gdf, popup_js=POPUP_JS, series=area_index)
        groups["areas"] = [g.get_name() for _, g in area_layers]
    place_rows = []
    if places is not None and len(places):
        place_rows = _add_places_layers(m, places)
        groups["places"] = [g.get_name() for _, _, g in place_rows]
    if recent_weeks is not None and len(recent_weeks):
        groups["weeks"] = [g.get_name() for g in _add_week_layers(m, recent_weeks, n_recent_weeks, rings)]

    control = folium.LayerControl(collapsed=False, position="topright")
    control.add_to(m)
    hot_rows = [(CATEGORY_COLOURS[f"{s}_hot"], CATEGORY_LABELS[f"{s}_hot"], "hot") for s in SEVERITY_ORDER]
    cold_rows = [(CATEGORY_COLOURS[f"{s}_cold"], CATEGORY_LABELS[f"{s}_cold"], "cold") for s in SEVERITY_ORDER]
    present = set(hs["category"])
    hot_rows = [r for r, s in zip(hot_rows, SEVERITY_ORDER) if f"{s}_hot" in present] or hot_rows[:1]
    cold_rows = [r for r, s in zip(cold_rows, SEVERITY_ORDER) if f"{s}_cold" in present]
    sections = [("emerging", "Hot spots (most urgent first)", hot_rows)]
    if cold_rows:
        sections.append(("emerging", "Cold spots", cold_rows))
    if gi_present:
        sections.append(("gistar", "Gi* hot/cold spots", [(GI_COLOURS[g], GI_LABELS[g], "") for g in gi_present]))
    if "scan" in groups:
        sections.append(("scan", "Scan clusters", [("#ffffff", "Emerging cluster (dashed black outline)", "")]))
    if "st" in groups:
        sections.append(("st", "ST-DBSCAN clusters", [("#bababa", "Cluster of recent events (hull)", "")]))
    if "convergence" in groups:
        sections.append(("convergence", "Convergence", [(_CONVERGENCE_COLOUR, "Convergence site", "")]))
    if area_layers:
        sections.append(("areas", "Areas", [("#ffffff", f"{name} (outline, names from zoom {AREA_LABEL_ZOOM})", "area")
                                            for name, _ in area_layers]))
    if place_rows:
        sections.append(("places", "Places (names at street zoom)",
                         [(colour, cat.replace("_", " "), "place") for cat, colour, _ in place_rows]))
    if "weeks" in groups:
        sections.append(("weeks", "Events in a recent week", [(c, _week_break_label(lo, hi), "")
                                                              for lo, hi, c in _WEEK_BREAKS]))
    sections.append(("study", "Study area", [("#ffffff", "Study area (outline)", "")]))
    m.get_root().html.add_child(_legend(
        sections, "Darker = more urgent. Hot: solid outline; cold: dashed. Hover a cell for why it is flagged; "
                  "click it for its weekly chart."), name="hs_legend")
    m.get_root().html.add_child(_html_fragment(_TITLEBOX_TEMPLATE, title=title, subtitle=subtitle,
                                               synthetic=synthetic), name="hs_titlebox")
    _banner(m, synthetic)
    if outline is not None:  # the outline's vertices are the outer vertices of all cells
        m.fit_bounds(_outline_bounds(outline), padding=(10, 10))
    add_interface(m, control, {key: names for key, names in groups.items()},
                  search_items(places if place_rows else None, area_gdf))
    return m


def _add_scan_layer(m: folium.Map, clusters) -> folium.FeatureGroup:
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
    return group


def _add_st_layer(m: folium.Map, clusters, k: int | None) -> folium.FeatureGroup:
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
    return group


def _add_convergence_layer(m: folium.Map, conv: pd.DataFrame, k: int | None, rings: _RingTable) -> folium.FeatureGroup:
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
    return group


_PLACE_COLOURS = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666"]


def _add_places_layers(m: folium.Map, places) -> list[tuple[str, str, folium.FeatureGroup]]:
    """One layer per place category, shown, with the places' names as labels from street zoom."""
    missing = {"name", "category", "geometry"} - set(places.columns)
    if missing:
        raise InvalidInputError(f"places lacks column(s) {sorted(missing)}; expected name, category, geometry.")
    gdf = places.to_crs("EPSG:4326") if getattr(places, "crs", None) is not None else places
    gdf = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty]
    out = []
    for i, (cat, grp) in enumerate(gdf.groupby(gdf["category"].astype(str), sort=True)):
        pts = grp.geometry.representative_point()
        feats = [
            {"type": "Feature", "id": f"pl{i}_{j}", "properties": {"layer": "place", "name": _json_value(n),
                                                                    "category": _json_value(cat)},
             "geometry": {"type": "Point", "coordinates": [round(p.x, _DP), round(p.y, _DP)]}}
            for j, (n, p) in enumerate(zip(grp["name"], pts))
        ]
        colour = _PLACE_COLOURS[i % len(_PLACE_COLOURS)]
        group = folium.FeatureGroup(name=_layer_name(f"Places: {cat.replace('_', ' ')}"), show=True)
        style = {"color": "#000", "weight": 1, "fillColor": colour, "fillOpacity": 0.9, "radius": 5,
                 "className": "hs-place"}
        _add_geojson(group, _collection_json(feats), "layer", {"place": style}, style,
                     ["name", "category"], ["Place", "Category"], points=True)
        group.add_to(m)
        add_labels(m, group, [(p.y, p.x, n) for n, p in zip(grp["name"], pts)], "hs-place-label", PLACE_LABEL_ZOOM,
                   beside=True)
        out.append((cat, colour, group))
    return out


_WEEK_BREAKS = [(1, 1, "#fed976"), (2, 3, "#feb24c"), (4, 6, "#fd8d3c"), (7, 10, "#e31a1c"), (11, None, "#800026")]


def _p_text(p) -> float | str | None:
    """A p-value for the tooltip: 3 significant digits, "< 0.001" below (never a bare 0)."""
    if p is None or pd.isna(p):
        return None
    p = float(p)
    return "< 0.001" if p < 0.001 else float(f"{p:.3g}")


def _week_break_label(lo: int, hi: int | None) -> str:
    return f"{lo}+ events" if hi is None else (f"{lo} event" + ("s" if lo > 1 else "") if lo == hi else f"{lo}–{hi} events")


def _week_class(n: float) -> int:
    for i, (lo, hi, _) in enumerate(_WEEK_BREAKS):
        if n >= lo and (hi is None or n <= hi):
            return i
    return -1


def _add_week_layers(m: folium.Map, weeks: pd.DataFrame, n_recent: int, rings: _RingTable) -> list[folium.FeatureGroup]:
    missing = {"cell", "week", "count"} - set(weeks.columns)
    if missing:
        raise InvalidInputError(f"recent_weeks lacks column(s) {sorted(missing)}; expected cell, week, count.")
    w = weeks[pd.to_numeric(weeks["count"], errors="coerce").fillna(0) > 0].copy()
    w["week"] = w["week"].astype(str)
    labels = sorted(w["week"].unique())[-int(n_recent):]
    styles = {i: {"fillColor": c, "fillOpacity": 0.7, "color": "#444", "weight": 0.6, "className": "hs-cell hs-week"}
              for i, (_, _, c) in enumerate(_WEEK_BREAKS)}
    out = []
    for label in labels:
        sub = w[w["week"] == label]
        props = [{"layer": "week", "week": _json_value(label), "count": int(c), "cls": _week_class(float(c))} for c in sub["count"]]
        group = folium.FeatureGroup(name=_layer_name(f"Week {label}"), show=False)
        out.append(group)
        _add_geojson(group, _cells_json(rings, grid.cells_from_any(sub["cell"], "recent_weeks"), props),
                     "cls", styles, styles[0], ["week", "count"], ["Week", "Count"], rings)
        group.add_to(m)
    return out
