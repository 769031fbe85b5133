"""SYNTHETIC city geography: the study area, distances, places, care placements and the children."""

from __future__ import annotations

import h3.api.numpy_int as h3n
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import Polygon

from analytics.grid import latlng_to_cells
from analytics.synth.params import (BOUNDARY_LONLAT, CENTRES, DAY, KM_PER_DEG_LAT, PLACEMENT_TYPES, PLACE_PLAN,
                                    RESOLUTION, S_CHILDREN, S_PLACEMENTS, S_PLACES, WEEK, _rng, _round6)


# --------------------------------------------------------------------------- geography
def boundary_polygon() -> Polygon:
    """The SYNTHETIC study area: a simplified Greater Sydney outline in lon/lat."""
    return Polygon(BOUNDARY_LONLAT)


def _offset(lat: np.ndarray, lon: np.ndarray, dx_km: np.ndarray, dy_km: np.ndarray):
    lat = np.asarray(lat, float)
    lon = np.asarray(lon, float)
    new_lat = lat + np.asarray(dy_km) / KM_PER_DEG_LAT
    new_lon = lon + np.asarray(dx_km) / (111.320 * np.cos(np.radians(lat)))
    return new_lat, new_lon


def distance_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Equirectangular distance in km (accurate to < 0.1 % at city scale)."""
    lat1, lon1, lat2, lon2 = (np.asarray(a, float) for a in (lat1, lon1, lat2, lon2))
    dy = (lat2 - lat1) * KM_PER_DEG_LAT
    dx = (lon2 - lon1) * 111.320 * np.cos(np.radians((lat1 + lat2) / 2))
    return np.hypot(dx, dy)


def _jitter(rng, lat, lon, sigma_km: float, clip_km: float):
    """Gaussian scatter around points, radius clipped (keeps points near their anchor)."""
    n = np.asarray(lat).shape[0]
    r = np.minimum(np.abs(rng.normal(0, sigma_km, n)) * 1.2533, clip_km)  # half-normal, mean ~ sigma
    theta = rng.uniform(0, 2 * np.pi, n)
    return _offset(lat, lon, r * np.cos(theta), r * np.sin(theta))


def _keep_inside(poly: Polygon, lat, lon, fallback_lat, fallback_lon):
    """Points outside the study area go back to their (inside) anchor."""
    inside = shapely.contains_xy(poly, lon, lat)
    return np.where(inside, lat, fallback_lat), np.where(inside, lon, fallback_lon)


def _inner_distance_km(poly: Polygon, lat, lon) -> np.ndarray:
    """Distance (km, approx) from each point to the study-area edge."""
    ring = poly.exterior
    pts = shapely.points(lon, lat)
    return shapely.distance(pts, ring) * 92.0  # ~km per degree mixed over lat/lon here


def _cell_centres(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ll = np.array([h3n.cell_to_latlng(int(c)) for c in cells]).reshape(-1, 2)
    return ll[:, 0], ll[:, 1]


def _sample_around_centres(rng, n: int, spread_km: float) -> tuple[np.ndarray, np.ndarray]:
    w = CENTRES[:, 2] / CENTRES[:, 2].sum()
    k = rng.choice(len(CENTRES), size=n, p=w)
    return _offset(CENTRES[k, 0], CENTRES[k, 1], rng.normal(0, spread_km, n), rng.normal(0, spread_km, n))


def _sample_inside(rng, poly: Polygon, n: int, spread_km: float, margin_km: float = 0.0):
    """n points clustered around centres, all inside the study area (rejection)."""
    lat_out = np.empty(0)
    lon_out = np.empty(0)
    while lat_out.size < n:
        lat, lon = _sample_around_centres(rng, 2 * (n - lat_out.size) + 8, spread_km)
        ok = shapely.contains_xy(poly, lon, lat)
        if margin_km > 0:
            ok &= _inner_distance_km(poly, lat, lon) > margin_km
        lat_out = np.concatenate([lat_out, lat[ok]])
        lon_out = np.concatenate([lon_out, lon[ok]])
    return lat_out[:n], lon_out[:n]


# --------------------------------------------------------------------------- places
def build_places(seed: int, poly: Polygon) -> pd.DataFrame:
    """Generic SYNTHETIC places, each alone in its own res-9 cell near the cell centre.

    Snapping a place to (almost) its cell centre makes planted points around it land in
    known cells, so the ground-truth cells are exact.
    """
    rng = _rng(seed, S_PLACES)
    rows = []
    taken_lat: list[float] = []
    taken_lon: list[float] = []
    for category, count, weight, stem, spread in PLACE_PLAN:
        lat, lon = _sample_inside(rng, poly, count * 4, spread, margin_km=0.8)
        cells = latlng_to_cells(lat, lon, RESOLUTION)
        clat, clon = _cell_centres(cells)
        kept = 0
        for i in range(lat.size):  # a few hundred candidates: a plain loop is clearest
            if kept == count:
                break
            if taken_lat and distance_km(clat[i], clon[i], np.array(taken_lat), np.array(taken_lon)).min() < 0.45:
                continue
            taken_lat.append(clat[i])
            taken_lon.append(clon[i])
            kept += 1
            centre_d = distance_km(clat[i], clon[i], CENTRES[:, 0], CENTRES[:, 1])
            size = float((CENTRES[:, 2] * np.exp(-centre_d / 3.0)).max())
            rows.append((category, f"{stem} {kept:02d}", clat[i], clon[i],
                         weight * (0.4 + size) * float(rng.lognormal(0, 0.6))))
    df = pd.DataFrame(rows, columns=["category", "name", "lat", "lon", "weight"])
    jlat, jlon = _offset(df["lat"].to_numpy(), df["lon"].to_numpy(),
                         rng.uniform(-0.008, 0.008, len(df)), rng.uniform(-0.008, 0.008, len(df)))
    df["lat"] = _round6(jlat)
    df["lon"] = _round6(jlon)
    df.insert(0, "place_id", [f"SYN-PL{i + 1:04d}" for i in range(len(df))])
    df["cell"] = latlng_to_cells(df["lat"].to_numpy(), df["lon"].to_numpy(), RESOLUTION)
    return df


# --------------------------------------------------------------------------- placements & children
def build_placements_and_children(seed: int, poly: Polygon, f: float, weeks: int):
    """SYNTHETIC care placements and the children living in them."""
    rng = _rng(seed, S_PLACEMENTS)
    n_children = max(160, int(round(575 * f)))
    ptype = rng.choice(4, size=n_children, p=[0.25, 0.45, 0.22, 0.08])
    n_res = ptype == 0
    n_homes = max(12, int(round(n_res.sum() / 3.5)))
    home_lat, home_lon = _sample_inside(rng, poly, n_homes, 5.0, margin_km=0.6)
    hh_lat, hh_lon = _sample_inside(rng, poly, int((~n_res).sum()), 6.0, margin_km=0.6)
    placement_of_child = np.empty(n_children, np.int64)
    placement_of_child[n_res] = rng.integers(0, n_homes, int(n_res.sum()))
    placement_of_child[~n_res] = n_homes + np.arange(int((~n_res).sum()))
    pl_type = np.concatenate([np.zeros(n_homes, np.int64), ptype[~n_res]])
    width = max(4, len(str(pl_type.size)))
    placements = pd.DataFrame({
        "placement_ref": [f"SYN-H{i + 1:0{width}d}" for i in range(pl_type.size)],
        "placement_type": np.array(PLACEMENT_TYPES, dtype=object)[pl_type],
        "lat": _round6(np.concatenate([home_lat, hh_lat])),
        "lon": _round6(np.concatenate([home_lon, hh_lon])),
    })
    children = _children_table(_rng(seed, S_CHILDREN), n_children, placement_of_child, ptype, weeks)
    return placements, children


def _children_table(rng, n: int, placement: np.ndarray, ptype: np.ndarray, weeks: int) -> pd.DataFrame:
    """Per-child attributes, time in care, and propensity to go missing."""
    horizon = weeks * WEEK
    ages = np.arange(8, 18)
    age_years = rng.choice(ages, size=n, p=np.array([1, 1, 2, 3, 6, 10, 14, 16, 16, 12]) / 81)
    age_start_days = (age_years + rng.random(n)) * 365.25
    enters_late = rng.random(n) < 0.3
    active_from = np.where(enters_late, rng.uniform(0, 0.8 * horizon, n), 0).astype(np.int64)
    to_18 = ((18 * 365.25 - age_start_days) * DAY - 2 * DAY).astype(np.int64)
    leaves = rng.random(n) < 0.15
    active_to = np.minimum(horizon, to_18)
    active_to = np.where(leaves, np.minimum(active_to, active_from + rng.uniform(0.15, 1.0, n) * horizon), active_to)
    active_to = np.maximum(active_to, active_from + 4 * WEEK).astype(np.int64)
    active_to = np.minimum(active_to, np.minimum(horizon, to_18))
    one_off = rng.random(n) < np.where(ptype == 0, 0.45, 0.62)
    mu = np.where(one_off, 0.5, rng.gamma(1.0, 5.3, n) * np.where(ptype == 0, 1.5, 1.0))
    return pd.DataFrame({
        "placement": placement, "ptype": ptype, "age_start_days": age_start_days,
        "active_from": active_from, "active_to": active_to, "one_off": one_off, "mu_per_year": mu,
        "gender": rng.choice(4, size=n, p=[0.5, 0.46, 0.03, 0.01]),
        "disability": rng.random(n) < 0.2, "first_nations": rng.random(n) < 0.35,
        "cald": rng.random(n) < 0.15, "lgbtqia": rng.random(n) < 0.1,
    })
