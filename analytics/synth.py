"""SYNTHETIC city: missing-from-care episodes, location reports and disruptions with planted truth.

Everything here is SYNTHETIC. It exists so that the pipeline, the statistics and the
maps can be built, tested and benchmarked without touching a real young person's
record, and so that later code can be *scored* on recovering hotspots planted at
known places and weeks.

The city is a simplified Greater Sydney outline (coast on the east) with generic
places ("Station 12", never a real venue) and synthetic care placements. Children
go missing as a self-exciting (Hawkes) process per child, calibrated to the
published patterns in METHODS.md §10. Location reports come from found locations,
sightings and return-interview disclosures, busy venues, a diffuse background, and
the planted sites:

* persistent hotspots (hot all period), emerging hotspots (onset in the second
  half, rising after onset), a diminishing hotspot (hot early, fading),
* a convergence site (several young people from several placements found or seen
  there within a few weeks, repeatedly),
* an intervention (presence patrols in treated cells with a known multiplicative
  effect, plus displacement into a buffer ring),
* optionally (``plant_repeat_home=True``, off by default so the sample is unchanged) one
  young person missing from, and found at, their own residential placement every second
  day: the pattern that must never reach a shared output as a place to patrol (issue 12).

Design notes
------------
* Pure computation: no files, no DuckDB. ``pipelines.synthesize`` writes the files.
* Time is kept as *local wall-clock seconds* since Monday 2024-07-01 00:00
  Australia/Sydney (week 1 = ISO 2024-W27), so weeks, days and hours are plain
  integer arithmetic; :class:`LocalClock` turns them into ISO 8601 strings with the
  correct local offset (+10:00 / +11:00) from ``zoneinfo``.
* Deterministic: every random draw comes from ``numpy.random.default_rng`` streams
  keyed by ``(seed, stream, week)``, so output does not depend on how many weeks are
  generated per chunk.
* Streaming: the episode skeleton (numeric arrays) is built up front; location
  reports are generated week by week by :meth:`SyntheticCity.iter_report_frames`, so
  10 M reports never sit in memory at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Iterator
from zoneinfo import ZoneInfo

import h3
import numpy as np
import pandas as pd
import pyarrow as pa
import shapely
from shapely.geometry import Polygon

from analytics.errors import InvalidInputError
from analytics.grid import cells_to_hex, grid_disk_cells, latlng_to_cells

# --------------------------------------------------------------------------- constants
TIMEZONE = "Australia/Sydney"
FIRST_MONDAY = date(2024, 7, 1)  # ISO 2024-W27
RESOLUTION = 9
MIN_WEEKS, MAX_WEEKS = 26, 104  # 104 weeks ends 2026-W26: never in the future
SCALES = {"small": 25_000, "medium": 1_000_000, "large": 10_000_000}
BASE_REPORTS = SCALES["small"]  # every rate below is "per week at scale small"
MIN_REPORTS, MAX_REPORTS = 5_000, 50_000_000
HOUR, DAY, WEEK = 3_600, 86_400, 604_800
KM_PER_DEG_LAT = 110.574

PLACEMENT_TYPES = ("residential", "foster", "kinship", "other")
RISK_LEVELS = ("no_apparent_risk", "low", "medium", "high")
SOURCES = ("police", "child_protection", "care_provider", "education", "health",
           "youth_service", "community", "return_interview")
REPORT_KINDS = ("sighting", "found", "rhi_disclosure", "adult_of_concern",
                "vehicle_of_concern", "premises_of_concern", "other")
DISRUPTION_KINDS = ("presence_patrol", "warning_notice", "premises_visit", "outreach",
                    "licensing_check", "other")
PLACE_CATEGORIES = ("shopping_centre", "train_station", "bus_interchange", "fast_food",
                    "park", "hotel", "licensed_premises", "other")
GENDERS = ("female", "male", "non_binary", "not_stated")
GRADINGS = ("", "A1", "B2", "B3", "C3", "C4", "D4", "E5")

COLUMNS = {
    "episodes": ("episode_id", "person_ref", "missing_from", "returned_at", "reported_at",
                 "placement_ref", "placement_type", "last_seen_lat", "last_seen_lon",
                 "found_lat", "found_lon", "risk_level", "cse_concern", "rhi_completed",
                 "age_years", "gender", "disability", "first_nations", "cald", "lgbtqia"),
    "location_reports": ("report_id", "observed_at", "lat", "lon", "source", "kind",
                         "episode_id", "person_ref", "grading"),
    "disruptions": ("activity_id", "kind", "start", "end", "lat", "lon", "place_id"),
    "placements": ("placement_ref", "placement_type", "lat", "lon"),
}

# Simplified Greater Sydney outline (lon, lat); the coast runs down the east side.
BOUNDARY_LONLAT = (
    (150.62, -33.55), (150.85, -33.50), (151.10, -33.52), (151.25, -33.57), (151.32, -33.60),
    (151.30, -33.72), (151.29, -33.82), (151.28, -33.90), (151.25, -33.99), (151.22, -34.03),
    (151.15, -34.08), (151.05, -34.15), (150.90, -34.22), (150.72, -34.17), (150.60, -34.05),
    (150.55, -33.90), (150.58, -33.72), (150.62, -33.55),
)
# Unnamed town centres (lat, lon, relative size) that places and placements cluster around.
CENTRES = np.array([
    (-33.870, 151.207, 3.0), (-33.815, 151.003, 2.2), (-33.920, 150.925, 1.6),
    (-33.751, 150.694, 1.4), (-33.771, 150.906, 1.5), (-34.065, 150.814, 1.3),
    (-33.703, 151.099, 1.0), (-33.797, 151.181, 1.1), (-33.918, 151.035, 1.3),
    (-34.031, 151.057, 0.9), (-33.731, 151.004, 0.9), (-33.877, 151.104, 1.0),
    (-33.770, 150.820, 1.2), (-33.872, 150.956, 1.1), (-33.967, 151.102, 1.0),
    (-33.760, 151.270, 0.7),
])
# category, count, background weight, display name stem, spread around a centre (km)
PLACE_PLAN = (
    ("shopping_centre", 18, 3.0, "Shopping centre", 1.5),
    ("train_station", 30, 2.5, "Station", 3.0),
    ("bus_interchange", 10, 2.0, "Bus interchange", 1.5),
    ("fast_food", 40, 1.5, "Fast food", 2.5),
    ("park", 30, 1.0, "Park", 3.0),
    ("hotel", 12, 1.2, "Hotel", 1.5),
    ("licensed_premises", 16, 1.0, "Licensed premises", 1.5),
    ("other", 6, 0.6, "Other place", 3.0),
)

# Reports a week (scale small) at an emerging site in its onset week, before it ramps up to its
# peak: a step to the level of a persistent site (S2: 3.5). A start at 1.5 a week, below twice a
# busy venue's ~0.7, was undetectable within 3 weeks of onset by any rule we measured (its first
# weeks look like a venue's Poisson noise); see the README, "Recovery of planted hotspots".
EMERGING_ONSET_RATE = 3.0

# Hour-of-day profiles (index = local hour). Residential homes peak 22:00-01:00.
HOURS_RESIDENTIAL = np.array([6, 3, 2, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 3, 4, 5, 6, 7, 8, 9, 11, 14, 13], float)
HOURS_OTHER_CARE = np.array([2, 1, 1, .5, .5, .5, 1, 1, 2, 2, 2, 3, 3, 4, 5, 7, 8, 8, 8, 7, 6, 5, 4, 3], float)
HOURS_VENUE = np.array([1, .5, .3, .2, .2, .2, .5, 1, 2, 3, 4, 5, 5, 5, 6, 8, 9, 9, 8, 7, 6, 4, 3, 2], float)
# Acceptance by day of week (Mon..Sun): more episodes at weekends.
DOW_ACCEPT = np.array([0.78, 0.78, 0.78, 0.8, 0.92, 1.0, 0.9])
DOW_VENUE = np.array([0.8, 0.8, 0.85, 0.9, 1.1, 1.3, 1.1])

# Found-location mix (METHODS §10): home/placement, friend, street/park, relative,
# shops/leisure, station, other.
FOUND_MIX = (("home_or_placement", .25), ("friend", .24), ("street_or_park", .19),
             ("relative", .12), ("shops_or_leisure", .11), ("station", .02), ("other", .07))
# Distance (km) quantiles for found locations that are not at the placement itself.
# Mixed with the 80 % of "home/placement" finds within 0.5 km, venue finds (venues are
# sparse, so usually farther than asked) and planted-site finds, they give the published
# 30/50/70/80 % within 1/3/8/18 km (tuned on seeds 7 and 8; see calibration in ground truth).
AWAY_KM_Q = np.array([0.0, 0.2, 0.54, 0.7, 0.73, 0.88, 1.0])
AWAY_KM_X = np.array([0.2, 1.0, 3.0, 8.0, 18.0, 32.0, 55.0])

# Planted-site report kinds when a young person is involved / not.
SITE_KINDS = (("found", .22), ("sighting", .33), ("rhi_disclosure", .12), ("adult_of_concern", .15),
              ("vehicle_of_concern", .06), ("premises_of_concern", .06), ("other", .06))
SIGHTING_SOURCES = (("police", .35), ("community", .2), ("care_provider", .15), ("youth_service", .12),
                    ("education", .08), ("health", .05), ("child_protection", .05))
FOUND_SOURCES = (("police", .55), ("care_provider", .3), ("child_protection", .1), ("community", .05))
VENUE_KINDS = (("sighting", .42), ("adult_of_concern", .25), ("vehicle_of_concern", .1),
               ("premises_of_concern", .1), ("other", .13))
VENUE_SOURCES = (("police", .35), ("community", .25), ("youth_service", .15), ("care_provider", .1),
                 ("education", .05), ("health", .05), ("child_protection", .05))
GRADING_P = (.2, .05, .3, .15, .15, .08, .05, .02)

# Planted bad rows: (reason, how many, column touched). Each has exactly one problem.
BAD_EPISODES = (("lat_out_of_range", 2, "found_lat"), ("null_island", 2, "found_lat,found_lon"),
                ("bad_timestamp", 2, "missing_from"), ("returned_before_missing", 2, "returned_at"),
                ("unknown_enum:placement_type", 2, "placement_type"),
                ("missing_required:person_ref", 2, "person_ref"), ("age_out_of_range", 2, "age_years"))
BAD_REPORTS = (("lat_out_of_range", 3, "lat"), ("null_island", 3, "lat,lon"),
               ("bad_timestamp", 3, "observed_at"), ("outside_study_area", 3, "lat,lon"),
               ("unknown_enum:kind", 3, "kind"), ("unknown_enum:source", 3, "source"),
               ("missing_required:lat", 3, "lat"))
BAD_DISRUPTIONS = (("bad_timestamp", 2, "start"), ("unknown_enum:kind", 2, "kind"),
                   ("lat_out_of_range", 2, "lat"))
DUPLICATE_REPORTS = 2
BAD_SOURCE_WINDOW = 2_000  # bad copies are made from rows among the first 2,000 (first week / chunk)

# Streams: independent random streams keyed by purpose.
S_PLACES, S_PLACEMENTS, S_CHILDREN, S_EPISODES, S_PLANT, S_WEEK, S_DISRUPT, S_BAD = range(1, 9)


# --------------------------------------------------------------------------- parameters
def resolve_scale(scale: str | int) -> int:
    """Number of (valid) location reports for a named or integer scale."""
    if isinstance(scale, bool):
        raise InvalidInputError(f"scale must be one of {sorted(SCALES)} or an integer; received {scale!r}.")
    if isinstance(scale, (int, np.integer)):
        if not MIN_REPORTS <= int(scale) <= MAX_REPORTS:
            raise InvalidInputError(
                f"scale as an integer is the number of location reports and must be between "
                f"{MIN_REPORTS:,} and {MAX_REPORTS:,}; received {int(scale):,}.")
        return int(scale)
    if isinstance(scale, str):
        key = scale.strip().lower()
        if key in SCALES:
            return SCALES[key]
        if key.isdigit():
            return resolve_scale(int(key))
    raise InvalidInputError(
        f"Unknown scale {scale!r}: use one of {', '.join(SCALES)} "
        f"(~{SCALES['small']:,} / {SCALES['medium']:,} / {SCALES['large']:,} reports) "
        f"or an integer number of reports from {MIN_REPORTS:,} to {MAX_REPORTS:,}.")


def _check_weeks(weeks: int) -> int:
    if isinstance(weeks, bool) or not isinstance(weeks, (int, np.integer)) or not MIN_WEEKS <= weeks <= MAX_WEEKS:
        raise InvalidInputError(
            f"weeks must be an integer from {MIN_WEEKS} to {MAX_WEEKS} (from 2024-W27; 104 ends at "
            f"2026-W26); received {weeks!r}.")
    return int(weeks)


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InvalidInputError(f"seed must be a non-negative integer; received {seed!r}.")
    return int(seed)


def _rng(seed: int, stream: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng([seed, stream, *keys])


def _pick(rng: np.random.Generator, mix: tuple, n: int) -> np.ndarray:
    """n draws of the labels in ``mix`` ((label, p), ...) as an object array."""
    labels = np.array([m[0] for m in mix], dtype=object)
    p = np.array([m[1] for m in mix], float)
    return labels[rng.choice(len(mix), size=n, p=p / p.sum())]


def _round6(x: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(x, float), 6)


# --------------------------------------------------------------------------- time
def week_label(week: int) -> str:
    """ISO week label (YYYY-Www) of week index ``week`` (0 = 2024-W27)."""
    y, w, _ = (FIRST_MONDAY + timedelta(weeks=int(week))).isocalendar()
    return f"{y}-W{w:02d}"


class LocalClock:
    """Local wall-clock seconds since 2024-07-01 00:00 Australia/Sydney -> ISO 8601 with offset.

    Offsets come from ``zoneinfo`` hour by hour; a time inside the spring-forward gap
    (02:00-03:00 on the first Sunday of October) does not exist on the wall, so
    :meth:`normalise` moves it to 03:00 (monotone, keeps ordering).
    """

    def __init__(self, weeks: int):
        tz = ZoneInfo(TIMEZONE)
        base = datetime(FIRST_MONDAY.year, FIRST_MONDAY.month, FIRST_MONDAY.day)
        n_hours = weeks * 7 * 24 + 24 * 7
        self.offset = np.empty(n_hours, np.int32)
        self.gap = np.zeros(n_hours, bool)
        stamps = []
        for h in range(n_hours):
            naive = base + timedelta(hours=h)
            aware = naive.replace(tzinfo=tz)
            self.offset[h] = int(aware.utcoffset().total_seconds())
            self.gap[h] = aware.astimezone(timezone.utc).astimezone(tz).replace(tzinfo=None) != naive
            stamps.append(naive.strftime("%Y-%m-%dT%H").encode())
        self._hour_text = np.frombuffer(b"".join(stamps), np.uint8).reshape(n_hours, 13)
        off_text = [(("+" if o >= 0 else "-") + f"{abs(o) // 3600:02d}:{abs(o) % 3600 // 60:02d}").encode()
                    for o in self.offset]
        self._off_text = np.frombuffer(b"".join(off_text), np.uint8).reshape(n_hours, 6)
        mmss = [f":{m:02d}:{s:02d}".encode() for m in range(60) for s in range(60)]
        self._mmss_text = np.frombuffer(b"".join(mmss), np.uint8).reshape(3600, 6)

    def normalise(self, secs: np.ndarray) -> np.ndarray:
        """Move times in the DST gap to the end of the gap (they do not exist locally)."""
        secs = np.asarray(secs, np.int64)
        h = secs // HOUR
        in_gap = self.gap[h]
        return np.where(in_gap, (h + 1) * HOUR, secs)

    def iso(self, secs: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
        """ISO 8601 strings like 2025-03-01T22:15:00+11:00 (null where not ``valid``)."""
        secs = np.asarray(secs, np.int64)
        n = secs.shape[0]
        safe = secs if valid is None else np.where(valid, secs, 0)
        h = safe // HOUR
        out = np.empty((n, 25), np.uint8)
        out[:, :13] = self._hour_text[h]
        out[:, 13:19] = self._mmss_text[safe - h * HOUR]
        out[:, 19:] = self._off_text[h]
        mask = None if valid is None else pa.py_buffer(np.packbits(valid, bitorder="little"))
        arr = pa.FixedSizeBinaryArray.from_buffers(pa.binary(25), n, [mask, pa.py_buffer(out)])
        return arr.cast(pa.string())


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
    ll = np.array([h3.cell_to_latlng(h3.int_to_str(int(c))) for c in cells]).reshape(-1, 2)
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


# --------------------------------------------------------------------------- episodes
def _hawkes(rng, children: pd.DataFrame, alpha: float = 0.5, kernel_days: float = 12.0):
    """Episode start times per child: Poisson immigrants plus self-excited offspring."""
    t0 = children["active_from"].to_numpy()
    t1 = children["active_to"].to_numpy()
    span = np.maximum(t1 - t0, 0)
    n0 = rng.poisson(children["mu_per_year"].to_numpy() * span / (365.25 * DAY))
    c = np.repeat(np.arange(len(children)), n0)
    t = t0[c] + (rng.random(c.size) * span[c]).astype(np.int64)
    cs, ts = [c], [t]
    branching = np.where(children["one_off"].to_numpy(), 0.1, alpha)
    while c.size:
        k = rng.poisson(branching[c])
        c = np.repeat(c, k)
        t = np.repeat(t, k) + (rng.exponential(kernel_days, c.size) * DAY).astype(np.int64)
        keep = t < t1[c]
        c, t = c[keep], t[keep]
        cs.append(c)
        ts.append(t)
    return np.concatenate(cs), np.concatenate(ts)


def _time_of_day(rng, day: np.ndarray, residential: np.ndarray) -> np.ndarray:
    """Local seconds at a profile-drawn hour on the given day index."""
    n = day.size
    h_res = rng.choice(24, size=n, p=HOURS_RESIDENTIAL / HOURS_RESIDENTIAL.sum())
    h_oth = rng.choice(24, size=n, p=HOURS_OTHER_CARE / HOURS_OTHER_CARE.sum())
    hour = np.where(residential, h_res, h_oth)
    return day * DAY + hour * HOUR + rng.integers(0, 60, n) * 60


def _drop_overlaps(child: np.ndarray, start: np.ndarray, end: np.ndarray, priority: np.ndarray) -> np.ndarray:
    """Mask keeping episodes that do not start before the same child's previous one ended."""
    order = np.lexsort((start, child))
    keep = np.ones(child.size, bool)
    while True:
        idx = order[keep[order]]
        same = child[idx][1:] == child[idx][:-1]
        clash = same & (start[idx][1:] < end[idx][:-1] + HOUR)
        if not clash.any():
            return keep
        prev, nxt = idx[:-1][clash], idx[1:][clash]
        drop = np.where(priority[nxt] > priority[prev], prev, nxt)
        keep[np.unique(drop)] = False


