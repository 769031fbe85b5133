"""Patrol plan for next week: which cells, when, and how long to stay (METHODS §8).

Three steps, each a small function:

1. :func:`rank_cells` — score every cell from its emerging category, its recent
   excess (observed − expected), convergence and harm flags; keep the top N
   (the budget) and give them priority bands.
2. :func:`time_windows` — for each chosen cell, the top non-overlapping 2-hour
   windows of its smoothed hour-of-week profile of past events.
3. :func:`dose_guidance` — how long and how often to be present (Koper curve).

:func:`patrol_plan` assembles them into the commander's table and
:func:`plan_geojson` into a FeatureCollection for dispatch/CAD systems. The plan
holds places and times only: no counts of young people, no person or episode
references, no placement locations.

Hours of the week run from 0 = Monday 00:00–01:00 to 167 = Sunday 23:00–24:00
(ISO weekday order), in local time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping

import h3
import h3.api.numpy_int as h3n
import numpy as np
import pandas as pd

from analytics.errors import InvalidInputError
from analytics import grid
from analytics.grid import cell_boundary_lonlat, cells_to_hex
from analytics.timezones import DEFAULT_TIMEZONE

__all__ = [
    "PatrolParams",
    "rank_cells",
    "time_windows",
    "dose_guidance",
    "patrol_plan",
    "plan_geojson",
    "format_window",
    "SEVERITY_ORDER",
    "CATEGORIES",
    "CATEGORY_LABELS",
    "DEFAULT_CATEGORY_WEIGHTS",
    "PLAN_COLUMNS",
    "KIND_BY_CATEGORY",
    "plan_kind",
    "plan_cells",
    "CELLS_SEPARATOR",
]

#: Hot (and, mirrored, cold) emerging patterns, most to least urgent for presence next week:
#: cells hot now and getting hotter first, cells no longer hot last.
SEVERITY_ORDER = [
    "intensifying", "persistent", "new", "consecutive", "diminishing", "sporadic", "oscillating", "historical",
]
#: Every emerging category an input may carry.
CATEGORIES = [f"{s}_hot" for s in SEVERITY_ORDER] + [f"{s}_cold" for s in SEVERITY_ORDER] + ["no_pattern"]
#: Human labels ("Intensifying hot spot").
CATEGORY_LABELS: dict[str, str] = {
    **{f"{s}_hot": f"{s.capitalize()} hot spot" for s in SEVERITY_ORDER},
    **{f"{s}_cold": f"{s.capitalize()} cold spot" for s in SEVERITY_ORDER},
    "no_pattern": "No emerging pattern",
}
#: Category weight C(category) in [0, 1]: hot categories by severity, cold and no_pattern 0.
DEFAULT_CATEGORY_WEIGHTS: dict[str, float] = {
    **dict(zip([f"{s}_hot" for s in SEVERITY_ORDER], [1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.2])),
    **{f"{s}_cold": 0.0 for s in SEVERITY_ORDER},
    "no_pattern": 0.0,
}
#: Columns of :func:`patrol_plan`, in order (the plan schema shared by the CSV, the GeoJSON and the
#: patrol sheet; ``cells`` — the entry's H3 ids joined with ``;`` — comes last, for systems).
PLAN_COLUMNS = ["rank", "priority", "kind", "area_name", "places", "lat", "lon", "windows", "time_zone", "dose",
                "expected", "expected_low", "expected_high", "reason", "cells"]
#: Separator of the H3 ids in a plan entry's ``cells``.
CELLS_SEPARATOR = ";"
#: Kind of a plan entry from its emerging category: long-term high (chronic), a recent rise
#: (emerging), or both (intensifying: hot in most weeks and rising). Cold spots and no pattern,
#: planned only for recent excess, convergence or harm (all recent signals), are emerging.
KIND_BY_CATEGORY: dict[str, str] = {
    **{f"{s}_hot": k for s, k in (("intensifying", "both"), ("persistent", "chronic"), ("diminishing", "chronic"),
                                  ("historical", "chronic"), ("new", "emerging"), ("consecutive", "emerging"),
                                  ("sporadic", "emerging"), ("oscillating", "emerging"))},
}

DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
HOURS_PER_WEEK = 168
_TIME_COLUMNS = ("local_time", "time", "timestamp", "observed_at")
_HOW_COLUMNS = ("hour_of_week", "local_hour_of_week")


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _is_num(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


@dataclass(frozen=True)
class PatrolParams:
    """Validated parameters of the patrol plan.

    Parameters
    ----------
    n_cells : int, default 10
        Budget: cells in the plan.
    window_hours : int, default 2
        Length of a recommended presence window (1–24 hours).
    n_windows : int, default 2
        Windows per cell (non-overlapping); ``n_windows × window_hours ≤ 168``.
    visit_minutes : (int, int), default (10, 15)
        Length of one visit, low–high (Koper 1995).
    revisit_minutes : int, default 120
        Roughly how often to return within a window.
    w_category, w_excess, w_convergence, w_harm : float, default 1.0
        Weights of the four score terms (≥ 0, not all 0); see :func:`rank_cells`.
    n_bands : int, default 3
        Priority bands (1 = highest).
    smoothing_hours : float, default 1.0
        Standard deviation (hours) of the circular Gaussian kernel that smooths
        each hour-of-week profile; 0 = no smoothing.
    category_weights : mapping, default :data:`DEFAULT_CATEGORY_WEIGHTS`
        Weight C(category) in [0, 1] per category; categories left out weigh 0.
        Stored as a sorted tuple of pairs so the object stays hashable.
    """

    n_cells: int = 10
    window_hours: int = 2
    n_windows: int = 2
    visit_minutes: tuple[int, int] = (10, 15)
    revisit_minutes: int = 120
    w_category: float = 1.0
    w_excess: float = 1.0
    w_convergence: float = 1.0
    w_harm: float = 1.0
    n_bands: int = 3
    smoothing_hours: float = 1.0
    category_weights: tuple[tuple[str, float], ...] | Mapping[str, float] = field(
        default_factory=lambda: tuple(sorted(DEFAULT_CATEGORY_WEIGHTS.items()))
    )

    def __post_init__(self) -> None:
        problems: list[str] = []
        for name, low, high in (("n_cells", 1, 10_000), ("window_hours", 1, 24), ("n_windows", 1, 168),
                                ("revisit_minutes", 1, 24 * 60), ("n_bands", 1, 10)):
            v = getattr(self, name)
            if not _is_int(v) or not low <= v <= high:
                problems.append(f"{name} must be an integer from {low} to {high}; received {v!r}")
        if _is_int(self.window_hours) and _is_int(self.n_windows) and self.window_hours * self.n_windows > HOURS_PER_WEEK:
            problems.append(
                f"n_windows × window_hours must be ≤ 168; received {self.n_windows} × {self.window_hours}"
            )
        vm = self.visit_minutes
        if (not isinstance(vm, (tuple, list)) or len(vm) != 2 or not all(_is_int(x) for x in vm)
                or not 1 <= vm[0] <= vm[1] <= 240):
            problems.append(f"visit_minutes must be two integers 1 ≤ low ≤ high ≤ 240; received {vm!r}")
        weights = [self.w_category, self.w_excess, self.w_convergence, self.w_harm]
        if not all(_is_num(w) and math.isfinite(w) and w >= 0 for w in weights):
            problems.append(f"weights must be finite numbers ≥ 0; received {weights}")
        elif sum(weights) == 0:
            problems.append("at least one of w_category, w_excess, w_convergence, w_harm must be > 0")
        if not _is_num(self.smoothing_hours) or not math.isfinite(self.smoothing_hours) or not 0 <= self.smoothing_hours <= 24:
            problems.append(f"smoothing_hours must be a number from 0 to 24; received {self.smoothing_hours!r}")
        cw = self.category_weights
        items = list(cw.items()) if isinstance(cw, Mapping) else list(cw) if isinstance(cw, (tuple, list)) else None
        if items is None or not all(isinstance(p, (tuple, list)) and len(p) == 2 for p in items):
            problems.append("category_weights must be a mapping {category: weight}")
        else:
            unknown = sorted(str(k) for k, _ in items if k not in CATEGORIES)
            if unknown:
                problems.append(f"category_weights has unknown categories {unknown}; allowed: {CATEGORIES}")
            if not all(_is_num(w) and 0 <= w <= 1 for _, w in items):
                problems.append("category_weights values must be numbers in [0, 1]")
            object.__setattr__(self, "category_weights", tuple(sorted((str(k), float(w)) for k, w in items)))
        if isinstance(vm, list) and len(vm) == 2:
            object.__setattr__(self, "visit_minutes", tuple(vm))
        if problems:
            raise InvalidInputError("Invalid patrol parameters:\n" + "\n".join(f"  - {p}" for p in problems))

    @property
    def category_weight_map(self) -> dict[str, float]:
        """``category_weights`` as a dict (missing categories weigh 0)."""
        return {c: 0.0 for c in CATEGORIES} | dict(self.category_weights)


# --------------------------------------------------------------------------- 1. ranking
def _nonneg(df: pd.DataFrame, col: str) -> np.ndarray:
    if col not in df.columns:
        return np.zeros(len(df))
    v = pd.to_numeric(df[col], errors="coerce").fillna(0.0).to_numpy(dtype=np.float64)
    if (v < 0).any():
        raise InvalidInputError(f"hotspots.{col} must be ≥ 0; found {v.min()!r}.")
    return v


def _max_scaled(v: np.ndarray) -> np.ndarray:
    top = float(v.max()) if v.size else 0.0
    return v / top if top > 0 else np.zeros_like(v)


def rank_cells(hotspots: pd.DataFrame, params: PatrolParams | None = None, *, all_cells: bool = False) -> pd.DataFrame:
    """Score and rank cells for next week's presence; keep the top ``n_cells``.

    Parameters
    ----------
    hotspots : pandas.DataFrame
        One row per cell: ``cell`` (uint64 or hex), ``category``, ``count``
        (observed this week), ``expected``; optional ``z`` (tie-break),
        ``convergence_score`` (≥ 0) and ``harm_events`` (events flagged
        ``cse_concern`` or high risk, ≥ 0).
    params : PatrolParams, optional
    all_cells : bool, default False
        Return every cell ranked (``selected`` marks the plan) instead of the plan only.

    Returns
    -------
    pandas.DataFrame
        ``rank`` (1 = first), ``priority`` (1..n_bands, Int64; NA when not
        selected), ``cell`` (uint64), ``category``, ``score``, the four terms
        ``s_category``, ``s_excess``, ``s_convergence``, ``s_harm``, and
        ``selected``. No counts are returned.

    Notes
    -----
    .. math::

        S_i = w_c\\,C(\\text{cat}_i) + w_e \\frac{E_i}{\\max_j E_j} + w_v \\frac{V_i}{\\max_j V_j}
              + w_h \\frac{H_i}{\\max_j H_j}

    with :math:`E_i = \\max(O_i - \\hat E_i, 0)` the recent excess of observed
    over expected, :math:`V_i` the convergence score and :math:`H_i` the harm
    events; a term whose maximum is 0 contributes 0, so every term lies in
    [0, 1] and the weights say how much each matters. Cells with
    :math:`S_i > 0` are ranked by score, then Gi* z (higher first), then cell
    id; the first ``n_cells`` form the plan. Priority band of rank r among the
    n selected: :math:`\\min(\\lceil r B / n \\rceil, r)` (B = ``n_bands``), so
    the top third is band 1 when B = 3 (10 cells: bands of 3, 3 and 4) and
    rank 1 is always band 1.

    Examples
    --------
    >>> hs = pd.DataFrame({"cell": [1, 2, 3], "category": ["new_hot", "no_pattern", "persistent_hot"],
    ...                    "count": [4, 6, 2], "expected": [1.0, 1.0, 2.0]})
    >>> rank_cells(hs, PatrolParams(n_cells=3))[["rank", "cell", "score", "priority"]].values.tolist()
    [[1, 1, 1.4, 1], [2, 2, 1.0, 2], [3, 3, 0.9, 3]]
    """
    params = params or PatrolParams()
    if not isinstance(hotspots, pd.DataFrame):
        raise InvalidInputError("hotspots must be a pandas DataFrame.")
    missing = {"cell", "category", "count", "expected"} - set(hotspots.columns)
    if missing:
        raise InvalidInputError(
            f"hotspots lacks column(s) {sorted(missing)}; rank_cells needs cell, category, count, expected "
            "(optional z, convergence_score, harm_events)."
        )
    bad = sorted(set(hotspots["category"].astype(str)) - set(CATEGORIES))
    if bad:
        raise InvalidInputError(f"hotspots has unknown category value(s) {bad[:5]}; allowed: {CATEGORIES}.")
    cells = grid.cells_from_any(hotspots["cell"], "hotspots")
    if len(np.unique(cells)) != len(cells):
        raise InvalidInputError("hotspots must have one row per cell (duplicate cells found).")
    observed = pd.to_numeric(hotspots["count"], errors="coerce").fillna(0.0).to_numpy(dtype=np.float64)
    expected = pd.to_numeric(hotspots["expected"], errors="coerce").fillna(0.0).to_numpy(dtype=np.float64)
    weights = params.category_weight_map
    s_cat = hotspots["category"].astype(str).map(weights).to_numpy(dtype=np.float64)
    s_exc = _max_scaled(np.maximum(observed - expected, 0.0))
    s_conv = _max_scaled(_nonneg(hotspots, "convergence_score"))
    s_harm = _max_scaled(_nonneg(hotspots, "harm_events"))
    score = (params.w_category * s_cat + params.w_excess * s_exc
             + params.w_convergence * s_conv + params.w_harm * s_harm)
    z = pd.to_numeric(hotspots["z"], errors="coerce").to_numpy(dtype=np.float64) if "z" in hotspots.columns \
        else np.zeros(len(cells))
    out = pd.DataFrame({
        "cell": cells, "category": hotspots["category"].astype(str).to_numpy(),
        "score": np.round(score, 12), "s_category": s_cat, "s_excess": s_exc, "s_convergence": s_conv, "s_harm": s_harm,
        "_z": np.where(np.isnan(z), -np.inf, z),
    })
    out = out.sort_values(["score", "_z", "cell"], ascending=[False, False, True], kind="mergesort")
    out = out.drop(columns="_z").reset_index(drop=True)
    out.insert(0, "rank", np.arange(1, len(out) + 1, dtype=np.int64))
    out["selected"] = (out["score"] > 0) & (out["rank"] <= params.n_cells)
    n_sel = int(out["selected"].sum())
    r = out["rank"].to_numpy()
    band = np.minimum(np.ceil(r * params.n_bands / max(n_sel, 1)), r).astype(np.int64)
    out.insert(1, "priority", pd.array(np.where(out["selected"], band, 0), dtype="Int64"))
    out.loc[~out["selected"], "priority"] = pd.NA
    if not all_cells:
        out = out[out["selected"]].reset_index(drop=True)
    return out


# --------------------------------------------------------------------------- 2. time windows
def format_window(start_hour_of_week: int, hours: int) -> str:
    """Text of a window: ``"Fri 22:00–24:00"``, ``"Sun 23:00–Mon 01:00"``, ``"Tue 09:00–11:00"``."""
    h = int(start_hour_of_week) % HOURS_PER_WEEK
    day, hh = divmod(h, 24)
    end = h + int(hours)
    eday, ehh = divmod(end, 24)
    if ehh == 0 and eday == day + 1:
        return f"{DAYS[day]} {hh:02d}:00–24:00"
    if eday == day:
        return f"{DAYS[day]} {hh:02d}:00–{ehh:02d}:00"
    return f"{DAYS[day]} {hh:02d}:00–{DAYS[eday % 7]} {ehh:02d}:00"


def hour_of_week(event_times: pd.DataFrame, tz: str) -> np.ndarray:
    """Hour of the week (0 = Monday 00:00 local time in ``tz``) of each event time."""
    for col in _HOW_COLUMNS:
        if col in event_times.columns:
            how = pd.to_numeric(event_times[col], errors="coerce")
            if how.isna().any() or ((how < 0) | (how >= HOURS_PER_WEEK) | (how != np.floor(how))).any():
                raise InvalidInputError(f"event_times.{col} must hold integers 0..167 (0 = Monday 00:00).")
            return how.to_numpy(dtype=np.int64)
    for col in _TIME_COLUMNS:
        if col in event_times.columns:
            t = event_times[col]
            if not pd.api.types.is_datetime64_any_dtype(t):
                try:
                    t = pd.to_datetime(t, utc=None)
                except (ValueError, TypeError) as exc:
                    raise InvalidInputError(f"event_times.{col} could not be read as timestamps ({exc}).") from exc
            if getattr(t.dt, "tz", None) is not None:
                t = t.dt.tz_convert(tz)
            if t.isna().any():
                raise InvalidInputError(f"event_times.{col} has missing timestamps.")
            return (t.dt.day_of_week * 24 + t.dt.hour).to_numpy(dtype=np.int64)
    raise InvalidInputError(
        "event_times needs an hour-of-week column (hour_of_week, 0 = Monday 00:00) or a timestamp column "
        f"(one of {list(_TIME_COLUMNS)})."
    )


def circular_smooth(profiles: np.ndarray, sigma: float) -> np.ndarray:
    """Circular Gaussian smoothing along the last axis (168 hours), truncated at 3σ."""
    if sigma <= 0:
        return profiles.astype(np.float64)
    half = max(1, int(math.ceil(3 * sigma)))
    offsets = np.arange(-half, half + 1)
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    kernel /= kernel.sum()
    out = np.zeros(profiles.shape, dtype=np.float64)
    for off, w in zip(offsets, kernel):
        out += w * np.roll(profiles, off, axis=-1)
    return out


def top_windows(profile: np.ndarray, hours: int, n: int) -> list[int]:
    """Start hours of the ``n`` busiest non-overlapping ``hours``-long windows of a weekly profile."""
    sums = np.zeros(HOURS_PER_WEEK)
    for j in range(hours):
        sums += np.roll(profile, -j)
    sums = np.round(sums, 12)  # ties decided by time, not by floating-point noise
    order = np.argsort(-sums, kind="mergesort")  # ties: earliest in the week first
    chosen: list[int] = []
    for h in order:
        if sums[h] <= 0 or len(chosen) == n:
            break
        if all(min((h - c) % HOURS_PER_WEEK, (c - h) % HOURS_PER_WEEK) >= hours for c in chosen):
            chosen.append(int(h))
    return chosen


def time_windows(
    event_times: pd.DataFrame,
    cells,
    params: PatrolParams | None = None,
    smoothing: float | None = None,
    *,
    tz: str = DEFAULT_TIMEZONE,
) -> pd.DataFrame:
    """Top non-overlapping presence windows per cell from its hour-of-week profile.

    Parameters
    ----------
    event_times : pandas.DataFrame
        Past events (history): ``cell`` and either ``hour_of_week`` /
        ``local_hour_of_week`` (0..167, 0 = Monday 00:00 local) or a timestamp
        column (``local_time``, ``time``, ``timestamp`` or ``observed_at``;
        tz-aware values are converted to ``tz``, naive ones are taken as local).
    cells : array_like
        Cells to plan (uint64 or hex).
    params : PatrolParams, optional
        ``window_hours`` and ``n_windows`` are used.
    smoothing : float, optional
        Gaussian σ in hours (circular, so Sunday night runs into Monday
        morning); default ``params.smoothing_hours``.
    tz : str
        Local time zone for tz-aware timestamps.

    Returns
    -------
    pandas.DataFrame
        ``cell`` (uint64), ``windows`` (list of str, best first, e.g.
        ``["Fri 22:00–24:00", "Sat 21:00–23:00"]``), ``window_starts`` (list of
        hour-of-week ints) and ``profile`` (``"cell"``, or ``"study_area"``
        when the cell had no past events and the pooled profile of all events
        was used, or ``"none"`` when there are no events at all).

    Notes
    -----
    Profile :math:`P_i(h)` = events of cell i in hour-of-week h, smoothed by a
    circular Gaussian kernel; window score :math:`W_i(h) = \\sum_{j<L} P_i(h+j)`
    (mod 168) for L = ``window_hours``. Windows are chosen greedily by score
    (ties: earliest in the week), skipping any that overlap one already chosen.

    Examples
    --------
    >>> ev = pd.DataFrame({"cell": [7, 7, 7], "hour_of_week": [4 * 24 + 22, 4 * 24 + 23, 4 * 24 + 22]})
    >>> time_windows(ev, [7], PatrolParams(n_windows=1))["windows"].tolist()
    [['Fri 22:00–24:00']]
    """
    params = params or PatrolParams()
    sigma = params.smoothing_hours if smoothing is None else smoothing
    if not _is_num(sigma) or not math.isfinite(sigma) or not 0 <= sigma <= 24:
        raise InvalidInputError(f"smoothing must be a number of hours from 0 to 24; received {smoothing!r}.")
    if not isinstance(event_times, pd.DataFrame) or "cell" not in event_times.columns:
        raise InvalidInputError("event_times must be a DataFrame with a 'cell' column and hour-of-week or timestamps.")
    want = grid.cells_from_any(cells, "cells")
    if len(event_times):
        ev_cells = grid.cells_from_any(event_times["cell"], "event_times")
        how = hour_of_week(event_times, tz)
    else:
        ev_cells, how = np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.int64)
    uniq, inv = np.unique(want, return_inverse=True)
    pos = np.searchsorted(uniq, ev_cells)
    pos = np.clip(pos, 0, max(len(uniq) - 1, 0))
    hit = (uniq[pos] == ev_cells) if len(uniq) else np.zeros(len(ev_cells), dtype=bool)
    counts = np.zeros((len(uniq), HOURS_PER_WEEK))
    np.add.at(counts, (pos[hit], how[hit]), 1.0)
    pooled = np.bincount(how, minlength=HOURS_PER_WEEK).astype(np.float64)
    smooth = circular_smooth(counts, float(sigma))
    pooled_smooth = circular_smooth(pooled, float(sigma))
    rows = []
    for i in inv:
        if counts[i].sum() > 0:
            prof, source = smooth[i], "cell"
        elif pooled.sum() > 0:
            prof, source = pooled_smooth, "study_area"
        else:
            prof, source = None, "none"
        starts = top_windows(prof, params.window_hours, params.n_windows) if prof is not None else []
        rows.append((starts, [format_window(s, params.window_hours) for s in starts], source))
    return pd.DataFrame({
        "cell": want,
        "windows": [r[1] for r in rows],
        "window_starts": [r[0] for r in rows],
        "profile": [r[2] for r in rows],
    })


# --------------------------------------------------------------------------- 3. dose
def _duration(minutes: int) -> str:
    if minutes % 60 == 0:
        h = minutes // 60
        return "hour" if h == 1 else f"{h} hours"
    return f"{minutes} minutes"


def dose_guidance(params: PatrolParams | None = None) -> str:
    """Presence dose in plain words (Koper curve).

    Examples
    --------
    >>> dose_guidance()
    'Visits of 10–15 minutes at irregular times, roughly every 2 hours within each window; vary arrival times and routes.'

    Notes
    -----
    Koper (1995), *Just enough police presence: reducing crime and disorderly
    behavior by optimizing patrol time in crime hot spots*, Justice Quarterly
    12(4): the residual deterrence after a stop grows with its length up to
    about 14–15 minutes and falls off beyond; short visits repeated at
    unpredictable times keep the effect. Here presence is protective: it is
    meant to make a place safer for young people.
    """
    params = params or PatrolParams()
    lo, hi = params.visit_minutes
    visit = f"{lo} minutes" if lo == hi else f"{lo}–{hi} minutes"
    return (f"Visits of {visit} at irregular times, roughly every {_duration(params.revisit_minutes)} "
            "within each window; vary arrival times and routes.")


# --------------------------------------------------------------------------- plan
def plan_kind(category: str) -> str:
    """``chronic``, ``emerging`` or ``both`` for an emerging category (see :data:`KIND_BY_CATEGORY`).

    Examples
    --------
    >>> [plan_kind(c) for c in ("persistent_hot", "new_hot", "intensifying_hot", "no_pattern")]
    ['chronic', 'emerging', 'both', 'emerging']
    """
    return KIND_BY_CATEGORY.get(str(category), "emerging")


def plan_cells(plan: pd.DataFrame) -> list[list[str]]:
    """The H3 ids (hex) of each plan entry, from ``cells`` (``;``-joined) or a legacy ``cell`` column."""
    if "cells" in plan.columns:
        col = plan["cells"]
    elif "cell" in plan.columns:
        col = plan["cell"]
    else:
        raise InvalidInputError("plan lacks column 'cells' (the entry's H3 ids joined with ';').")
    out = []
    for v in col.tolist():
        if isinstance(v, (int, np.integer)):
            out.append([h3.int_to_str(int(v))])
        elif isinstance(v, (list, tuple, np.ndarray)):
            out.append([h3.int_to_str(int(c)) if isinstance(c, (int, np.integer)) else str(c).strip() for c in v])
        else:
            text = "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
            out.append([c.strip() for c in text.split(CELLS_SEPARATOR) if c.strip()])
    return out


def _reason(row) -> str:
    parts = [CATEGORY_LABELS.get(row.category, row.category)]
    if row.s_excess > 0:
        parts.append("more activity than expected recently")
    if row.s_convergence > 0:
        parts.append("young people from different placements seen here")
    if row.s_harm > 0:
        parts.append("reports with exploitation concern or high risk")
    return "; ".join(parts)


def patrol_plan(
    hotspots: pd.DataFrame,
    event_times: pd.DataFrame | None = None,
    places: Mapping[int, str] | pd.DataFrame | None = None,
    params: PatrolParams | None = None,
    *,
    tz: str = DEFAULT_TIMEZONE,
) -> pd.DataFrame:
    """The commander's plan: top cells, priority, kind, nearby places, windows, dose, reason.

    Parameters
    ----------
    hotspots : pandas.DataFrame
        As for :func:`rank_cells`; a ``places`` text column is used when
        ``places`` is not given.
    event_times : pandas.DataFrame, optional
        As for :func:`time_windows` (history of events). Without it the
        windows are empty.
    places : dict {cell: text} or nearest_places DataFrame, optional
        Output of :func:`analytics.places.places_text` (or of
        :func:`analytics.places.nearest_places`, converted here).
    params : PatrolParams, optional
    tz : str

    Returns
    -------
    pandas.DataFrame
        Columns :data:`PLAN_COLUMNS`: ``rank``, ``priority``, ``kind`` (chronic,
        emerging or both, from the category), ``area_name`` (empty: no areas
        yet), ``places``, ``lat``/``lon`` (the entry's centre — its cell's
        centre — 5 dp), ``windows`` (text, windows joined by ``"; "``),
        ``time_zone`` (of the windows), ``dose``, ``expected``,
        ``expected_low``, ``expected_high`` (empty until a forecast is given),
        ``reason`` (category and flags, no counts) and ``cells`` (the entry's
        H3 ids joined with ``;``). Each entry is one cell for now. Nothing else
        from the inputs is carried over.
    """
    params = params or PatrolParams()
    ranked = rank_cells(hotspots, params)
    cells = ranked["cell"].to_numpy(dtype=np.uint64)
    if isinstance(places, pd.DataFrame):
        from analytics.places import places_text

        places = places_text(places)
    if places is None and "places" in hotspots.columns:
        src = dict(zip(grid.cells_from_any(hotspots["cell"], "hotspots").tolist(), hotspots["places"]))
        places = {c: ("" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)) for c, v in src.items()}
    places = places or {}
    if event_times is not None:
        tw = time_windows(event_times, cells, params, tz=tz)
        windows = ["; ".join(w) for w in tw["windows"]]
    else:
        windows = [""] * len(cells)
    lat = np.empty(len(cells))
    lon = np.empty(len(cells))
    hexes = cells_to_hex(cells)
    for i, c in enumerate(np.asarray(cells, dtype=np.uint64)):
        lat[i], lon[i] = h3n.cell_to_latlng(int(c))
    plan = pd.DataFrame({
        "rank": ranked["rank"].to_numpy(dtype=np.int64),
        "priority": ranked["priority"].astype(np.int64).to_numpy(),
        "kind": [plan_kind(c) for c in ranked["category"]],
        "area_name": "",  # from ingested areas when present (not yet)
        "places": [places.get(int(c), "") for c in cells],
        "lat": np.round(lat, 5),
        "lon": np.round(lon, 5),
        "windows": windows,
        "time_zone": tz,  # the windows' (and the weeks') local time
        "dose": dose_guidance(params),
        "expected": np.full(len(cells), np.nan),  # next week's forecast, when one is given
        "expected_low": np.full(len(cells), np.nan),
        "expected_high": np.full(len(cells), np.nan),
        "reason": [_reason(r) for r in ranked.itertuples()],
        "cells": hexes,
    })
    return plan[PLAN_COLUMNS]


def plan_geojson(plan: pd.DataFrame) -> dict:
    """The plan as a GeoJSON FeatureCollection of its entries' polygons (for dispatch/CAD systems).

    Each feature is the outline of the entry's cells (one cell: a closed 7-point Polygon ring;
    lon, lat; 5 dp) with the plan's columns (:data:`PLAN_COLUMNS`) as properties, missing
    numbers as ``null``; ``id`` is the entry's ``cells`` text.
    """
    missing = set(PLAN_COLUMNS) - set(getattr(plan, "columns", []))
    if missing:
        raise InvalidInputError(f"plan lacks column(s) {sorted(missing)}; build it with patrol_plan.")
    feats = []
    for rec, hexes in zip(plan[PLAN_COLUMNS].to_dict("records"), plan_cells(plan)):
        bad = [hx for hx in hexes if not h3.is_valid_cell(hx)]
        if bad or not hexes:
            raise InvalidInputError(f"plan entry {rec['rank']!r}: cell {(bad or [''])[0]!r} is not a valid H3 cell.")
        if len(hexes) == 1:
            geometry = {"type": "Polygon", "coordinates": [
                [[round(x, 5), round(y, 5)] for x, y in cell_boundary_lonlat(h3.str_to_int(hexes[0]))]]}
        else:
            gi = h3.cells_to_h3shape(hexes).__geo_interface__
            geometry = {"type": gi["type"], "coordinates": _round5(gi["coordinates"])}
        props = {}
        for k, v in rec.items():
            if isinstance(v, (np.integer,)):
                v = int(v)
            elif isinstance(v, (float, np.floating)):
                v = float(v) if math.isfinite(float(v)) else None
            elif isinstance(v, (list, tuple, np.ndarray)):
                v = "; ".join(map(str, v))
            props[k] = v
        feats.append({"type": "Feature", "id": CELLS_SEPARATOR.join(hexes), "properties": props,
                      "geometry": geometry})
    return {"type": "FeatureCollection", "features": feats}


def _round5(coords):
    if coords and isinstance(coords[0], (int, float)):
        return [round(float(coords[0]), 5), round(float(coords[1]), 5)]
    return [_round5(c) for c in coords]
