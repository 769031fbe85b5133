"""The patrol sheet's pieces computed in Python: fitted view, rank-label offsets, week dates, outline."""

from __future__ import annotations

import math

import h3
import numpy as np
import pandas as pd
from shapely.geometry import Point, box

from pipelines.render.patrol_map import SHEET_MAP_MM, _PX_PER_MM, _label_size, _world_px, label_offsets, sheet_view
from pipelines.patrol_sheet import plan_week_dates, study_outline

SIZE = (SHEET_MAP_MM[0] * _PX_PER_MM, SHEET_MAP_MM[1] * _PX_PER_MM)


def _boxes(xy, ranks, offsets):
    out = []
    for (x, y), r, (dx, dy, _) in zip(xy, ranks, offsets):
        w, h = _label_size(r)
        out.append((x + dx - w / 2, y + dy - h / 2, x + dx + w / 2, y + dy + h / 2))
    return out


def _overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _screen(cells):
    centre, zoom = sheet_view(np.array([h3.str_to_int(c) for c in cells], dtype=np.uint64), SIZE)
    ll = np.array([h3.cell_to_latlng(c) for c in cells])
    return (_world_px(ll[:, 0], ll[:, 1], zoom) - _world_px(np.array([centre[0]]), np.array([centre[1]]), zoom)
            + np.array(SIZE) / 2), zoom


def test_adjacent_cells_labels_are_moved_apart_and_stay_in_the_frame():
    far = h3.latlng_to_cell(-33.80, 151.30, 9)
    base = h3.latlng_to_cell(-33.87, 151.21, 9)
    cells = [base, *h3.grid_ring(base, 1)[:3], far]  # four touching cells, one far away: labels would collide
    ranks = [10, 6, 9, 7, 1]
    xy, zoom = _screen(cells)
    naive = _boxes(xy, ranks, [(0, 0, 0)] * len(cells))
    assert any(_overlap(naive[i], naive[j]) for i in range(4) for j in range(i + 1, 4))  # the problem is real
    offsets = label_offsets(xy, ranks, SIZE, clear_px=[6.0] * len(cells))
    boxes = _boxes(xy, ranks, offsets)
    for i in range(len(boxes)):
        assert 0 <= boxes[i][0] and 0 <= boxes[i][1] and boxes[i][2] <= SIZE[0] and boxes[i][3] <= SIZE[1]
        for j in range(i + 1, len(boxes)):
            assert not _overlap(boxes[i], boxes[j]), (ranks[i], ranks[j])
    # small hexagons stay visible: every label sits beside its cell, the lone one right next to it
    for (x, y), (dx, dy, edge), r in zip(xy, offsets, ranks):
        w, h = _label_size(r)
        assert math.hypot(dx, dy) >= 6 + h / 2 and 0 < edge < math.hypot(dx, dy)
    assert offsets[4][:2] == (round(6 + _label_size(1)[0] / 2 + 4), 0)
    # a hexagon drawn large enough holds its own label
    assert label_offsets(xy[4:], [1], SIZE, clear_px=[80.0]) == [(0, 0, 0)]


def test_sheet_view_fits_the_cells_in_the_frame():
    cells = [h3.latlng_to_cell(-33.87 + a, 151.21 + b, 9) for a, b in ((0, 0), (0.05, 0.04), (-0.03, -0.06))]
    xy, zoom = _screen(cells)
    assert (xy > 0).all() and (xy[:, 0] < SIZE[0]).all() and (xy[:, 1] < SIZE[1]).all()
    one_more, _ = sheet_view(np.array([h3.str_to_int(c) for c in cells], dtype=np.uint64), SIZE)
    xy2 = _world_px(np.array([h3.cell_to_latlng(c)[0] for c in cells]),
                    np.array([h3.cell_to_latlng(c)[1] for c in cells]), zoom + 1)
    assert (xy2.max(axis=0) - xy2.min(axis=0) > np.array(SIZE) - 68).any()  # one zoom closer would not fit
    _, single = sheet_view(np.array([h3.str_to_int(cells[0])], dtype=np.uint64), SIZE)
    assert single == 16  # one cell: street zoom, not the maximum


def test_plan_week_dates_are_the_week_after():
    assert plan_week_dates("2025-W26") == "Mon 30 Jun – Sun 6 Jul 2025"
    assert plan_week_dates("2025-W01") == "Mon 6 Jan – Sun 12 Jan 2025"
    assert plan_week_dates("2025-W52") == "Mon 29 Dec 2025 – Sun 4 Jan 2026"


def test_study_outline_keeps_clear_of_placements():
    boundary = box(151.15, -33.95, 151.25, -33.85)
    outline, note = study_outline(boundary, np.empty(0, dtype=np.uint64), None)
    assert outline["type"] == "Polygon" and "moved" not in note
    # a placement right at a corner: the outline moves outwards until every vertex is > 350 m away
    placements = pd.DataFrame({"lat": [-33.95], "lon": [151.15], "radius_m": [300.0]})
    moved, note = study_outline(boundary, np.empty(0, dtype=np.uint64), placements)
    assert "moved" in note
    unknown = pd.DataFrame({"lat": [float("nan")], "lon": [float("nan")], "radius_m": [300.0]})
    assert study_outline(boundary, np.empty(0, dtype=np.uint64), unknown)[0] == outline  # no location: no move
    kx = 111_195 * math.cos(math.radians(-33.95))
    for lon, lat in moved["coordinates"][0]:
        assert math.hypot((lon - 151.15) * kx, (lat + 33.95) * 111_195) > 350
        assert round(lon, 4) == lon and round(lat, 4) == lat  # 4 decimals, never an event location
    # without a boundary: the study-area cells' outline
    cells = np.array([h3.str_to_int(c) for c in h3.grid_disk(h3.latlng_to_cell(-33.9, 151.2, 9), 2)], dtype=np.uint64)
    from_cells, note = study_outline(None, cells, None)
    assert "cells" in note and from_cells["type"] == "Polygon"
    from shapely.geometry import shape
    assert shape(from_cells).contains(Point(151.2, -33.9))