def _away_distance_km(rng, n: int) -> np.ndarray:
    return np.exp(np.interp(rng.random(n), AWAY_KM_Q, np.log(AWAY_KM_X)))


def _choose_place(rng, lat, lon, places: pd.DataFrame, mask: np.ndarray, target_km=None,
                  scale_km: float = 2.0, chunk: int = 100_000) -> np.ndarray:
    """Index into ``places`` for each point (Gumbel-max over busyness and distance).

    With ``target_km`` the place whose distance is closest (in log) to the target wins
    (keeps the distance decay); otherwise nearer and busier places are likelier.
    """
    cand = np.flatnonzero(mask)
    plat = places["lat"].to_numpy()[cand]
    plon = places["lon"].to_numpy()[cand]
    logw = np.log(places["weight"].to_numpy()[cand])
    out = np.empty(len(lat), np.int64)
    for a in range(0, len(lat), chunk):
        b = min(a + chunk, len(lat))
        d = distance_km(lat[a:b, None], lon[a:b, None], plat[None, :], plon[None, :])
        if target_km is None:
            score = 0.5 * logw - d / scale_km
        else:
            score = 0.3 * logw - np.abs(np.log(d + 0.05) - np.log(target_km[a:b, None])) / 0.3
        score = score + rng.gumbel(size=score.shape)
        out[a:b] = cand[np.argmax(score, axis=1)]
    return out


@dataclass
class Site:
    """A planted site: where, what kind, and its expected planted reports per week."""

    id: str
    kind: str
    place: int
    core: np.ndarray                 # uint64 cells that carry most planted events
    halo: np.ndarray                 # ring-1 cells around the core
    rate: np.ndarray                 # expected planted events per week (at this scale)
    onset_week: int | None = None
    end_week: int | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class Intervention:
    """Presence patrols with a known effect on events in treated cells, and a displaced buffer."""

    id: str
    place: int
    treated: np.ndarray
    buffer: np.ndarray
    start_week: int
    end_week: int
    effect: float
    buffer_effect: float
    treated_rate: float
    buffer_rate: float

    def active(self, week: np.ndarray) -> np.ndarray:
        return (week >= self.start_week) & (week <= self.end_week)


