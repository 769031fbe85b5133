"""SYNTHETIC city: constants, scales and the random streams (every rate is per week at scale small)."""

from __future__ import annotations

from datetime import date

import numpy as np

from analytics.contracts import (DISRUPTION_KINDS, DISRUPTIONS, EPISODES, PLACE_CATEGORIES,  # noqa: F401
                                 PLACEMENT_TYPES, REPORT_KINDS, REPORT_SOURCES, REPORTS, RISK_LEVELS)
from analytics.contracts import GENDERS as CONTRACT_GENDERS
from analytics.errors import InvalidInputError


# --------------------------------------------------------------------------- constants
TIMEZONE = "Australia/Sydney"  # the city's own zone (it is Sydney), not the product default
FIRST_MONDAY = date(2024, 7, 1)  # ISO 2024-W27
RESOLUTION = 9
MIN_WEEKS, MAX_WEEKS = 26, 104  # 104 weeks ends 2026-W26: never in the future
SCALES = {"small": 25_000, "medium": 1_000_000, "large": 10_000_000}
BASE_REPORTS = SCALES["small"]  # every rate below is "per week at scale small"
MIN_REPORTS, MAX_REPORTS = 5_000, 50_000_000
HOUR, DAY, WEEK = 3_600, 86_400, 604_800
KM_PER_DEG_LAT = 110.574

# The vocabularies are the input contract's (analytics.contracts), in its order: the generator
# draws by index into these tuples, so their order is part of the committed sample.
SOURCES = REPORT_SOURCES
#: Genders the generator draws (by index, with fixed shares): the contract's, less "other".
GENDERS = tuple(g for g in CONTRACT_GENDERS if g != "other")
GRADINGS = ("", "A1", "B2", "B3", "C3", "C4", "D4", "E5")

#: Columns of each written file, in file order: the contract's columns (disruptions are given by
#: lat/lon or place_id, never h3_cell; the placements file puts its type second; reports carry no
#: optional ``reported_at``: every SYNTHETIC report is known when it happens).
COLUMNS = {
    "episodes": EPISODES.columns,
    "location_reports": tuple(c for c in REPORTS.columns if c != "reported_at"),
    "disruptions": tuple(c for c in DISRUPTIONS.columns if c != "h3_cell"),
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
