"""Checks 2-4 on shared files: placement locations (coordinates and H3 cells near a care placement,
unless approved), raw event coordinates, and small counts of young people."""

from __future__ import annotations

import math
import re
from typing import Iterable

import h3
import h3.api.numpy_int as h3n
import numpy as np
import pandas as pd

from analytics.safeguarding import PLACEMENT_RADIUS_M, Approval, cells_near_placements
from pipelines.privacy_scan.findings import Finding
from pipelines.privacy_scan.readers import _CENTROID, _Contents

_GRID_RESOLUTIONS = range(5, 12)
_BBOX_MARGIN_DEG = 0.05

_H3_HEX_RE = re.compile(r"(?<![0-9A-Za-z])8[0-9a-fA-F]{14}(?![0-9A-Za-z])")
#: How far (metres) a written coordinate may be from an approved cell's centre or vertex and still be
#: that grid point (5 decimals round by up to ~0.6 m), and a polygon's centroid from the cell's centre.
_GRID_TOL_M = 1.5
_CENTROID_TOL_M = 10.0
_YP_LABEL = r"(?<![\w-])(?:young[ -]people|young[ -]persons?|children|n_young_people|young_people)(?![\w-])"
# Between the label and the number: spaces, punctuation and HTML tags; a line break only right after a tag
# (so a CSV row ending in "young people" is not read together with the next row's first number).
_YP_AFTER_RE = re.compile(_YP_LABEL + r"((?:[ \t,:=\"'()\-–—]|</?[a-zA-Z][^<>]*>\s*){0,12})(\d+)(?![\d.])",
                          re.IGNORECASE)
_YP_BEFORE_RE = re.compile(r"(?<![<\w.;&≥≤>=-])(\d+)\s+(?:distinct\s+)?(?:young\s+people|young\s+persons?|children)\b",
                           re.IGNORECASE)
_THRESHOLD_BEFORE_RE = re.compile(r"(?:at least|at most|more than|fewer than|less than|minimum|min\.?|over|under|"
                                  r"&ge;|&le;|≥|≤|>=|<=)\s*$", re.IGNORECASE)
_YP_CLASS_RE = re.compile(r"<t[dh][^>]*class=\"[^\"]*\byp\b[^\"]*\"[^>]*>\s*(\d+)\s*<", re.IGNORECASE)
_YP_COLUMN_RE = re.compile(r"^(?:n_)?(?:young_?people|young_?persons?|children|distinct_young_people)$", re.IGNORECASE)


def _is_grid_point(lat: float, lon: float, decimals: int) -> bool:
    """An H3 cell centre or vertex (res 5–11), given to >= 5 decimals (~1 m).

    Coarser coordinates are never grid points: at 4 decimals (~11 m) a random point would often be
    "near" some vertex of a small cell.
    """
    if decimals < 5:
        return False
    tol = 0.6 * 10.0 ** (-min(decimals, 6)) + 1e-9
    for res in _GRID_RESOLUTIONS:
        cell = h3.latlng_to_cell(lat, lon, res)
        clat, clon = h3.cell_to_latlng(cell)
        if abs(clat - lat) <= tol and abs(clon - lon) <= tol:
            return True
        for vlat, vlon in h3.cell_to_boundary(cell):
            if abs(vlat - lat) <= tol and abs(vlon - lon) <= tol:
                return True
    return False


def _point_keys(lat5: np.ndarray, lon5: np.ndarray) -> np.ndarray:
    """One int64 per (lat, lon) scaled by 1e5 and rounded: lat5 in ±9e6, lon5 in ±1.8e7."""
    return (lat5.astype(np.int64) + 9_000_000) * 36_000_001 + (lon5.astype(np.int64) + 18_000_000)


def approved_cells(approved: Iterable | None) -> set[int]:
    """The cells whose evidence meets the safeguarding rule (b); anything else is not approved.

    ``approved`` holds :class:`analytics.safeguarding.Approval` objects (or dicts with the same
    fields, e.g. read back from run.json, ``cell`` as int or hex); insufficient evidence is ignored.
    """
    out: set[int] = set()
    for a in approved or ():
        if isinstance(a, dict):
            cell = a.get("cell")
            cell = h3.str_to_int(cell) if isinstance(cell, str) else cell
            a = Approval(int(cell), int(a.get("placements", 0)), int(a.get("min_unlinked_sources", 0)))
        if isinstance(a, Approval) and a.is_sufficient():
            out.add(int(a.cell))
    return out


