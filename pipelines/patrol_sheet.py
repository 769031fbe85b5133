"""Inputs of the patrol sheet (``patrol_map.html``) that need the store: the plan week's dates and
the study-area outline.

The outline is a shared output's geometry, so it must not point at a care placement: it is drawn
from the ingested boundary (or, without one, the study-area cells), exterior rings only, and moved
outwards (buffered) until none of its vertices lies within a placement's radius (plus a margin);
when no such outline is found the sheet goes without one and the run says so. Coordinates are
written with 4 decimals (~11 m), never as event locations.
"""

from __future__ import annotations

import math
from datetime import timedelta

import h3.api.numpy_int as h3n
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import MultiPolygon, Polygon, mapping, shape

from analytics.safeguarding import PLACEMENT_RADIUS_M
from analytics.weeks import parse_week

__all__ = ["plan_week_dates", "study_outline", "OUTLINE_BUFFERS_M"]

#: Outward moves (metres) tried, in order, until the outline keeps clear of every placement.
OUTLINE_BUFFERS_M = (0, 400, 800, 1600, 3200)
_MARGIN_M = 50.0
_SIMPLIFY_M = 30.0
_M_PER_DEG = math.pi / 180 * 6_371_008.8


def plan_week_dates(week: str) -> str:
    """Dates of the plan's week — Monday to Sunday of the week after the analysed ``week``.

    Examples
    --------
    >>> plan_week_dates("2025-W26")
    'Mon 30 Jun – Sun 6 Jul 2025'
    >>> plan_week_dates("2025-W52")
    'Mon 29 Dec 2025 – Sun 4 Jan 2026'
    """
    monday = parse_week(week) + timedelta(weeks=1)
    sunday = monday + timedelta(days=6)
    first = f"Mon {monday.day} {monday:%b}" + (f" {monday.year}" if monday.year != sunday.year else "")
    return f"{first} – Sun {sunday.day} {sunday:%b %Y}"


def _exterior(geom) -> shapely.Geometry:
    parts = getattr(geom, "geoms", [geom])
    polys = [Polygon(p.exterior) for p in parts if isinstance(p, Polygon) and not p.is_empty]
    return polys[0] if len(polys) == 1 else MultiPolygon(polys)


def _vertices_clear(geom, placements: pd.DataFrame | None, lat0: float) -> bool:
    if placements is not None:
        placements = placements.dropna(subset=["lat", "lon"])
    if placements is None or not len(placements):
        return True
    pts = shapely.get_coordinates(geom)
    kx = _M_PER_DEG * math.cos(math.radians(lat0))
    pl = placements[["lat", "lon"]].astype(float).to_numpy()
    radius = (placements["radius_m"].fillna(PLACEMENT_RADIUS_M).astype(float).to_numpy()
              if "radius_m" in placements.columns else np.full(len(pl), float(PLACEMENT_RADIUS_M)))
    dx = (pts[:, None, 0] - pl[None, :, 1]) * kx
    dy = (pts[:, None, 1] - pl[None, :, 0]) * _M_PER_DEG
    return bool((np.hypot(dx, dy) > radius[None, :] + _MARGIN_M).all())


def study_outline(boundary, cells: np.ndarray, placements: pd.DataFrame | None) -> tuple[dict | None, str]:
    """The study-area outline for the patrol sheet (GeoJSON geometry, lon/lat, 4 dp) and a note.

    Parameters
    ----------
    boundary : shapely geometry or None
        The ingested boundary (lon/lat); without it the dissolved ``cells`` are used.
    cells : array of uint64
        The study-area cells.
    placements : DataFrame with ``lat``, ``lon``, optional ``radius_m``
        Known and derived care placements: no outline vertex may lie within a radius (+50 m).

    Returns
    -------
    (geometry or None, note)
        ``note`` says what was drawn (or why nothing was), for the run's choices.
    """
    if boundary is not None and not boundary.is_empty:
        base, source = boundary, "the boundary"
    elif len(cells):
        base = shape(h3n.cells_to_h3shape(np.unique(np.asarray(cells, dtype=np.uint64))).__geo_interface__)
        source = "the study-area cells"
    else:
        return None, "Patrol sheet: no study area to outline."
    base = _exterior(base)
    lat0 = float(base.centroid.y)
    deg = 1.0 / _M_PER_DEG
    for buf in OUTLINE_BUFFERS_M:
        g = base.buffer(buf * deg, join_style="mitre") if buf else base
        g = _exterior(g.simplify(_SIMPLIFY_M * deg, preserve_topology=True))
        g = shapely.set_precision(g, 1e-4)
        if g.is_empty:
            continue
        if _vertices_clear(g, placements, lat0):
            note = f"Patrol sheet: study-area outline drawn from {source}"
            note += f", moved {buf} m outwards to keep clear of care placements." if buf else "."
            gi = mapping(g)
            return {"type": gi["type"], "coordinates": gi["coordinates"]}, note
    return None, (f"Patrol sheet: no study-area outline drawn — {source} passes near a care placement even "
                  f"{OUTLINE_BUFFERS_M[-1]} m outwards.")
