"""Geometry of the report's SVG figures: numbers only, drawn by the macros in ``templates/report_charts.j2``.

Each function here returns a plain dict of numbers and our own labels (week labels, category
labels, units); the Jinja macros turn it into inline SVG through the one autoescaped
environment (:func:`pipelines.report.render_report`), so no text from data is written
unescaped. Coordinates are SVG pixels with one decimal: never latitudes or longitudes.

* :func:`bar_chart` — a weekly series as bars with a y axis in its unit; counts of distinct
  young people below ``k`` are drawn as a pale dashed band labelled ``"<k"`` (the count itself is
  never written, not even in a tooltip);
* :func:`stacked_chart` — hot spot cells per week, stacked by emerging category;
* :func:`overview_map` — the study outline, this week's hot cells by category and the plan's
  top entries as numbered markers, with a scale bar (equirectangular projection).
"""

from __future__ import annotations

import math

import h3
import numpy as np

from pipelines.render.map_parts import CATEGORY_COLOURS, PRIORITY_COLOURS
from analytics.patrol import CATEGORY_LABELS
from analytics.privacy import suppress_count
from analytics.week_change import HOT_NOW

__all__ = ["bar_chart", "stacked_chart", "overview_map", "nice_ticks"]

_M_PER_DEG = math.pi / 180 * 6_371_008.8


def nice_ticks(top: float, n: int = 4) -> list[float]:
    """Round tick values from 0 to at least ``top`` (about ``n`` steps).

    Examples
    --------
    >>> nice_ticks(9)
    [0.0, 5.0, 10.0]
    >>> nice_ticks(0)
    [0.0, 1.0]
    """
    if top <= 0:
        return [0.0, 1.0]
    raw = top / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    if step < 1:
        step = 1.0  # counts: whole numbers only
    return [float(v) for v in np.arange(0, top + step - 1e-9, step)]


def _frame(labels: list[str], top: float, width: int, height: int, y_unit: str, x_unit: str) -> dict:
    L, R, T, B = 46, 10, 10, 42
    pw, ph = width - L - R, height - T - B
    ticks = nice_ticks(top)
    ymax = ticks[-1]
    n = max(len(labels), 1)
    slot = pw / n
    step = max(1, math.ceil(52 / slot))  # a week label is ~48 px wide at 9 px
    return {
        "width": width, "height": height, "L": L, "T": T, "pw": pw, "ph": ph, "slot": round(slot, 1),
        "y_unit": y_unit, "x_unit": x_unit,
        "yticks": [{"y": round(T + ph - ph * v / ymax, 1), "label": f"{v:.0f}"} for v in ticks],
        "xlabels": [{"x": round(L + slot * (i + 0.5), 1), "label": labels[i]} for i in range(0, len(labels), step)],
        "_scale": ph / ymax,
    }


def bar_chart(labels: list[str], values, *, y_unit: str, x_unit: str, title: str, k: int | None = None,
              width: int = 560, height: int = 190) -> dict:
    """Bars of a weekly series (``labels`` and ``values`` in week order).

    With ``k`` the values are counts of distinct young people: a value from 1 to k − 1 is drawn
    as a pale dashed band up to k − 1 and labelled ``"<k"`` (:func:`analytics.privacy.suppress_count`).
    """
    vals = [int(round(float(v))) for v in values]
    shown = [suppress_count(v, k) if k else str(v) for v in vals]
    hidden = [s.startswith("<") for s in shown]
    heights = [(k - 1 if h else v) for v, h in zip(vals, hidden)]
    fr = _frame(labels, max(heights + [0]), width, height, y_unit, x_unit)
    scale = fr.pop("_scale")
    base = fr["T"] + fr["ph"]
    bars = []
    for i, (lab, h, s, hid) in enumerate(zip(labels, heights, shown, hidden)):
        hh = h * scale
        bars.append({"x": round(fr["L"] + fr["slot"] * i + 1, 1), "w": round(max(fr["slot"] - 2, 1), 1),
                     "y": round(base - hh, 1), "h": round(hh, 1), "hidden": hid,
                     "title": f"{lab}: {s} {y_unit}"})
    return {**fr, "title": title, "bars": bars, "k": k, "any_hidden": any(hidden)}