def _placements_frame(placements: pd.DataFrame | None) -> pd.DataFrame | None:
    """Placements with ``placement_key`` and ``radius_m`` (default :data:`PLACEMENT_RADIUS_M`)."""
    if placements is None or not len(placements):
        return None
    pl = placements.dropna(subset=["lat", "lon"]).copy()
    pl["lat"], pl["lon"] = pl["lat"].astype(float), pl["lon"].astype(float)
    if "radius_m" not in pl.columns:
        pl["radius_m"] = PLACEMENT_RADIUS_M
    pl["radius_m"] = pl["radius_m"].fillna(PLACEMENT_RADIUS_M).astype(float)
    if "placement_key" not in pl.columns:
        pl["placement_key"] = [f"placement {i + 1}" for i in range(len(pl))]
    return pl.reset_index(drop=True) if len(pl) else None


class _Reference:
    """Placements (KD-tree in a local metric plane, each with its radius), approved cells' grid
    points, and raw event points (5-dp keys)."""

    def __init__(self, placements: pd.DataFrame | None, raw_points: pd.DataFrame | None,
                 approved: Iterable | None = None):
        from scipy.spatial import cKDTree
        self.placements = _placements_frame(placements)
        pts = [df[["lat", "lon"]].astype(float).dropna().to_numpy() for df in (self.placements, raw_points)
               if df is not None and len(df)]
        allp = np.vstack(pts) if pts else np.empty((0, 2))
        self.empty = len(allp) == 0
        if not self.empty:
            self.lat0 = float(np.median(allp[:, 0]))
            margin = _BBOX_MARGIN_DEG
            if self.placements is not None:
                margin = max(margin, float(self.placements["radius_m"].max()) / 100_000 + 0.01)
            lo, hi = allp.min(axis=0) - margin, allp.max(axis=0) + margin
            self.bbox = (lo, hi)
        self.tree = None
        if self.placements is not None:
            self.tree = cKDTree(self._xy(self.placements[["lat", "lon"]].to_numpy()))
            self.radius = self.placements["radius_m"].to_numpy(float)
        self.approved = approved_cells(approved)
        grid = []
        for cell in sorted(self.approved):
            grid.append((*h3n.cell_to_latlng(cell), 1.0))
            grid.extend((vlat, vlon, 0.0) for vlat, vlon in h3n.cell_to_boundary(cell))
        self.grid = np.array(grid) if grid else np.empty((0, 3))
        self.grid_xy = self._xy(self.grid[:, :2]) if len(grid) and not self.empty else np.empty((0, 2))
        # The grid points as written to 5 decimals: a writer drops trailing zeros (151.12900 prints as
        # 151.129), so a vertex may show only 3 decimals and still be exactly an approved cell's vertex.
        self.grid_keys = (np.sort(_point_keys(np.round(self.grid[:, 0] * 1e5), np.round(self.grid[:, 1] * 1e5)))
                          if len(grid) else np.empty(0, dtype=np.int64))
        self._grid_tree = None  # a KD-tree over grid_xy, built when first needed
        # Raw points as sorted 5-dp keys (a binary search per coordinate found in a file):
        # millions of points cost one numpy sort instead of a Python set of tuples.
        self.raw = np.empty(0, dtype=np.int64)
        if raw_points is not None and len(raw_points):
            r = raw_points[["lat", "lon"]].astype(float).dropna().to_numpy()
            self.raw = np.sort(_point_keys(np.round(r[:, 0] * 1e5), np.round(r[:, 1] * 1e5)))

    def is_raw(self, lat5: int, lon5: int) -> bool:
        """Is (lat, lon), rounded to 5 decimals and scaled by 1e5, an event's location?"""
        key = int(_point_keys(np.array([lat5]), np.array([lon5]))[0])
        i = int(np.searchsorted(self.raw, key))
        return i < len(self.raw) and int(self.raw[i]) == key

    def _xy(self, latlon: np.ndarray) -> np.ndarray:
        k = math.pi / 180 * 6_371_008.8
        return np.column_stack([latlon[:, 1] * k * math.cos(math.radians(self.lat0)), latlon[:, 0] * k])

    def inside(self, lat: float, lon: float) -> bool:
        lo, hi = self.bbox
        return lo[0] <= lat <= hi[0] and lo[1] <= lon <= hi[1]

    def near_placement(self, xy: np.ndarray) -> np.ndarray:
        """Distance (m) from each point to the nearest placement within its radius (inf when none)."""
        out = np.full(len(xy), np.inf)
        if self.tree is None or not len(xy):
            return out
        for i, hits in enumerate(self.tree.query_ball_point(xy, float(self.radius.max()))):
            if hits:
                d = np.sqrt(((self.tree.data[hits] - xy[i]) ** 2).sum(axis=1))
                ok = d <= self.radius[hits]
                if ok.any():
                    out[i] = float(d[ok].min())
        return out

    def is_grid_value(self, lat: np.ndarray, lon: np.ndarray, decimals: np.ndarray) -> np.ndarray:
        """Is each point, written with at most 5 decimals, exactly an approved cell's centre or vertex
        rounded to 5 decimals (the form the outputs write them in, trailing zeros dropped)?"""
        if not len(self.grid_keys) or not len(lat):
            return np.zeros(len(lat), dtype=bool)
        lat5, lon5 = np.round(np.asarray(lat) * 1e5), np.round(np.asarray(lon) * 1e5)
        exact = (np.abs(lat5 - np.asarray(lat) * 1e5) < 1e-6) & (np.abs(lon5 - np.asarray(lon) * 1e5) < 1e-6)
        keys = _point_keys(lat5, lon5)
        pos = np.clip(np.searchsorted(self.grid_keys, keys), 0, len(self.grid_keys) - 1)
        return exact & (np.asarray(decimals) <= 5) & (self.grid_keys[pos] == keys)

    def approved_grid_point(self, xy: np.ndarray, decimals: np.ndarray, centroid: np.ndarray) -> np.ndarray:
        """Is each point an approved cell's centre or vertex (given to >= 4 decimals, within the
        rounding of its last digit), or a polygon centroid at an approved cell's centre?"""
        if not len(self.grid_xy) or not len(xy):
            return np.zeros(len(xy), dtype=bool)
        from scipy.spatial import cKDTree
        is_centre = self.grid[:, 2] == 1.0
        # a value rounded to 5 dp may print with 4 (150.94420 -> 150.9442): the tolerance follows the
        # decimals written (half a unit of the last digit, about 5.6 m at 4 dp); 3 or fewer never match
        # here (a 5-dp value whose last digits are zeros is matched exactly by :meth:`is_grid_value`)
        tol = np.maximum(_GRID_TOL_M, 0.5 * 10.0 ** (-np.minimum(decimals, 6).astype(float)) * 111_320.0)
        # Only grid points within reach of a point can decide it: a KD-tree finds them (with a little
        # slack), and the distances are then computed and compared exactly as for every pair.
        # Why: every point × every approved grid point was ~100 k distances per point.
        if self._grid_tree is None:
            self._grid_tree = cKDTree(self.grid_xy)
        reach = np.maximum(tol, np.where(centroid, _CENTROID_TOL_M, 0.0))
        out = np.zeros(len(xy), dtype=bool)
        for i, hits in enumerate(self._grid_tree.query_ball_point(xy, reach * (1 + 1e-9) + 1e-6)):
            if not hits:
                continue
            hits = np.asarray(hits)
            d = np.sqrt(((xy[i][None, :] - self.grid_xy[hits]) ** 2).sum(axis=1))
            grid_hit = bool((d <= tol[i]).any()) and decimals[i] >= 4
            centre_hit = bool((d[is_centre[hits]] <= _CENTROID_TOL_M).any()) and bool(centroid[i])
            out[i] = grid_hit or centre_hit
        return out


