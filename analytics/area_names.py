"""Name H3 cells and plan entries after the areas they lie in ("Five Points · District 2").

A cell belongs, in each area layer, to the area holding its centre; when no area holds the
centre (a cell on the layer's outer edge), to the area its hexagon overlaps most; else to none.
A cell's name joins one area name per layer, layers in the order given (``" · "``). A plan
entry spanning several cells names, per layer, its cells' areas, most cells first (``" / "``).

Pure computation on an areas GeoDataFrame with columns ``layer``, ``area_id``, ``area_name`` and
``geometry`` (EPSG:4326), as ``pipelines.areas.load_areas`` returns it.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import shapely

from analytics import grid
from analytics.places import cells_to_polygons

__all__ = ["LAYER_SEPARATOR", "SAME_LAYER_SEPARATOR", "cell_layer_areas", "cells_to_area_names",
           "name_plan_areas"]

#: Between the names of different layers: "Five Points · District 2".
LAYER_SEPARATOR = " · "
#: Between several areas of one layer (a plan entry across a border): "Five Points / Union Station".
SAME_LAYER_SEPARATOR = " / "


def _layers(areas) -> list[str]:
    return list(dict.fromkeys(areas["layer"].astype(str).tolist()))


def cell_layer_areas(cells: np.ndarray, areas) -> pd.DataFrame:
    """Per cell (rows, in order) and layer (columns, in order), the name of its area ("" when none)."""
    cells = np.asarray(cells, dtype=np.uint64)
    out = pd.DataFrame(index=range(len(cells)))
    if areas is None or len(areas) == 0 or len(cells) == 0:
        return out
    lat, lon = grid.cells_to_latlng(cells)
    centres = shapely.points(lon, lat)
    hexagons = None
    for layer in _layers(areas):
        sub = areas[areas["layer"].astype(str) == layer]
        geoms = np.asarray(sub.geometry.to_numpy(), dtype=object)
        names = sub["area_name"].astype(str).to_numpy()
        tree = shapely.STRtree(geoms)
        chosen = np.full(len(cells), -1, dtype=np.int64)
        p, a = tree.query(centres, predicate="intersects")
        if len(p):
            first = pd.DataFrame({"p": p, "a": a}).groupby("p")["a"].min()
            chosen[first.index.to_numpy()] = first.to_numpy()
        missing = np.flatnonzero(chosen < 0)
        if len(missing):
            if hexagons is None:
                hexagons = np.asarray(cells_to_polygons(cells).to_numpy(), dtype=object)
            h, a = tree.query(hexagons[missing], predicate="intersects")
            if len(h):
                overlap = shapely.area(shapely.intersection(hexagons[missing][h], geoms[a]))
                pairs = pd.DataFrame({"h": h, "a": a, "overlap": overlap})
                pairs = pairs[pairs["overlap"] > 0].sort_values(["h", "overlap", "a"], ascending=[True, False, True])
                best = pairs.drop_duplicates("h")
                chosen[missing[best["h"].to_numpy()]] = best["a"].to_numpy()
        out[layer] = np.where(chosen >= 0, names[np.maximum(chosen, 0)], "")
    return out


def cells_to_area_names(cells: np.ndarray, areas) -> list[str]:
    """Each cell's area names, one per layer joined by :data:`LAYER_SEPARATOR` ("" without areas)."""
    table = cell_layer_areas(cells, areas)
    if table.shape[1] == 0:
        return [""] * len(np.asarray(cells))
    return [LAYER_SEPARATOR.join(n for n in row if n) for row in table.itertuples(index=False, name=None)]


def name_plan_areas(plan: pd.DataFrame, areas) -> pd.DataFrame:
    """The plan with ``area_name`` filled from its entries' cells (unchanged without areas).

    Per layer, an entry names the areas of its cells, most cells first (ties in name order),
    joined by :data:`SAME_LAYER_SEPARATOR`; layers are joined by :data:`LAYER_SEPARATOR`.
    """
    from analytics.patrol import plan_cells

    if areas is None or len(areas) == 0 or len(plan) == 0:
        return plan
    entries = plan_cells(plan)
    hexes = sorted({c for cs in entries for c in cs})
    table = cell_layer_areas(grid.hex_to_cells(hexes), areas)
    table.index = hexes
    names = []
    for cs in entries:
        parts = []
        for layer in table.columns:
            counts = Counter(n for n in table.loc[cs, layer].tolist() if n)
            if counts:
                ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
                parts.append(SAME_LAYER_SEPARATOR.join(n for n, _ in ranked))
        names.append(LAYER_SEPARATOR.join(parts))
    return plan.assign(area_name=names)