def stacked_chart(labels: list[str], counts: list[dict[str, int] | None], *, title: str, y_unit: str,
                  x_unit: str, width: int = 560, height: int = 190) -> dict:
    """Hot spot cells per week stacked by category (``None``: no record for that week, drawn as a gap)."""
    totals = [sum(c.values()) if c else 0 for c in counts]
    fr = _frame(labels, max(totals + [0]), width, height, y_unit, x_unit)
    scale = fr.pop("_scale")
    base = fr["T"] + fr["ph"]
    bars, used = [], []
    for i, (lab, c) in enumerate(zip(labels, counts)):
        x = round(fr["L"] + fr["slot"] * i + 1, 1)
        w = round(max(fr["slot"] - 2, 1), 1)
        if c is None:
            bars.append({"x": x, "w": w, "missing": True, "segments": [], "title": f"{lab}: no saved weekly run"})
            continue
        y = base
        segs = []
        for cat in HOT_NOW:
            n = int(c.get(cat, 0))
            if not n:
                continue
            if cat not in used:
                used.append(cat)
            h = n * scale
            y -= h
            segs.append({"y": round(y, 1), "h": round(h, 1), "colour": CATEGORY_COLOURS[cat],
                         "title": f"{lab}: {n} {CATEGORY_LABELS[cat].lower()} cell(s)"})
        bars.append({"x": x, "w": w, "missing": False, "segments": segs,
                     "title": f"{lab}: {sum(c.values())} hot spot cell(s)"})
    legend = [{"colour": CATEGORY_COLOURS[c], "label": CATEGORY_LABELS[c]} for c in HOT_NOW if c in used]
    return {**fr, "title": title, "bars": bars, "legend": legend}


# ------------------------------------------------------------------------------ overview map
def _rings(geometry: dict | None) -> list[list[tuple[float, float]]]:
    if not geometry:
        return []
    polys = [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
    return [[(float(x), float(y)) for x, y, *_ in ring] for poly in polys for ring in poly[:1]]


def overview_map(outline: dict | None, cells: list[tuple[str, str]], plan_points: list[dict],
                 width: int = 420, max_height: int = 330) -> dict | None:
    """Pixels of a small overview map (None when there is nothing to draw).

    Parameters
    ----------
    outline : GeoJSON geometry (lon/lat) or None
        The study-area outline shared with the patrol sheet.
    cells : list of (H3 hex, category)
        This week's hot cells (shared ones only).
    plan_points : list of dicts with ``rank``, ``priority``, ``lat``, ``lon``
        The plan entries to number on the map.
    """
    rings = _rings(outline)
    polys = [(h3.cell_to_boundary(hx), cat) for hx, cat in cells]
    pts = [(x, y) for r in rings for x, y in r] + [(lon, lat) for b, _ in polys for lat, lon in b]
    pts += [(float(p["lon"]), float(p["lat"])) for p in plan_points]
    if not pts:
        return None
    xs, ys = np.array([p[0] for p in pts]), np.array([p[1] for p in pts])
    lat0 = float((ys.min() + ys.max()) / 2)
    kx = math.cos(math.radians(lat0))
    span_x = max(float(xs.max() - xs.min()) * kx, 1e-6)
    span_y = max(float(ys.max() - ys.min()), 1e-6)
    pad = 12.0
    s = min((width - 2 * pad) / span_x, (max_height - 2 * pad - 18) / span_y)
    height = int(math.ceil(span_y * s + 2 * pad + 18))
    x0, y1 = float(xs.min()), float(ys.max())

    def px(lon: float, lat: float) -> tuple[float, float]:
        return round(pad + (lon - x0) * kx * s, 1), round(pad + (y1 - lat) * s, 1)

    def path(ring) -> str:
        xy = [px(x, y) for x, y in ring]
        return "M" + " L".join(f"{a},{b}" for a, b in xy) + " Z"

    hexes = [{"d": path([(lon, lat) for lat, lon in b]), "colour": CATEGORY_COLOURS[cat],
              "title": CATEGORY_LABELS[cat]} for b, cat in polys]
    markers = []
    for p in sorted(plan_points, key=lambda q: int(q["rank"])):
        x, y = px(float(p["lon"]), float(p["lat"]))
        lx, ly = x, y
        for _ in range(6):  # nudge a label clear of the ones already placed (leader line back to the spot)
            if all(math.hypot(lx - m["lx"], ly - m["ly"]) >= 17 for m in markers):
                break
            lx, ly = lx + 13, ly - 13
        lx, ly = min(max(lx, 9), width - 9), min(max(ly, 9), height - 27)
        markers.append({"x": x, "y": y, "lx": round(lx, 1), "ly": round(ly, 1), "rank": int(p["rank"]),
                        "colour": PRIORITY_COLOURS.get(int(p["priority"]), "#7a0177"),
                        "title": f"Plan entry {int(p['rank'])} (priority {int(p['priority'])})"})
    # scale bar: a round distance about a quarter of the width
    metres_per_px = _M_PER_DEG / s
    target = metres_per_px * width / 4
    mag = 10 ** math.floor(math.log10(target))
    dist = next(m * mag for m in (5, 2.5, 2, 1) if m * mag <= target)
    bar_px = round(dist / metres_per_px, 1)
    label = f"{dist / 1000:g} km" if dist >= 1000 else f"{dist:g} m"
    legend = [{"colour": CATEGORY_COLOURS[c], "label": CATEGORY_LABELS[c]} for c in HOT_NOW
              if any(cat == c for _, cat in cells)]
    return {"width": width, "height": height, "outline": [path(r) for r in rings], "cells": hexes,
            "markers": markers, "scale": {"x": pad, "y": height - 8, "w": bar_px, "label": label},
            "legend": legend, "has_outline": bool(rings)}