def _coordinate_findings(name: str, contents: _Contents, ref: _Reference) -> list[Finding]:
    if ref.empty:
        return []
    out: list[Finding] = []
    seen: set[tuple[str, int, int]] = set()
    kept = [(lat, lon, dec, where) for lat, lon, dec, where in contents.coords
            if -90 <= lat <= 90 and -180 <= lon <= 180 and dec >= 3 and ref.inside(lat, lon)]
    if not kept:
        return out
    lat = np.array([c[0] for c in kept], dtype=float)
    lon = np.array([c[1] for c in kept], dtype=float)
    dec = np.array([c[2] for c in kept], dtype=np.int64)
    centroid = np.array([c[3].endswith(_CENTROID) for c in kept], dtype=bool)
    xy = ref._xy(np.column_stack([lat, lon]))
    dist = ref.near_placement(xy)
    near = np.isfinite(dist)
    if near.any():
        idx = np.flatnonzero(near)
        near[idx] = ~(ref.approved_grid_point(xy[idx], dec[idx], centroid[idx])
                      | ref.is_grid_value(lat[idx], lon[idx], dec[idx]))
    for i in np.flatnonzero(near):
        tag = ("placement", round(lat[i] * 1e5), round(lon[i] * 1e5))
        if tag not in seen:
            seen.add(tag)
            what = "a polygon centroid" if centroid[i] else "a coordinate"
            out.append(Finding(name, "placement_coordinate",
                               f"{what} {dist[i]:.0f} m from a care placement (not an approved cell)", kept[i][3]))
    grid_cache: dict[tuple[float, float, int], bool] = {}
    for i in range(len(kept)):
        if dec[i] < 5 or centroid[i] or not ref.is_raw(round(lat[i] * 1e5), round(lon[i] * 1e5)):
            continue
        key = (lat[i], lon[i], int(dec[i]))
        if key not in grid_cache:
            grid_cache[key] = _is_grid_point(float(lat[i]), float(lon[i]), int(dec[i]))
        if grid_cache[key]:
            continue
        tag = ("event", round(lat[i] * 1e5), round(lon[i] * 1e5))
        if tag not in seen:
            seen.add(tag)
            out.append(Finding(name, "event_coordinate", f"an exact event location ({dec[i]} decimals)", kept[i][3]))
    return out