# --------------------------------------------------------------------------- the city
class SyntheticCity:
    """Everything SYNTHETIC about one seed: geography, children, episodes, plants, reports.

    Build with :func:`build_city`; then read :attr:`places`, :attr:`placements`,
    :meth:`episode_frames`, :meth:`iter_report_frames` (consume fully before calling
    :meth:`ground_truth`), :meth:`disruptions_frame`.
    """

    def __init__(self, seed: int, weeks: int, n_reports: int, plant_repeat_home: bool = False):
        self.seed = _check_seed(seed)
        self.weeks = _check_weeks(weeks)
        self.n_reports = n_reports
        self.f = n_reports / BASE_REPORTS
        self.horizon = self.weeks * WEEK
        self.clock = LocalClock(self.weeks)
        self.poly = boundary_polygon()
        shapely.prepare(self.poly)
        self.places = build_places(seed, self.poly)
        self.placements, self.children = build_placements_and_children(seed, self.poly, self.f, self.weeks)
        self.sites: list[Site] = []
        self.intervention: Intervention | None = None
        self.bad_rows: dict[str, list[dict]] = {}
        self.counts: dict[str, int] = {}
        self.duplicate_ids: list[str] = []
        self.repeat_home: dict | None = None
        self._choose_sites()
        self._simulate_episodes()
        if plant_repeat_home:
            self._plant_repeat_home()
        self._plan_planted()
        self._apply_intervention_to_episodes()
        self._finalise_episodes()

    # ---- sites
    def _choose_sites(self) -> None:
        """Pick isolated places for the planted sites and set their rates."""
        rng = _rng(self.seed, S_PLANT, 0)
        p = self.places
        lat, lon = p["lat"].to_numpy(), p["lon"].to_numpy()
        d = distance_km(lat[:, None], lon[:, None], lat[None, :], lon[None, :])
        np.fill_diagonal(d, np.inf)
        nearest = d.min(axis=1)
        specs = (("S1", "persistent", "shopping_centre"), ("S2", "persistent", "train_station"),
                 ("S3", "emerging", "fast_food"), ("S4", "emerging", "park"),
                 ("S5", "diminishing", "hotel"), ("S6", "convergence", "bus_interchange"),
                 ("I1", "intervention", "shopping_centre"))
        chosen: list[int] = []
        for sid, kind, category in specs:
            ok = (p["category"].to_numpy() == category)
            if chosen:
                ok &= d[:, chosen].min(axis=1) > 4.0
            ok &= np.isfinite(nearest)
            iso = nearest > (1.5 if kind == "intervention" else 1.0)
            pool = np.flatnonzero(ok & iso)
            if pool.size == 0:
                pool = np.flatnonzero(ok)
                pool = pool[np.argsort(-nearest[pool], kind="stable")[:1]]
            chosen.append(int(pool[rng.integers(pool.size)]))
        weights = p["weight"].to_numpy().copy()
        quiet = np.median(weights) * 0.3
        weights[chosen] = quiet  # sites' own background is modest: the plant is the signal
        self.places["weight"] = weights
        W = self.weeks
        w = np.arange(W)
        f = self.f
        for (sid, kind, _), place in zip(specs, chosen):
            cell = np.array([p["cell"].iat[place]], np.uint64)
            halo = np.setdiff1d(grid_disk_cells(cell, 1), cell)
            if kind == "persistent":
                rate = np.full(W, 4.0 if sid == "S1" else 3.5)
                site = Site(sid, kind, place, cell, halo, rate * f)
            elif kind == "emerging":
                onset = int(round((0.62 if sid == "S3" else 0.8) * W))
                peak, ramp = (6.0, 12) if sid == "S3" else (5.0, 10)
                start = EMERGING_ONSET_RATE
                rate = np.where(w >= onset, start + (peak - start) * np.minimum(1, (w - onset) / ramp), 0.0)
                site = Site(sid, kind, place, cell, halo, rate * f, onset_week=onset)
            elif kind == "diminishing":
                rate = 1.5 + 6.0 * np.exp(-3.0 * w / W)
                site = Site(sid, kind, place, cell, halo, rate * f)
            elif kind == "convergence":
                site = Site(sid, kind, place, cell, halo, np.full(W, 0.4) * f)
            else:
                treated = grid_disk_cells(cell, 1)
                buffer = np.setdiff1d(grid_disk_cells(cell, 3), treated)
                start = int(round(0.55 * W))
                length = max(6, int(round(0.15 * W)))
                self.intervention = Intervention(sid, place, treated, buffer, start, start + length - 1,
                                                 effect=-0.3, buffer_effect=0.25,
                                                 treated_rate=8.0 * f, buffer_rate=5.0 * f)
                continue
            self.sites.append(site)

    # ---- episodes
    def _simulate_episodes(self) -> None:
        """Hawkes episode starts, weekend/hour profiles, convergence cohort, durations."""
        rng = _rng(self.seed, S_EPISODES)
        ch = self.children
        cohort = self._pick_cohort()
        child, t = _hawkes(rng, ch)
        day = t // DAY
        accept = rng.random(day.size) < DOW_ACCEPT[day % 7]
        child, day = child[accept], day[accept]
        residential = ch["ptype"].to_numpy()[child] == 0
        start = _time_of_day(rng, day, residential)
        planted = np.zeros(child.size, np.int8)
        cc, cs = self._cohort_episodes(rng, cohort)
        child = np.concatenate([child, cc])
        start = np.concatenate([start, cs])
        planted = np.concatenate([planted, np.ones(cc.size, np.int8)])
        dur = np.clip(rng.lognormal(math.log(10 * HOUR), 1.15, child.size), 1800, 60 * DAY).astype(np.int64) // 60 * 60
        dur[planted == 1] = np.minimum(dur[planted == 1], 36 * HOUR)
        start = self.clock.normalise(start)
        ok = (start >= ch["active_from"].to_numpy()[child]) & (start < self.horizon - 6 * HOUR)
        child, start, dur, planted = child[ok], start[ok], dur[ok], planted[ok]
        keep = _drop_overlaps(child, start, start + dur, planted)
        order = np.lexsort((child[keep], start[keep]))
        self.ep = pd.DataFrame({"child": child[keep][order], "start": start[keep][order],
                                "dur": dur[keep][order], "planted": planted[keep][order]})
        self._episode_places(rng)

    def _pick_cohort(self) -> np.ndarray:
        """Convergence cohort: 5 young people from 3 residential homes, in care all period."""
        ch = self.children
        res = ch.index[(ch["ptype"] == 0)].to_numpy()
        homes, counts = np.unique(ch["placement"].to_numpy()[res], return_counts=True)
        homes = homes[counts >= 2][:3]
        if homes.size < 3:
            raise RuntimeError("too few residential homes for the convergence cohort")
        cohort = np.concatenate([res[ch["placement"].to_numpy()[res] == h][:n] for h, n in zip(homes, (2, 2, 1))])
        ch.loc[cohort, "active_from"] = 0
        ch.loc[cohort, "active_to"] = self.horizon
        ch.loc[cohort, "age_start_days"] = np.minimum(ch.loc[cohort, "age_start_days"].to_numpy(), 14.5 * 365.25)
        ch.loc[cohort, "one_off"] = False
        ch.loc[cohort, "mu_per_year"] = np.maximum(ch.loc[cohort, "mu_per_year"].to_numpy(), 6.0)
        return cohort

    def _cohort_episodes(self, rng, cohort: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Extra episodes for the cohort inside three 6-week windows."""
        site = next(s for s in self.sites if s.kind == "convergence")
        W = self.weeks
        windows = [(int(round(a * W)), int(round(a * W)) + 5) for a in (0.25, 0.5, 0.8)]
        cc, cs = [], []
        for ws, we in windows:
            n = rng.poisson(0.9 * (we - ws + 1), cohort.size)
            c = np.repeat(cohort, n)
            day = rng.integers(ws * 7, (we + 1) * 7, c.size)
            cc.append(c)
            cs.append(_time_of_day(rng, day, np.ones(c.size, bool)))
        site.extra = {"cohort": cohort, "windows": windows}
        return np.concatenate(cc), np.concatenate(cs)

    def _episode_places(self, rng) -> None:
        """Last-seen and found locations (found-location mix and distance decay)."""
        ep, ch, pl = self.ep, self.children, self.placements
        n = len(ep)
        pidx = ch["placement"].to_numpy()[ep["child"].to_numpy()]
        plat, plon = pl["lat"].to_numpy()[pidx], pl["lon"].to_numpy()[pidx]
        near = rng.random(n) < 0.8
        llat, llon = _jitter(rng, plat, plon, 0.15, 0.4)
        flat, flon = _jitter(rng, plat, plon, 1.5, 4.0)
        llat, llon = np.where(near, llat, flat), np.where(near, llon, flon)
        llat, llon = _keep_inside(self.poly, llat, llon, plat, plon)
        cat = rng.choice(len(FOUND_MIX), size=n, p=[m[1] for m in FOUND_MIX])
        d = _away_distance_km(rng, n)
        at_home = (cat == 0) & (rng.random(n) < 0.8)
        d = np.where(at_home, rng.uniform(0.0, 0.5, n), d)
        theta = rng.uniform(0, 2 * np.pi, n)
        glat, glon = _offset(llat, llon, d * np.cos(theta), d * np.sin(theta))
        for _ in range(8):  # re-aim points that fell outside the study area
            out = ~shapely.contains_xy(self.poly, glon, glat)
            if not out.any():
                break
            theta[out] = rng.uniform(0, 2 * np.pi, int(out.sum()))
            d[out] *= 0.8
            dx, dy = d[out] * np.cos(theta[out]), d[out] * np.sin(theta[out])
            glat[out], glon[out] = _offset(llat[out], llon[out], dx, dy)
        glat, glon = _keep_inside(self.poly, glat, glon, llat, llon)
        cats = self.places["category"].to_numpy()
        for code, mask in ((4, np.isin(cats, ["shopping_centre", "fast_food"])),
                           (5, np.isin(cats, ["train_station", "bus_interchange"])),
                           (2, cats == "park")):
            sel = np.flatnonzero((cat == code) & ((code != 2) | (rng.random(n) < 0.5)))
            if sel.size:
                k = _choose_place(rng, llat[sel], llon[sel], self.places, mask, target_km=d[sel])
                glat[sel], glon[sel] = _jitter(rng, self.places["lat"].to_numpy()[k],
                                               self.places["lon"].to_numpy()[k], 0.04, 0.12)
        ep["last_lat"], ep["last_lon"] = llat, llon
        ep["found_lat"], ep["found_lon"] = glat, glon
        ep["found_cat"] = cat.astype(np.int8)
        ep["has_found"] = rng.random(n) < 0.88
        ep["returned"] = (ep["start"].to_numpy() + ep["dur"].to_numpy() < self.horizon) & (rng.random(n) > 0.015)
        ep["site"] = np.int8(-1)

    def _plant_repeat_home(self) -> None:
        """One young person missing from, and found at, their own residential placement every second day.

        The young person (a resident of the first residential home more than 2 km from every
        planted site and the intervention, outside the convergence cohort) is in care all
        period; their own episodes are replaced by one every second day, 18:00-22:00 local,
        lasting 2-8 hours, last seen and found within about 20 m of the home. Drawn from its
        own random stream, so nothing else in the city changes except through these episodes.
        """
        rng = _rng(self.seed, S_PLANT, 3)
        ch, pl = self.children, self.placements
        cohort = set(next(s for s in self.sites if s.kind == "convergence").extra["cohort"].tolist())
        spots = [s.place for s in self.sites] + [self.intervention.place]
        slat, slon = self.places["lat"].to_numpy()[spots], self.places["lon"].to_numpy()[spots]
        child = None
        for c in ch.index[ch["ptype"].to_numpy() == 0].tolist():
            home = int(ch["placement"].iat[c])
            if c not in cohort and distance_km(pl["lat"].iat[home], pl["lon"].iat[home], slat, slon).min() > 2.0:
                child = c
                break
        if child is None:
            raise RuntimeError("no residential home far enough from the planted sites for plant_repeat_home")
        home = int(ch["placement"].iat[child])
        ch.loc[child, ["active_from", "active_to"]] = (0, self.horizon)
        ch.loc[child, "one_off"] = False
        ch.loc[child, "age_start_days"] = min(float(ch["age_start_days"].iat[child]), 14.5 * 365.25)
        days = np.arange(0, self.weeks * 7, 2)
        start = self.clock.normalise(days * DAY + 18 * HOUR + rng.integers(0, 4 * 60, days.size) * 60)
        dur = rng.integers(2 * 60, 8 * 60, days.size).astype(np.int64) * 60
        ok = start + dur < self.horizon - 6 * HOUR
        start, dur = start[ok], dur[ok]
        n = start.size
        plat, plon = np.full(n, pl["lat"].iat[home]), np.full(n, pl["lon"].iat[home])
        llat, llon = _jitter(rng, plat, plon, 0.01, 0.02)
        flat, flon = _jitter(rng, plat, plon, 0.01, 0.02)
        mine = pd.DataFrame({
            "child": np.full(n, child, dtype=self.ep["child"].dtype), "start": start.astype(np.int64),
            "dur": dur, "planted": np.full(n, 2, np.int8), "last_lat": llat, "last_lon": llon,
            "found_lat": flat, "found_lon": flon, "found_cat": np.zeros(n, np.int8),
            "has_found": np.ones(n, bool), "returned": np.ones(n, bool), "site": np.full(n, -1, np.int8)})
        ep = pd.concat([self.ep[self.ep["child"] != child], mine[self.ep.columns]], ignore_index=True)
        order = np.lexsort((ep["child"].to_numpy(), ep["start"].to_numpy()))
        self.ep = ep.iloc[order].reset_index(drop=True).astype(self.ep.dtypes.to_dict())
        self.repeat_home = {"child": int(child), "placement": home, "episodes": int(n)}

    # ---- planted events
    def _plan_planted(self) -> None:
        """Planted site events: relocate some found locations, queue planted reports."""
        rng = _rng(self.seed, S_PLANT, 1)
        ep = self.ep
        start = ep["start"].to_numpy()
        week_of = start // WEEK
        bounds = np.searchsorted(week_of, np.arange(self.weeks + 1))
        eligible = (ep["has_found"] & ep["returned"] & (ep["planted"] == 0)).to_numpy().copy()
        rows: list[pd.DataFrame] = []
        for si, site in enumerate(self.sites):
            rows.append(self._site_reports(rng, si, site, bounds, eligible))
        conv = next(i for i, s in enumerate(self.sites) if s.kind == "convergence")
        rows.append(self._cohort_events(rng, conv))
        rows.append(self._intervention_stream(rng))
        planted = pd.concat(rows, ignore_index=True)
        planted["t"] = self.clock.normalise(planted["t"].to_numpy())
        planted = planted[planted["t"] < self.horizon]
        self.planted = planted.sort_values(["t", "site"], kind="stable").reset_index(drop=True)

    def _site_points(self, rng, site_place: int, core: np.ndarray, halo: np.ndarray, n: int,
                     core_share: float = 0.9):
        """Points in the core cell (around the place) or, less often, in a halo cell."""
        p = self.places
        lat, lon = _jitter(rng, np.full(n, p["lat"].iat[site_place]), np.full(n, p["lon"].iat[site_place]), 0.035, 0.07)
        in_halo = rng.random(n) >= core_share
        if in_halo.any() and halo.size:
            hlat, hlon = _cell_centres(halo)
            k = rng.integers(0, halo.size, int(in_halo.sum()))
            lat[in_halo], lon[in_halo] = _jitter(rng, hlat[k], hlon[k], 0.03, 0.06)
        return lat, lon

    def _week_times(self, rng, weeks: np.ndarray) -> np.ndarray:
        """Times within the given weeks following venue day/hour profiles."""
        n = weeks.size
        dow = rng.choice(7, size=n, p=DOW_VENUE / DOW_VENUE.sum())
        hour = rng.choice(24, size=n, p=HOURS_VENUE / HOURS_VENUE.sum())
        return weeks * WEEK + dow * DAY + hour * HOUR + rng.integers(0, 60, n) * 60

    def _site_reports(self, rng, si: int, site: Site, bounds: np.ndarray, eligible: np.ndarray) -> pd.DataFrame:
        ep = self.ep
        counts = rng.poisson(site.rate)
        weeks = np.repeat(np.arange(self.weeks), counts)
        kinds = _pick(rng, SITE_KINDS, weeks.size)
        t = self._week_times(rng, weeks)
        lat, lon = self._site_points(rng, site.place, site.core, site.halo, weeks.size)
        epi = self._link_episodes(rng, site.place, weeks, kinds, bounds, eligible)
        found = (kinds == "found") & (epi >= 0)
        kinds[(kinds == "found") & (epi < 0)] = "sighting"
        j = epi[found]
        ep.loc[j, "found_lat"], ep.loc[j, "found_lon"] = lat[found], lon[found]
        ep.loc[j, "site"] = si
        linked = epi >= 0
        s = ep["start"].to_numpy()[epi[linked]]
        dmax = np.minimum(ep["dur"].to_numpy()[epi[linked]], 18 * HOUR)
        t[linked] = s + (rng.random(linked.sum()) * dmax).astype(np.int64) // 60 * 60
        keep = ~found  # found events are emitted from the episode itself
        return pd.DataFrame({"t": t[keep], "lat": lat[keep], "lon": lon[keep], "kind": kinds[keep],
                             "episode": epi[keep], "site": si})

    def _link_episodes(self, rng, place: int, weeks: np.ndarray, kinds: np.ndarray, bounds: np.ndarray,
                       eligible: np.ndarray) -> np.ndarray:
        """Episode behind each person-linked planted event, drawn from that week's episodes.

        Young people placed nearby are likelier (weight exp(-km / 5)), as with real finds;
        a "found" takes an eligible episode without replacement. Vectorised per week.
        """
        ep = self.ep
        plat, plon = self.places["lat"].iat[place], self.places["lon"].iat[place]
        near = -distance_km(ep["last_lat"].to_numpy(), ep["last_lon"].to_numpy(), plat, plon) / 5.0
        epi = np.full(weeks.size, -1, np.int64)
        person = np.isin(kinds, ["found", "sighting", "rhi_disclosure"])
        ev_bounds = np.searchsorted(weeks, np.arange(self.weeks + 1))
        for w in range(self.weeks):
            lo, hi = bounds[w], bounds[w + 1]
            ev = np.arange(ev_bounds[w], ev_bounds[w + 1])
            ev = ev[person[ev]]
            if ev.size == 0 or hi == lo:
                continue
            score = near[lo:hi] + rng.gumbel(size=hi - lo)
            fnd = ev[kinds[ev] == "found"]
            score_f = np.where(eligible[lo:hi], score, -np.inf)
            m = int(min(fnd.size, eligible[lo:hi].sum()))
            top = lo + np.argsort(-score_f, kind="stable")[:m]
            epi[fnd[:m]] = top
            eligible[top] = False
            oth = ev[kinds[ev] != "found"]
            p = np.exp(near[lo:hi] - near[lo:hi].max())
            epi[oth] = lo + rng.choice(hi - lo, size=oth.size, p=p / p.sum())
        return epi

    def _cohort_events(self, rng, si: int) -> pd.DataFrame:
        """Convergence cohort episodes: found at the site (60 %) or sighted there."""
        site = self.sites[si]
        ep = self.ep
        idx = np.flatnonzero(ep["planted"].to_numpy() == 1)
        found_there = rng.random(idx.size) < 0.6
        lat, lon = self._site_points(rng, site.place, site.core, site.halo, idx.size)
        f_idx = idx[found_there]
        ep.loc[f_idx, "found_lat"], ep.loc[f_idx, "found_lon"] = lat[found_there], lon[found_there]
        ep.loc[f_idx, "has_found"] = True
        ep.loc[f_idx, "returned"] = True
        ep.loc[f_idx, "site"] = si
        s_idx = idx[~found_there]
        s = ep["start"].to_numpy()[s_idx]
        span = np.minimum(ep["dur"].to_numpy()[s_idx], 12 * HOUR)
        t = s + (rng.random(s_idx.size) * span).astype(np.int64) // 60 * 60
        return pd.DataFrame({"t": t, "lat": lat[~found_there], "lon": lon[~found_there],
                             "kind": "sighting", "episode": s_idx, "site": si})

    def _intervention_stream(self, rng) -> pd.DataFrame:
        """Planted events in the treated cells and, raised during the intervention, the buffer."""
        iv = self.intervention
        w = np.arange(self.weeks)
        p = self.places
        t_weeks = np.repeat(w, rng.poisson(np.full(self.weeks, iv.treated_rate)))
        core = np.array([p["cell"].iat[iv.place]], np.uint64)
        ring = np.setdiff1d(iv.treated, core)
        tlat, tlon = self._site_points(rng, iv.place, core, ring, t_weeks.size, core_share=0.6)
        b_rate = iv.buffer_rate * np.where(iv.active(w), 1 + iv.buffer_effect, 1.0)
        b_weeks = np.repeat(w, rng.poisson(b_rate))
        blat, blon = _cell_centres(iv.buffer)
        k = rng.integers(0, iv.buffer.size, b_weeks.size)
        blat, blon = _jitter(rng, blat[k], blon[k], 0.03, 0.06)
        weeks = np.concatenate([t_weeks, b_weeks])
        return pd.DataFrame({"t": self._week_times(rng, weeks), "lat": np.concatenate([tlat, blat]),
                             "lon": np.concatenate([tlon, blon]), "kind": _pick(rng, VENUE_KINDS, weeks.size),
                             "episode": -1, "site": len(self.sites)})

    def _apply_intervention_to_episodes(self) -> None:
        """During the intervention, 30 % of finds in treated cells happen elsewhere instead."""
        rng = _rng(self.seed, S_PLANT, 2)
        iv, ep = self.intervention, self.ep
        found_t = ep["start"].to_numpy() + ep["dur"].to_numpy()
        cand = np.flatnonzero(iv.active(found_t // WEEK) & ep["has_found"].to_numpy() & ep["returned"].to_numpy()
                              & (distance_km(ep["found_lat"].to_numpy(), ep["found_lon"].to_numpy(),
                                             self.places["lat"].iat[iv.place], self.places["lon"].iat[iv.place]) < 1.0))
        if cand.size == 0:
            return
        cells = latlng_to_cells(ep["found_lat"].to_numpy()[cand], ep["found_lon"].to_numpy()[cand], RESOLUTION)
        hit = cand[np.isin(cells, iv.treated) & (rng.random(cand.size) < -iv.effect)]
        ep.loc[hit, "found_lat"] = ep.loc[hit, "last_lat"].to_numpy()
        ep.loc[hit, "found_lon"] = ep.loc[hit, "last_lon"].to_numpy()
        ep.loc[hit, "site"] = -1

    def _finalise_episodes(self) -> None:
        """Per-episode attributes and report counts; ids in time order."""
        rng = _rng(self.seed, S_EPISODES, 1)
        ep, ch = self.ep, self.children
        n = len(ep)
        c = ep["child"].to_numpy()
        frequent = ~ch["one_off"].to_numpy()[c]
        female = ch["gender"].to_numpy()[c] == 0
        u = rng.random(n) + 0.12 * frequent
        ep["risk"] = np.digitize(u, [0.2, 0.6, 0.9]).astype(np.int8)
        ep["cse"] = rng.random(n) < 0.08 + 0.12 * frequent + 0.06 * female + 0.3 * (ep["site"].to_numpy() >= 0)
        ep["rhi"] = rng.random(n) < 0.72
        ep["n_sight"] = rng.poisson(0.9, n).astype(np.int8)
        ep["rhi_report"] = ep["rhi"].to_numpy() & (rng.random(n) < 0.35)
        ep["delay"] = np.clip(rng.lognormal(math.log(1.5 * HOUR), 0.8, n), 300, 48 * HOUR).astype(np.int64) // 60 * 60
        self.ep_width = max(6, len(str(n + sum(b[1] for b in BAD_EPISODES))))
        self.person_width = max(5, len(str(len(ch))))

    # ---- output frames: episodes
    def episode_frames(self, rows_per_chunk: int = 250_000) -> Iterator[pd.DataFrame]:
        """Episodes in time order as contract-shaped frames (planted bad rows in the first)."""
        if isinstance(rows_per_chunk, bool) or not isinstance(rows_per_chunk, (int, np.integer)) \
                or rows_per_chunk < BAD_SOURCE_WINDOW:
            raise InvalidInputError(f"rows_per_chunk must be an integer >= {BAD_SOURCE_WINDOW}; "
                                    f"received {rows_per_chunk!r}.")
        n = len(self.ep)
        next_id = 0
        for a in range(0, max(n, 1), rows_per_chunk):
            df = self._episode_frame(slice(a, min(n, a + rows_per_chunk)))
            if a == 0:
                df = _insert_bad_rows(df, self._bad_episode_plan(), self._bad_episode_sources())
            df.insert(0, "episode_id", _ids("SYN-E", np.arange(next_id + 1, next_id + 1 + len(df)), self.ep_width))
            next_id += len(df)
            if a == 0:
                self.bad_rows["episodes"] = _bad_row_records(df, "episode_id")
            yield df.drop(columns=["_bad"], errors="ignore")
        self.counts["episodes_rows"] = next_id

    def _episode_frame(self, sl: slice) -> pd.DataFrame:
        ep, ch, pl, clock = self.ep.iloc[sl], self.children, self.placements, self.clock
        c = ep["child"].to_numpy()
        start = ep["start"].to_numpy()
        end = clock.normalise(np.minimum(start + ep["dur"].to_numpy(), self.horizon - 60))
        returned = ep["returned"].to_numpy()
        reported = clock.normalise(np.minimum(start + ep["delay"].to_numpy(), self.horizon - 60))
        found = ep["has_found"].to_numpy()
        pidx = ch["placement"].to_numpy()[c]
        age = np.floor((ch["age_start_days"].to_numpy()[c] + start / DAY) / 365.25).astype(np.int64)
        found = found & returned
        flat = np.where(found, _round6(ep["found_lat"].to_numpy()), np.nan)
        flon = np.where(found, _round6(ep["found_lon"].to_numpy()), np.nan)
        df = pd.DataFrame({
            "person_ref": _ids("SYN-P", c + 1, self.person_width),
            "missing_from": clock.iso(start).to_pandas(),
            "returned_at": clock.iso(end, returned).to_pandas(),
            "reported_at": clock.iso(reported).to_pandas(),
            "placement_ref": pl["placement_ref"].to_numpy()[pidx],
            "placement_type": pl["placement_type"].to_numpy()[pidx],
            "last_seen_lat": _round6(ep["last_lat"].to_numpy()),
            "last_seen_lon": _round6(ep["last_lon"].to_numpy()),
            "found_lat": flat, "found_lon": flon,
            "risk_level": np.array(RISK_LEVELS, dtype=object)[ep["risk"].to_numpy()],
            "cse_concern": ep["cse"].to_numpy(), "rhi_completed": ep["rhi"].to_numpy(),
            "age_years": age,
            "gender": np.array(GENDERS, dtype=object)[ch["gender"].to_numpy()[c]],
            "disability": ch["disability"].to_numpy()[c], "first_nations": ch["first_nations"].to_numpy()[c],
            "cald": ch["cald"].to_numpy()[c], "lgbtqia": ch["lgbtqia"].to_numpy()[c],
        })
        return _with_contract_dtypes(df, "episodes")

    def _bad_episode_plan(self) -> list[tuple[str, str, object]]:
        rng = _rng(self.seed, S_BAD, 1)
        return [(reason, col, _bad_value(reason, col, rng)) for reason, k, col in BAD_EPISODES for _ in range(k)]

    def _bad_episode_sources(self) -> np.ndarray:
        """Rows (among the first found-and-returned episodes) that bad copies are made from, in plan order."""
        if not hasattr(self, "_bad_ep_src"):
            ep = self.ep
            ok = np.flatnonzero((ep["has_found"] & ep["returned"]).to_numpy()[:BAD_SOURCE_WINDOW])
            n = sum(b[1] for b in BAD_EPISODES)
            self._bad_ep_src = _rng(self.seed, S_BAD, 0).choice(ok, size=n, replace=False)
        return self._bad_ep_src

    # ---- output frames: reports
    def iter_report_frames(self, chunk_weeks: int) -> Iterator[pd.DataFrame]:
        """Location reports, ``chunk_weeks`` weeks per frame, exactly ``n_reports`` valid rows.

        Also records observed weekly counts in planted and busy cells for the ground truth.
        """
        if isinstance(chunk_weeks, bool) or not isinstance(chunk_weeks, (int, np.integer)) or chunk_weeks < 1:
            raise InvalidInputError(f"chunk_weeks must be a positive integer; received {chunk_weeks!r}.")
        W = self.weeks
        targets = _largest_remainder(self.n_reports, 1 + 0.08 * np.sin(2 * np.pi * np.arange(W) / 52.18))
        self._observe_init()
        carry = 0
        n_bad = sum(b[1] for b in BAD_REPORTS)
        width = max(7, len(str(self.n_reports + n_bad + DUPLICATE_REPORTS)))
        next_id = 0
        ep_bounds = np.searchsorted(self.ep["start"].to_numpy() // WEEK, np.arange(W + 1))
        pl_bounds = np.searchsorted(self.planted["t"].to_numpy(), np.arange(W + 1) * WEEK)
        for a in range(0, W, chunk_weeks):
            parts = []
            for w in range(a, min(W, a + chunk_weeks)):
                frame, carry = self._week_reports(w, targets[w], carry, ep_bounds, pl_bounds, last=(w == W - 1))
                parts.append(frame)
            week0 = len(parts[0])
            df = pd.concat(parts, ignore_index=True)
            df = self._format_reports(df)
            if a == 0:
                n_bad_rows = sum(b[1] for b in BAD_REPORTS)
                src = _rng(self.seed, S_BAD, 2).choice(min(week0, BAD_SOURCE_WINDOW), size=n_bad_rows, replace=False)
                df = _insert_bad_rows(df, self._bad_report_plan(), src)
            df.insert(0, "report_id", _ids("SYN-R", np.arange(next_id + 1, next_id + 1 + len(df)), width))
            next_id += len(df)
            if a == 0:
                self.bad_rows["location_reports"] = _bad_row_records(df, "report_id")
                df = _insert_duplicates(df, _rng(self.seed, S_BAD, 3), DUPLICATE_REPORTS, week0 + n_bad_rows)
                self.duplicate_ids = sorted(df.loc[df.duplicated(keep="first"), "report_id"].tolist())
            yield df.drop(columns=["_bad"], errors="ignore")
        self.counts["location_reports_rows"] = next_id + DUPLICATE_REPORTS
        self.counts["location_reports_valid"] = next_id - n_bad

    def _week_reports(self, w: int, target: int, carry: int, ep_bounds, pl_bounds, last: bool):
        """One week's reports: episode-linked, venue background, planted, then diffuse filler."""
        rng = _rng(self.seed, S_WEEK, w)
        eps = np.arange(ep_bounds[w], ep_bounds[w + 1])
        parts = [self._episode_reports(rng, eps), self._venue_reports(rng, w),
                 self.planted.iloc[pl_bounds[w]:pl_bounds[w + 1]].assign(droppable=False, thin=True,
                                                                          source=None)]
        df = pd.concat([p for p in parts if len(p)], ignore_index=True)
        df = self._thin_intervention(rng, df)
        need = target + carry - len(df)
        filler = self._filler_reports(rng, w, max(need, 0))
        df = pd.concat([df, filler], ignore_index=True) if len(filler) else df
        carry = need - len(filler)
        if last and carry < 0:
            drop = np.flatnonzero(df["droppable"].to_numpy())
            if drop.size < -carry:
                raise RuntimeError("synthetic report budget could not be met; raise the scale")
            df = df.drop(index=rng.choice(drop, size=-carry, replace=False)).reset_index(drop=True)
            carry = 0
        df["source"] = _fill_sources(rng, df)
        df["grading"] = rng.choice(len(GRADINGS), size=len(df), p=GRADING_P)
        df = df.sort_values("t", kind="stable").reset_index(drop=True)
        self._observe(df)
        return df, carry

    def _episode_reports(self, rng, eps: np.ndarray) -> pd.DataFrame:
        ep = self.ep
        if eps.size == 0:
            return pd.DataFrame()
        start = ep["start"].to_numpy()[eps]
        dur = np.minimum(ep["dur"].to_numpy()[eps], self.horizon - 60 - start)
        llat, llon = ep["last_lat"].to_numpy()[eps], ep["last_lon"].to_numpy()[eps]
        has_found = ep["has_found"].to_numpy()[eps] & ep["returned"].to_numpy()[eps]
        flat = np.where(has_found, ep["found_lat"].to_numpy()[eps], llat)
        flon = np.where(has_found, ep["found_lon"].to_numpy()[eps], llon)
        # found: at the found location, when the episode ended
        f = np.flatnonzero(has_found)
        found = pd.DataFrame({"t": start[f] + dur[f], "lat": flat[f], "lon": flon[f], "kind": "found",
                              "episode": eps[f], "thin": False})
        # sightings: along the way or at a venue near the route
        k = np.repeat(np.arange(eps.size), ep["n_sight"].to_numpy()[eps])
        frac = rng.random(k.size)
        at_venue = rng.random(k.size) < 0.5
        slat = llat[k] + frac * (flat[k] - llat[k])
        slon = llon[k] + frac * (flon[k] - llon[k])
        slat, slon = _jitter(rng, slat, slon, 0.15, 0.5)
        if at_venue.any():
            v = _choose_place(rng, slat[at_venue], slon[at_venue], self.places,
                              np.ones(len(self.places), bool), scale_km=1.5)
            slat[at_venue], slon[at_venue] = _jitter(rng, self.places["lat"].to_numpy()[v],
                                                     self.places["lon"].to_numpy()[v], 0.05, 0.15)
        slat, slon = _keep_inside(self.poly, slat, slon, llat[k], llon[k])
        sight = pd.DataFrame({"t": start[k] + (frac * dur[k]).astype(np.int64), "lat": slat, "lon": slon,
                              "kind": "sighting", "episode": eps[k], "thin": True})
        # return-interview disclosures: a venue the young person says they went to
        r = np.flatnonzero(ep["rhi_report"].to_numpy()[eps])
        v = _choose_place(rng, flat[r], flon[r], self.places, np.ones(len(self.places), bool), scale_km=3.0)
        rlat, rlon = _jitter(rng, self.places["lat"].to_numpy()[v], self.places["lon"].to_numpy()[v], 0.05, 0.15)
        rhi = pd.DataFrame({"t": start[r] + (rng.random(r.size) * dur[r]).astype(np.int64), "lat": rlat,
                            "lon": rlon, "kind": "rhi_disclosure", "episode": eps[r], "thin": True})
        out = pd.concat([found, sight, rhi], ignore_index=True)
        out["t"] = self.clock.normalise(out["t"].to_numpy() // 60 * 60)
        out["droppable"] = False
        out["site"] = -1
        return out

    def _venue_reports(self, rng, w: int) -> pd.DataFrame:
        """Reports about places with no young person named (busy venues are busy)."""
        p = self.places
        wts = p["weight"].to_numpy()
        rate = wts / wts.sum() * 60.0 * self.f
        k = np.repeat(np.arange(len(p)), rng.poisson(rate))
        lat, lon = _jitter(rng, p["lat"].to_numpy()[k], p["lon"].to_numpy()[k], 0.06, 0.2)
        kinds = _pick(rng, VENUE_KINDS, k.size)
        hotel = np.isin(p["category"].to_numpy()[k], ["hotel", "licensed_premises"])
        kinds = np.where((kinds == "premises_of_concern") & ~hotel, "adult_of_concern", kinds)
        return pd.DataFrame({"t": self.clock.normalise(self._week_times(rng, np.full(k.size, w))),
                             "lat": lat, "lon": lon, "kind": kinds, "episode": -1, "thin": True,
                             "droppable": True, "site": -1})

    def _filler_reports(self, rng, w: int, n: int) -> pd.DataFrame:
        """Diffuse background across the city, kept out of the intervention area."""
        if n == 0:
            return pd.DataFrame()
        iv = self.intervention
        ilat, ilon = self.places["lat"].iat[iv.place], self.places["lon"].iat[iv.place]
        lat, lon = np.empty(0), np.empty(0)
        while lat.size < n:
            m = 2 * (n - lat.size) + 8
            clat, clon = _sample_around_centres(rng, m, 5.0)
            ulat = rng.uniform(-34.22, -33.50, m)
            ulon = rng.uniform(150.55, 151.32, m)
            uni = rng.random(m) < 0.3
            clat, clon = np.where(uni, ulat, clat), np.where(uni, ulon, clon)
            ok = shapely.contains_xy(self.poly, clon, clat) & (distance_km(clat, clon, ilat, ilon) > 1.5)
            lat, lon = np.concatenate([lat, clat[ok]]), np.concatenate([lon, clon[ok]])
        kinds = _pick(rng, (("sighting", .5), ("other", .2), ("adult_of_concern", .15),
                            ("vehicle_of_concern", .1), ("premises_of_concern", .05)), n)
        t = np.sort(rng.integers(0, WEEK // 60, n)) * 60 + w * WEEK
        return pd.DataFrame({"t": self.clock.normalise(t), "lat": lat[:n], "lon": lon[:n], "kind": kinds,
                             "episode": -1, "thin": False, "droppable": True, "site": -1})

    def _thin_intervention(self, rng, df: pd.DataFrame) -> pd.DataFrame:
        """Remove the treated share of events in treated cells during the intervention."""
        iv = self.intervention
        live = iv.active(df["t"].to_numpy() // WEEK) & df["thin"].to_numpy().astype(bool)
        near = live & (distance_km(df["lat"].to_numpy(), df["lon"].to_numpy(), self.places["lat"].iat[iv.place],
                                   self.places["lon"].iat[iv.place]) < 0.9)
        idx = np.flatnonzero(near)
        if idx.size == 0:
            return df
        cells = latlng_to_cells(df["lat"].to_numpy()[idx], df["lon"].to_numpy()[idx], RESOLUTION)
        gone = idx[np.isin(cells, iv.treated) & (rng.random(idx.size) < -iv.effect)]
        return df.drop(index=gone).reset_index(drop=True)

    def _format_reports(self, df: pd.DataFrame) -> pd.DataFrame:
        ep, ch = self.ep, self.children
        e = df["episode"].to_numpy().astype(np.int64)
        linked = e >= 0
        safe = np.where(linked, e, 0)
        ep_ids = _ids("SYN-E", self._episode_number(safe), self.ep_width, linked)
        persons = _ids("SYN-P", ep["child"].to_numpy()[safe] + 1, self.person_width, linked)
        grading = np.array(GRADINGS, dtype=object)[df["grading"].to_numpy()]
        grading[grading == ""] = None
        out = pd.DataFrame({
            "observed_at": self.clock.iso(df["t"].to_numpy()).to_pandas(),
            "lat": _round6(df["lat"].to_numpy()), "lon": _round6(df["lon"].to_numpy()),
            "source": df["source"].to_numpy(), "kind": df["kind"].to_numpy(),
            "episode_id": ep_ids, "person_ref": persons, "grading": grading,
        })
        return _with_contract_dtypes(out, "location_reports")

    def _episode_number(self, idx: np.ndarray) -> np.ndarray:
        """Episode row index -> 1-based id number (each bad copy sits right after its source row)."""
        return idx + 1 + np.searchsorted(np.sort(self._bad_episode_sources()), idx, side="left")

    def _bad_report_plan(self) -> list[tuple[str, str, object]]:
        rng = _rng(self.seed, S_BAD, 4)
        return [(reason, col, _bad_value(reason, col, rng)) for reason, k, col in BAD_REPORTS for _ in range(k)]

    # ---- observation (for honest ground truth)
    def _observe_init(self) -> None:
        W = self.weeks
        iv = self.intervention
        self._obs_cells = {s.id: s.core for s in self.sites}
        self._obs_cells[iv.id + ":treated"] = iv.treated
        self._obs_cells[iv.id + ":buffer"] = iv.buffer
        self._obs = {k: np.zeros(W, np.int64) for k in self._obs_cells}
        self._obs_persons = {s.id: {} for s in self.sites if s.kind == "convergence"}
        self._place_cells = self.places["cell"].to_numpy()
        self._place_counts = np.zeros((len(self.places), W), np.int64)

    def _observe(self, df: pd.DataFrame) -> None:
        """Count this week's reports in planted cells and in every place's cell."""
        cells = latlng_to_cells(df["lat"].to_numpy(), df["lon"].to_numpy(), RESOLUTION)
        wk = np.minimum(df["t"].to_numpy() // WEEK, self.weeks - 1)
        for key, target in self._obs_cells.items():
            hit = np.isin(cells, target)
            np.add.at(self._obs[key], wk[hit], 1)
        order = np.argsort(self._place_cells)
        pos = np.searchsorted(self._place_cells[order], cells)
        pos = np.minimum(pos, order.size - 1)
        hit = self._place_cells[order][pos] == cells
        np.add.at(self._place_counts, (order[pos[hit]], wk[hit]), 1)

    # ---- disruptions
    def disruptions_frame(self) -> pd.DataFrame:
        """Disruption activities at busy venues, plus the intervention's presence patrols (cached)."""
        if not hasattr(self, "_disruptions"):
            self._disruptions = self._build_disruptions()
        return self._disruptions.copy()

    def _build_disruptions(self) -> pd.DataFrame:
        rng = _rng(self.seed, S_DISRUPT)
        p, iv, W = self.places, self.intervention, self.weeks
        wts = p["weight"].to_numpy()
        n_w = rng.poisson(6.0 * self.f, W)
        wk = np.repeat(np.arange(W), n_w)
        k = rng.choice(len(p), size=wk.size, p=wts / wts.sum())
        kinds = _pick(rng, (("presence_patrol", .45), ("warning_notice", .1), ("premises_visit", .15),
                            ("outreach", .2), ("licensing_check", .05), ("other", .05)), wk.size)
        lat, lon = _jitter(rng, p["lat"].to_numpy()[k], p["lon"].to_numpy()[k], 0.05, 0.15)
        # intervention patrols: 7 a week, 10-15 minute visits, in the treated cells
        iv_weeks = np.arange(iv.start_week, iv.end_week + 1)
        pw = np.repeat(iv_weeks, 7)
        tlat, tlon = _cell_centres(iv.treated)
        j = rng.integers(0, iv.treated.size, pw.size)
        plat, plon = _jitter(rng, tlat[j], tlon[j], 0.03, 0.06)
        weeks = np.concatenate([wk, pw])
        start = self.clock.normalise(self._week_times(rng, weeks))
        minutes = np.concatenate([rng.integers(15, 121, wk.size), rng.integers(10, 16, pw.size)])
        end = self.clock.normalise(np.minimum(start + minutes * 60, self.horizon - 60))
        by_place = np.concatenate([rng.random(wk.size) < 0.5, np.zeros(pw.size, bool)])
        place_ids = np.concatenate([p["place_id"].to_numpy()[k], np.full(pw.size, None, object)])
        df = pd.DataFrame({
            "t": start, "kind": np.concatenate([kinds, np.full(pw.size, "presence_patrol", object)]),
            "start": self.clock.iso(start).to_pandas(), "end": self.clock.iso(end).to_pandas(),
            "lat": np.where(by_place, np.nan, _round6(np.concatenate([lat, plat]))),
            "lon": np.where(by_place, np.nan, _round6(np.concatenate([lon, plon]))),
            "place_id": np.where(by_place, place_ids, None),
            "intervention": np.concatenate([np.zeros(wk.size, bool), np.ones(pw.size, bool)]),
        }).sort_values("t", kind="stable").reset_index(drop=True)
        self._n_patrols = int(pw.size)
        ivmask = df.pop("intervention").to_numpy()
        df = _with_contract_dtypes(df.drop(columns=["t"]), "disruptions")
        bad = [(r, c, _bad_value(r, c, rng)) for r, k_, c in BAD_DISRUPTIONS for _ in range(k_)]
        df["_iv"] = ivmask
        ok = np.flatnonzero(df["lat"].notna().to_numpy() & ~ivmask)[:BAD_SOURCE_WINDOW]
        df = _insert_bad_rows(df, bad, rng.choice(ok, size=len(bad), replace=False))
        width = max(4, len(str(len(df))))
        df.insert(0, "activity_id", _ids("SYN-A", np.arange(1, len(df) + 1), width))
        self.bad_rows["disruptions"] = _bad_row_records(df, "activity_id")
        self._patrol_ids = df.loc[df["_iv"].fillna(False).astype(bool) & df["_bad"].isna(), "activity_id"].tolist()
        self.counts["disruptions_rows"] = len(df)
        return df.drop(columns=["_bad", "_iv"])

    # ---- static outputs
    def placements_frame(self) -> pd.DataFrame:
        """SYNTHETIC care placements (only so tests can check they are never shown)."""
        return self.placements.copy()

    def places_geojson(self) -> dict:
        """Places as a GeoJSON FeatureCollection of Points, marked SYNTHETIC."""
        p = self.places
        feats = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [float(lon), float(lat)]},
                  "properties": {"place_id": pid, "name": name, "category": cat}}
                 for pid, name, cat, lat, lon in zip(p["place_id"], p["name"], p["category"], p["lat"], p["lon"])]
        return {"type": "FeatureCollection", "name": "SYNTHETIC places (safeguard-hotspots synthetic city)",
                "synthetic": True, "features": feats}

    def boundary_geojson(self) -> dict:
        """The study-area polygon as a one-feature GeoJSON FeatureCollection, marked SYNTHETIC."""
        ring = [[float(x), float(y)] for x, y in BOUNDARY_LONLAT]
        return {"type": "FeatureCollection", "name": "SYNTHETIC study area (simplified Greater Sydney outline)",
                "synthetic": True,
                "features": [{"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
                              "properties": {"name": "SYNTHETIC study area", "synthetic": True}}]}

    # ---- ground truth
    def ground_truth(self) -> dict:
        """What was planted, where and when, plus observed counts and calibration figures."""
        if not hasattr(self, "_obs"):
            raise RuntimeError("consume iter_report_frames() before asking for the ground truth")
        self.disruptions_frame()
        W = self.weeks
        hexes = lambda cells: cells_to_hex(np.sort(np.asarray(cells, np.uint64)))  # noqa: E731
        p = self.places
        persons = lambda idx: [f"SYN-P{int(c) + 1:0{self.person_width}d}" for c in idx]  # noqa: E731
        sites = []
        for s in self.sites:
            entry = {
                "id": s.id, "kind": s.kind, "place_id": p["place_id"].iat[s.place],
                "place_name": p["name"].iat[s.place],
                "category": p["category"].iat[s.place], "cells": hexes(s.core), "halo_cells": hexes(s.halo),
                "onset_week": None if s.onset_week is None else week_label(s.onset_week),
                "end_week": None if s.end_week is None else week_label(s.end_week),
                "rate_per_week": _rate_summary(s), "expected_planted_weekly": [round(float(x), 3) for x in s.rate],
                "observed_reports_weekly": self._obs[s.id].tolist(),
            }
            if s.kind == "convergence":
                cohort = s.extra["cohort"]
                pl_refs = self.placements["placement_ref"].to_numpy()[self.children["placement"].to_numpy()[cohort]]
                entry["windows"] = [{"start_week": week_label(a), "end_week": week_label(b)}
                                    for a, b in s.extra["windows"]]
                entry["person_refs"] = persons(cohort)
                entry["placement_refs"] = sorted(set(pl_refs.tolist()))
                entry["rule"] = ">= 3 young people from >= 2 placements found or seen in the cells within 8 weeks"
                entry["rate_per_week"]["cohort_episodes_per_person_week_in_window"] = 0.9
            sites.append(entry)
        iv = self.intervention
        interventions = [{
            "id": iv.id, "place_id": p["place_id"].iat[iv.place], "place_name": p["name"].iat[iv.place],
            "category": p["category"].iat[iv.place], "cells": hexes(iv.treated), "buffer_cells": hexes(iv.buffer),
            "start_week": week_label(iv.start_week), "end_week": week_label(iv.end_week),
            "effect": iv.effect, "buffer_effect": iv.buffer_effect, "buffer_kind": "displacement",
            "outcome": "episodes found and location reports in the cells (all kinds and sources); the diffuse "
                       "background is kept out of the area, so the effect applies to every event there",
            "planted_rate_per_week": {"treated": round(iv.treated_rate, 3), "buffer": round(iv.buffer_rate, 3)},
            "patrols": {"kind": "presence_patrol", "per_week": 7, "minutes": "10-15", "count": self._n_patrols,
                        "activity_ids": self._patrol_ids if len(self._patrol_ids) <= 500 else None},
            "observed_reports_weekly": {"treated": self._obs[iv.id + ":treated"].tolist(),
                                        "buffer": self._obs[iv.id + ":buffer"].tolist()},
        }]
        extra = {}
        if self.repeat_home is not None:
            rh = self.repeat_home
            home = self.placements.iloc[rh["placement"]]
            extra["repeat_home"] = {
                "person_ref": persons([rh["child"]])[0], "placement_ref": home["placement_ref"],
                "placement_type": home["placement_type"],
                "cell": h3.latlng_to_cell(float(home["lat"]), float(home["lon"]), RESOLUTION),
                "episodes": rh["episodes"],
                "rule": "missing from, and found at, their own residential placement every second day: "
                        "a safeguarding referral, never a place to patrol in a shared output",
            }
        return {
            "synthetic": True,
            "name": "SYNTHETIC ground truth (safeguard-hotspots synthetic city)",
            "seed": self.seed, "resolution": RESOLUTION, "timezone": TIMEZONE,
            "weeks": [week_label(0), week_label(W - 1)], "n_weeks": W, "scale_reports": self.n_reports,
            "sites": sites, "background_hot": self._background_hot(), "interventions": interventions,
            "planted_bad_rows": {k: _count_reasons(v) for k, v in sorted(self.bad_rows.items())},
            "planted_bad_row_ids": self.bad_rows,
            "planted_duplicate_rows": {"location_reports": DUPLICATE_REPORTS},
            "planted_duplicate_ids": {"location_reports": self.duplicate_ids},
            "counts": self._counts(), "calibration": self.calibration(),
            "notes": [
                "Every id starts with SYN- and every file is SYNTHETIC: no real person, placement or venue.",
                "location_reports rows = counts.location_reports_valid + planted bad rows + planted duplicates.",
                "Sites' cells are the core res-9 cells (about 90 % of planted events); halo_cells are ring 1.",
                "lat_out_of_range and null_island rows are also outside the study area; "
                "the specific reason is the expected one.",
                "repeat_child_share is the share of young people with more than one episode (see calibration).",
            ],
            **extra,
        }

    def _background_hot(self) -> list[dict]:
        """Busy non-planted venues (observed), so scoring does not count them as false alarms."""
        p, W = self.places, self.weeks
        site_places = {s.place for s in self.sites} | {self.intervention.place}
        totals = self._place_counts.sum(axis=1)
        order = np.argsort(-totals, kind="stable")
        out = [{"place_id": p["place_id"].iat[i], "place_name": p["name"].iat[i], "category": p["category"].iat[i],
                "cells": cells_to_hex(np.array([p["cell"].iat[i]], np.uint64)),
                "observed_reports_per_week": round(float(totals[i]) / W, 3), "source": "busy venue"}
               for i in order if i not in site_places][:10]
        iv = self.intervention
        out.append({"place_id": p["place_id"].iat[iv.place], "place_name": p["name"].iat[iv.place],
                    "category": p["category"].iat[iv.place], "cells": cells_to_hex(np.sort(iv.treated)),
                    "observed_reports_per_week": round(float(self._obs[iv.id + ":treated"].sum()) / W, 3),
                    "source": "intervention site (planted; hot before and after the intervention)"})
        return out

    def _counts(self) -> dict:
        ep = self.ep
        bad = {k: sum(_count_reasons(v).values()) for k, v in self.bad_rows.items()}
        return {
            "episodes_valid": int(len(ep)), "episodes_rows": int(len(ep) + bad.get("episodes", 0)),
            "location_reports_valid": int(self.counts.get("location_reports_valid", 0)),
            "location_reports_rows": int(self.counts.get("location_reports_rows", 0)),
            "disruptions_rows": int(self.counts.get("disruptions_rows", 0)),
            "disruptions_valid": int(self.counts.get("disruptions_rows", 0) - bad.get("disruptions", 0)),
            "places": int(len(self.places)), "placements": int(len(self.placements)),
            "young_people_with_episodes": int(ep["child"].nunique()), "young_people_in_care": int(len(self.children)),
        }

    def calibration(self) -> dict:
        """Realism figures of the generated episodes against METHODS §10 targets."""
        ep, ch = self.ep, self.children
        counts = np.bincount(ep["child"].to_numpy(), minlength=len(ch))
        who = counts > 0
        years = ((ch["active_to"] - ch["active_from"]).to_numpy()[who] / (365.25 * DAY)).sum()
        srt = np.sort(counts[who])[::-1]
        top = max(1, int(round(0.06 * srt.size)))
        dur = ep["dur"].to_numpy()[ep["returned"].to_numpy()]
        found = (ep["has_found"] & ep["returned"]).to_numpy()
        d = distance_km(ep["last_lat"].to_numpy()[found], ep["last_lon"].to_numpy()[found],
                        ep["found_lat"].to_numpy()[found], ep["found_lon"].to_numpy()[found])
        mix = np.bincount(ep["found_cat"].to_numpy()[found], minlength=len(FOUND_MIX)) / max(1, found.sum())
        r4 = lambda x: round(float(x), 4)  # noqa: E731
        return {
            "episodes_per_young_person_year": {"value": r4(who.sum() and counts.sum() / years), "target": 6.0},
            "repeat_child_share": {"value": r4((counts[who] >= 2).mean()), "target": 0.65,
                                   "definition": "young people with >= 2 episodes / young people with >= 1"},
            "repeat_episode_share": {"value": r4(1 - who.sum() / counts.sum()),
                                     "definition": "episodes that are not the young person's first"},
            "top6pct_episode_share": {"value": r4(srt[:top].sum() / srt.sum()), "target": 0.33},
            "share_ending_within_2_days": {"value": r4((dur <= 2 * DAY).mean()), "target": 0.9},
            "found_distance_share_within_km": {str(k): r4((d <= k).mean()) for k in (1, 3, 8, 18)},
            "found_distance_target": {"1": 0.3, "3": 0.5, "8": 0.7, "18": 0.8},
            "found_location_mix": {m[0]: r4(x) for m, x in zip(FOUND_MIX, mix)},
        }


# --------------------------------------------------------------------------- helpers
def build_city(seed: int = 7, weeks: int = 104, scale: str | int = "small",
               plant_repeat_home: bool = False) -> SyntheticCity:
    """Build the SYNTHETIC city for ``seed``: validate, then simulate everything up front except reports.

    ``plant_repeat_home``: also plant one young person missing from, and found at, their own
    residential placement every second day (ground truth ``repeat_home``); off by default, so
    the committed sample stays byte-identical.
    """
    n = resolve_scale(scale)
    return SyntheticCity(seed, weeks, n, plant_repeat_home=bool(plant_repeat_home))


def _rate_summary(s: Site) -> dict:
    r = s.rate
    return {"first_week": round(float(r[0]), 3), "last_week": round(float(r[-1]), 3),
            "mean": round(float(r.mean()), 3), "max": round(float(r.max()), 3)}


def _largest_remainder(total: int, weights: np.ndarray) -> np.ndarray:
    """Integer split of ``total`` proportional to ``weights`` (deterministic)."""
    share = total * weights / weights.sum()
    base = np.floor(share).astype(np.int64)
    rest = total - base.sum()
    base[np.argsort(-(share - base), kind="stable")[:rest]] += 1
    return base


def _fill_sources(rng, df: pd.DataFrame) -> np.ndarray:
    """Source by kind: found -> police/carers; disclosures -> return interviews; else mixed."""
    kind = df["kind"].to_numpy()
    n = len(df)
    src = _pick(rng, VENUE_SOURCES, n)
    sight = _pick(rng, SIGHTING_SOURCES, n)
    found = _pick(rng, FOUND_SOURCES, n)
    src = np.where(kind == "sighting", sight, src)
    src = np.where(kind == "found", found, src)
    return np.where(kind == "rhi_disclosure", "return_interview", src)


_DTYPES = {
    "episodes": {"cse_concern": "boolean", "rhi_completed": "boolean", "age_years": "Int64",
                 "disability": "boolean", "first_nations": "boolean", "cald": "boolean", "lgbtqia": "boolean",
                 "last_seen_lat": "float64", "last_seen_lon": "float64",
                 "found_lat": "float64", "found_lon": "float64"},
    "location_reports": {"lat": "float64", "lon": "float64"},
    "disruptions": {"lat": "float64", "lon": "float64"},
}


def _with_contract_dtypes(df: pd.DataFrame, kind: str) -> pd.DataFrame:
    """Nullable dtypes per the contract; every other column is a string column."""
    types = _DTYPES[kind]
    for col in df.columns:
        df[col] = df[col].astype(types.get(col, "string"))
    return df


def _bad_value(reason: str, col: str, rng) -> object:
    """The corrupted value for one planted bad row."""
    if reason == "lat_out_of_range":
        return float(rng.choice([-95.123456, 91.5, -123.4]))
    if reason == "null_island":
        return 0.0
    if reason == "bad_timestamp":
        return str(rng.choice(["2025-13-45T25:61:00+10:00", "31/02/2025 25:61", "yesterday evening"]))
    if reason == "outside_study_area":
        return (float(rng.uniform(-33.95, -33.75)), float(rng.uniform(151.45, 151.6)))  # at sea, east of the coast
    if reason.startswith("unknown_enum"):
        return {"kind": "rumour", "source": "social_media", "placement_type": "hostel"}.get(col, "unknown")
    if reason == "age_out_of_range":
        return 19
    return None  # missing_required / returned_before_missing are computed from the row


def _ids(prefix: str, numbers: np.ndarray, width: int, valid: np.ndarray | None = None) -> pd.Series:
    """Zero-padded ids like SYN-R0000001, built as bytes (fast for millions of rows)."""
    numbers = np.asarray(numbers, np.int64)
    n = numbers.size
    head = prefix.encode()
    out = np.empty((n, len(head) + width), np.uint8)
    out[:, :len(head)] = np.frombuffer(head, np.uint8)
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    out[:, len(head):] = (numbers[:, None] // powers[None, :]) % 10 + 48
    mask = None if valid is None else pa.py_buffer(np.packbits(np.asarray(valid, bool), bitorder="little"))
    arr = pa.FixedSizeBinaryArray.from_buffers(pa.binary(out.shape[1]), n, [mask, pa.py_buffer(out)])
    return arr.cast(pa.string()).to_pandas()


def _insert_bad_rows(df: pd.DataFrame, plan: list[tuple[str, str, object]], src: np.ndarray) -> pd.DataFrame:
    """Copy rows ``src``, corrupt exactly one thing in each copy, insert each right after its source."""
    df = df.copy()
    df["_bad"] = pd.Series([None] * len(df), dtype="string")
    copies = []
    for (reason, col, value), i in zip(plan, src):
        row = df.iloc[[i]].copy()
        _corrupt(row, reason, col, value)
        row["_bad"] = reason
        row["_pos"] = i + 0.5
        copies.append(row)
    df["_pos"] = np.arange(len(df), dtype=float)
    out = pd.concat([df, *copies], ignore_index=True).sort_values("_pos", kind="stable")
    return out.drop(columns=["_pos"]).reset_index(drop=True)


def _corrupt(row: pd.DataFrame, reason: str, col: str, value: object) -> None:
    if reason == "null_island":
        a, b = col.split(",")
        row[a], row[b] = 0.0, 0.0
    elif reason == "outside_study_area":
        row["lat"], row["lon"] = round(value[0], 6), round(value[1], 6)
    elif reason == "returned_before_missing":
        text = row["missing_from"].iat[0]
        stamp = datetime.fromisoformat(text) - timedelta(hours=3)
        row["returned_at"] = stamp.isoformat()
    elif reason.startswith("missing_required"):
        row[col] = pd.NA
    else:
        row[col] = value


def _bad_row_records(df: pd.DataFrame, id_col: str) -> list[dict]:
    bad = df[df["_bad"].notna()]
    return [{"id": i, "reason": r} for i, r in zip(bad[id_col].tolist(), bad["_bad"].tolist())]


def _count_reasons(records: list[dict]) -> dict:
    out: dict[str, int] = {}
    for r in records:
        out[r["reason"]] = out.get(r["reason"], 0) + 1
    return dict(sorted(out.items()))


def _insert_duplicates(df: pd.DataFrame, rng, n: int, within: int) -> pd.DataFrame:
    """Repeat ``n`` valid rows (among the first ``within``) exactly, each right after the original."""
    ok = np.flatnonzero(df["_bad"].isna().to_numpy()[:within])
    src = np.sort(rng.choice(ok, size=n, replace=False))
    order = np.concatenate([np.arange(len(df)), src]).astype(float)
    order[len(df):] += 0.5
    out = pd.concat([df, df.iloc[src]], ignore_index=True)
    return out.iloc[np.argsort(order, kind="stable")].reset_index(drop=True)