def _cell_findings(name: str, text: str, ref: _Reference) -> list[Finding]:
    """H3 cells named in ``text`` (hex ids) whose hexagon lies within a placement's radius, not approved."""
    if ref.placements is None:
        return []
    cells = {}
    for m in _H3_HEX_RE.finditer(text):
        hx = m.group(0).lower()
        if hx not in cells and h3.is_valid_cell(hx):
            cells[hx] = m.start()
    hexes = {h3.str_to_int(hx): hx for hx in cells}  # the cells as written (lower-case hex)
    todo = [c for c in hexes if c not in ref.approved]
    if not todo:
        return []
    near = cells_near_placements(np.array(todo, dtype=np.uint64), ref.placements)
    out = []
    for cell, d in near.groupby("cell")["distance_m"].min().items():
        hx = hexes[int(cell)]
        out.append(Finding(name, "placement_cell", f"H3 cell {hx} lies {d:.0f} m from a care placement "
                           f"(not an approved cell)", f"offset {cells[hx]}"))
    return out


def _small_count_findings(name: str, contents: _Contents, k: int) -> list[Finding]:
    out: list[Finding] = []

    def small(v: float) -> bool:
        return float(v).is_integer() and 1 <= v < k

    for key, v, where in contents.counts:
        if _YP_COLUMN_RE.match(key) and small(v):
            out.append(Finding(name, "small_count", f"field {key!r} = {int(v)} (< {k}, not suppressed)", where))
    text = contents.text
    for rx, grp in ((_YP_AFTER_RE, 2), (_YP_BEFORE_RE, 1), (_YP_CLASS_RE, 1)):
        for m in rx.finditer(text):
            v = int(m.group(grp))
            if rx is _YP_BEFORE_RE and _THRESHOLD_BEFORE_RE.search(text, max(0, m.start() - 16), m.start()):
                continue  # "at least 3 young people": a rule's threshold, not a count
            if small(v):
                snippet = re.sub(r"<[^>]+>", " ", m.group(0))
                snippet = re.sub(r"\s+", " ", snippet).strip()[:60]
                out.append(Finding(name, "small_count", f"{snippet!r} (< {k}, not suppressed)",
                                   f"offset {m.start()}"))
    return out
