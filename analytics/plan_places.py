"""Plan entries are places, not cells: group forecast cells into patrollable places (issue 14).

A forecast scores every cell (expected events next week). Ten top cells are often fewer than
ten places: a busy venue spans several adjacent res-9 cells, so a cell-level top ten can be
one venue seven times over. :func:`group_places` turns per-cell scores into up to ``n``
entries, each a small connected set of cells (at most ``max_cells``, 7 = a cell and its ring)
that a patrol can cover in one visit, so ten entries are ten distinct places.

Cells are H3 cells as ``uint64`` integers (hex strings are accepted on input and converted);
the output holds ``uint64`` cells. :func:`place_plan` describes each entry (kind, reason, interval,
windows). Pure computation (numpy, pandas, scipy, h3).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Mapping

import h3
import h3.api.numpy_int as h3n
import numpy as np
import pandas as pd
from scipy.stats import binom

from analytics import grid
from analytics.errors import InvalidInputError
from analytics.forecast import poisson_interval
from analytics.timezones import DEFAULT_TIMEZONE
from analytics.patrol import (CATEGORY_LABELS, CELLS_SEPARATOR, HOURS_PER_WEEK, PLAN_COLUMNS, PatrolParams,
                              circular_smooth, hour_of_week, top_windows, dose_guidance, format_window)

__all__ = ["group_places", "place_plan", "shrunk_profile", "PlaceRules", "PLACE_COLUMNS", "MAX_PLACE_CELLS",
           "NO_EMERGING_NOTE", "CHRONIC_CATEGORIES", "RISING_CATEGORIES", "JOIN_SHARE"]

#: Most cells in one plan entry: a seed cell and its ring (about 0.7 km² at resolution 9).
MAX_PLACE_CELLS = 7
#: Default share of an entry's seed score a cell needs to join the entry.
JOIN_SHARE = 0.5
#: Columns of :func:`group_places`' result, in order.
PLACE_COLUMNS = ["entry", "seed", "cells", "n_cells", "expected", "seed_expected"]


def _scores(scores) -> tuple[np.ndarray, np.ndarray]:
    """(cells uint64, values float) from a Series indexed by cell or a frame with ``cell`` and ``expected``."""
    if isinstance(scores, pd.DataFrame):
        missing = {"cell", "expected"} - set(scores.columns)
        if missing:
            raise InvalidInputError(f"scores lacks column(s) {sorted(missing)}; give 'cell' and 'expected' "
                                    "(as analytics.forecast.Forecast.as_frame()) or a Series indexed by cell.")
        cells, values = scores["cell"], scores["expected"]
    elif isinstance(scores, pd.Series):
        cells, values = scores.index, scores
    else:
        raise InvalidInputError("scores must be a pandas Series indexed by cell or a DataFrame with cell, expected.")
    cells = grid.cells_from_any(list(cells), "scores")
    v = pd.to_numeric(pd.Series(np.asarray(values)), errors="coerce").to_numpy(dtype=np.float64)
    if v.size and (not np.all(np.isfinite(v)) or v.min() < 0):
        raise InvalidInputError("scores must be finite numbers >= 0 (expected events next week).")
    if len(np.unique(cells)) != len(cells):
        raise InvalidInputError("scores must have one value per cell (duplicate cells found).")
    return cells, v


def _ring(cell: int) -> list[int]:
    return [int(h) for h in h3n.grid_ring(int(cell), 1)]


def group_places(scores, withheld=(), n: int = 10, max_cells: int = MAX_PLACE_CELLS,
                 join_share: float = JOIN_SHARE) -> pd.DataFrame:
    """Greedily form up to ``n`` plan entries, each a connected place of at most ``max_cells`` cells.

    Parameters
    ----------
    scores : pandas.Series or pandas.DataFrame
        Expected events next week per cell: a Series indexed by cell, or a frame with
        ``cell`` and ``expected`` (:meth:`analytics.forecast.Forecast.as_frame`). Cells are
        uint64 H3 ids or hex strings; values finite and ``>= 0``.
    withheld : iterable of cells, optional
        Cells that must never be part of an entry (the safeguarding rules' withheld cells):
        they are neither seeds nor joined, so no entry grows into or through them.
    n : int, default 10
        Most entries.
    max_cells : int, default 7
        Most cells per entry (1..7: a seed and at most its whole ring).
    join_share : float, default 0.5
        A cell joins an entry only when its score is at least ``join_share`` × the score of
        the entry's seed (0 < join_share <= 1): a place grows over its busy neighbours, not
        over quiet ones that would only add area.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`PLACE_COLUMNS`, one row per entry, ordered by ``expected`` (the sum of
        the entry's cell scores: the place's expected events next week; ties: the seed's
        score, then seed id): ``entry`` (1..), ``seed`` (uint64, the entry's best cell),
        ``cells`` (tuple of uint64, seed first, then in the order they joined), ``n_cells``,
        ``expected``, ``seed_expected``.

    Notes
    -----
    Cells with a positive score are visited best first (ties: lower cell id). A visited cell
    that touches (shares an edge with) an entry that still has room and whose seed it
    scores at least ``join_share`` of joins that entry (the first-formed such entry), so
    every entry is a connected run of cells grown in score order; otherwise, while fewer
    than ``n`` entries exist, it seeds a new entry. A cell next to a full entry may seed its
    own (a large busy area becomes several adjacent places, none larger than a patrol can
    cover); entries never share a cell. The visit stops once ``n`` entries exist and no
    entry with room could take a cell of the current score.

    Examples
    --------
    >>> c = h3.latlng_to_cell(39.74, -104.99, 9)
    >>> ring = sorted(h3.grid_ring(c, 1))
    >>> far = h3.latlng_to_cell(39.80, -104.90, 9)
    >>> s = pd.Series([5.0, 3.0, 0.5, 4.0], index=[c, ring[0], ring[1], far])
    >>> out = group_places(s, n=2)
    >>> [len(x) for x in out["cells"]], out["expected"].tolist()
    ([2, 1], [8.0, 4.0])
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise InvalidInputError(f"n must be an integer >= 1; received {n!r}.")
    if isinstance(max_cells, bool) or not isinstance(max_cells, (int, np.integer)) \
            or not 1 <= max_cells <= MAX_PLACE_CELLS:
        raise InvalidInputError(f"max_cells must be an integer from 1 to {MAX_PLACE_CELLS}; received {max_cells!r}.")
    if isinstance(join_share, bool) or not isinstance(join_share, (int, float, np.integer, np.floating)) \
            or not math.isfinite(float(join_share)) or not 0 < float(join_share) <= 1:
        raise InvalidInputError(f"join_share must be a number in (0, 1]; received {join_share!r}.")
    cells, values = _scores(scores)
    blocked = set(int(c) for c in grid.cells_from_any(list(withheld), "withheld")) if withheld is not None else set()
    score = dict(zip(cells.tolist(), values.tolist()))
    keep = (values > 0) & ~np.isin(cells, np.array(sorted(blocked), dtype=np.uint64))
    order = np.lexsort((cells[keep], -values[keep]))
    visit = cells[keep][order].tolist()

    entries: list[list[int]] = []
    seed_score: list[float] = []
    owner: dict[int, int] = {}  # cell -> entry index
    for cell in visit:
        s = score[cell]
        room = [i for i in range(len(entries)) if len(entries[i]) < max_cells]
        if len(entries) >= n and all(s < join_share * seed_score[i] for i in room):
            break  # visited best first: no later cell can join or seed
        touching = sorted({owner[nb] for nb in _ring(cell) if nb in owner})
        target = next((i for i in touching if len(entries[i]) < max_cells and s >= join_share * seed_score[i]),
                      None)
        if target is not None:
            entries[target].append(cell)
            owner[cell] = target
        elif len(entries) < n:
            owner[cell] = len(entries)
            entries.append([cell])
            seed_score.append(s)
    rows = []
    for members in entries:
        rows.append({"seed": np.uint64(members[0]), "cells": tuple(np.uint64(c) for c in members),
                     "n_cells": len(members), "expected": float(sum(score[c] for c in members)),
                     "seed_expected": float(score[members[0]])})
    out = pd.DataFrame(rows, columns=PLACE_COLUMNS[1:])
    if len(out):
        out = out.sort_values(["expected", "seed_expected", "seed"], ascending=[False, False, True],
                              kind="mergesort").reset_index(drop=True)
        out["seed"] = out["seed"].astype(np.uint64)
    out.insert(0, "entry", np.arange(1, len(out) + 1, dtype=np.int64))
    return out[PLACE_COLUMNS]


# ------------------------------------------------------------------------------------ plan entries
#: Emerging categories that count as "long-term high" (chronic) and as a "recent rise" (emerging);
#: intensifying is both (hot in most weeks and rising).
CHRONIC_CATEGORIES = ("intensifying_hot", "persistent_hot", "diminishing_hot", "historical_hot")
RISING_CATEGORIES = ("intensifying_hot", "new_hot", "consecutive_hot", "sporadic_hot", "oscillating_hot")
#: What the plan says when no entry shows a recent rise.
NO_EMERGING_NOTE = "no emerging hot spot; ranked by long-term risk"


@dataclass(frozen=True)
class PlaceRules:
    """Rules that describe each plan entry (kind, reason, windows); see :func:`place_plan`.

    long_weeks : weeks behind "long-term" (the rate that makes an entry chronic).
    chronic_share : an entry is long-term high when its busiest cell is in the top ``chronic_share``
        of the study area's cells by events over ``long_weeks`` (ties included).
    recent_weeks : weeks behind "recent" in the rise test.
    rise_p : one-sided level of the rise test (the entry's share of the area's events, recent vs before).
    rise_min_events : fewest recent events that can show a rise.
    shrink_events : k of the empirical-Bayes weight n/(n + k) of an entry's own hour-of-week profile
        (n = its events) against the wider area's.
    level : central level of the expected-events interval.
    """

    long_weeks: int = 52
    chronic_share: float = 0.01
    recent_weeks: int = 4
    rise_p: float = 0.05
    rise_min_events: int = 3
    shrink_events: float = 20.0
    level: float = 0.9

    def __post_init__(self) -> None:
        ok = (all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1
                  for v in (self.long_weeks, self.recent_weeks, self.rise_min_events))
              and 0 < self.chronic_share <= 1 and 0 < self.rise_p < 1 and self.shrink_events >= 0
              and 0 < self.level < 1 and self.recent_weeks < self.long_weeks)
        if not ok:
            raise InvalidInputError(f"Invalid plan rules: {self!r} (weeks integers >= 1, recent < long; "
                                    "shares and levels in (0, 1); shrink_events >= 0).")


def _windows_text(profile: np.ndarray, params: PatrolParams) -> str:
    """Top non-overlapping windows of a (smoothed) profile, adjacent ones merged, best first."""
    starts = top_windows(profile, params.window_hours, params.n_windows)
    if not starts:
        return ""
    L = params.window_hours
    ordered = sorted(starts)
    runs: list[list[int]] = []  # [start, hours]
    for s in ordered:
        if runs and (runs[-1][0] + runs[-1][1]) % HOURS_PER_WEEK == s:
            runs[-1][1] += L
        else:
            runs.append([s, L])
    if len(runs) > 1 and (runs[-1][0] + runs[-1][1]) % HOURS_PER_WEEK == runs[0][0]:  # wraps Sunday→Monday
        runs[0] = [runs[-1][0], runs[-1][1] + runs[0][1]]
        runs.pop()
    rank = {s: i for i, s in enumerate(starts)}  # keep the best window's run first
    runs.sort(key=lambda r: min(rank.get((r[0] + j) % HOURS_PER_WEEK, 10 ** 6) for j in range(0, r[1], L)))
    return "; ".join(format_window(s, h) for s, h in runs)


def shrunk_profile(own: np.ndarray, area: np.ndarray, k: float) -> tuple[np.ndarray, float]:
    """Hour-of-week profile shrunk toward the wider area's: ``w·own/n + (1 − w)·area/N`` with ``w = n/(n + k)``.

    ``own`` and ``area`` are 168 event counts (``n`` and ``N`` their totals). Returns the
    profile (a distribution over the 168 hours, or zeros when both are empty) and ``w``.

    Examples
    --------
    >>> own = np.zeros(168); own[10] = 5
    >>> area = np.ones(168)
    >>> p, w = shrunk_profile(own, area, 20.0)
    >>> round(w, 2), round(float(p[10]), 4), round(float(p[0]), 4)
    (0.2, 0.2048, 0.0048)
    """
    own = np.asarray(own, dtype=np.float64)
    area = np.asarray(area, dtype=np.float64)
    n, N = float(own.sum()), float(area.sum())
    if N <= 0:
        return (own / n if n > 0 else np.zeros(HOURS_PER_WEEK)), (1.0 if n > 0 else 0.0)
    w = n / (n + k) if n + k > 0 else 0.0
    return (w * own / n if n > 0 else 0.0) + (1.0 - w) * area / N, w


def place_plan(groups: pd.DataFrame, counts, cells, categories=None, *, event_times: pd.DataFrame | None = None,
               area_profile=None, places: Mapping[int, str] | None = None, convergence=None, harm=None,
               params: PatrolParams | None = None, rules: PlaceRules | None = None,
               tz: str = DEFAULT_TIMEZONE, intervals: tuple | None = None) -> tuple[pd.DataFrame, dict]:
    """The commander's plan (:data:`analytics.patrol.PLAN_COLUMNS`) from forecast places.

    Parameters
    ----------
    groups : pandas.DataFrame
        :func:`group_places` output (``expected`` = the entry's forecast, next week's events).
    counts, cells : array_like
        The cube up to the forecast's origin (cells × weeks, last column = the analysed
        week) and its uint64 cells: the history behind ``kind`` and the rise test.
    categories : mapping or Series {cell: emerging category}, optional
        The engine's categories this week (hex or uint64 keys).
    event_times : pandas.DataFrame, optional
        Past events with ``cell`` and an hour-of-week or timestamp column (as
        :func:`analytics.patrol.time_windows`), at least those of the entries' cells.
    area_profile : array of 168, optional
        Events per hour of the week over the wider area (the study area), the prior of
        every entry's profile; default the sum of ``event_times``.
    places : mapping {cell: text}, optional
        Nearby places per cell (:func:`analytics.places.places_text`).
    convergence, harm : mapping or Series {cell: value >= 0}, optional
        Convergence score and harm events (CSE concern / high risk) per cell: named in the reason.
    params : PatrolParams, optional
        ``window_hours``, ``n_windows``, ``smoothing_hours``, ``n_bands`` and the dose.
    rules : PlaceRules, optional
    tz : str
        Time zone of the windows.
    intervals : (low, high) arrays, optional
        Per-entry interval from a model's predictive distribution; default the Poisson
        ``rules.level`` interval of the entry's expected count (the sum of its cells'
        independent Poisson forecasts is Poisson; model uncertainty not included).

    Returns
    -------
    (pandas.DataFrame, dict)
        The plan (one row per entry in ``groups`` order) and a record for run.json:
        ``emerging`` (any entry with a recent rise), ``note``, ``kinds``, the rules, the
        windows' shrinkage weights and the interval used.

    Notes
    -----
    * kind — ``chronic`` when long-term high (the entry's busiest cell in the top
      ``chronic_share`` of cells by events over ``long_weeks``, or a persistent, diminishing,
      historical or intensifying hot spot among its cells); ``emerging`` when it shows a
      recent rise (a new, consecutive, sporadic, oscillating or intensifying hot spot among
      its cells, or its share of the area's events over the last ``recent_weeks`` significantly
      above its share in the weeks before within ``long_weeks``: with r recent and b earlier
      events, r ~ Binomial(r + b, area's recent share), one-sided at ``rise_p``, r at least
      ``rise_min_events``; a conditional rate-ratio test, so the area's level and reporting
      gaps cancel out); ``both`` when both. An entry with neither is planned for
      its forecast alone (long-term and nearby events) and is ``chronic``.
    * priority band of rank r among n entries: ``min(ceil(r·B/n), r)`` (B = ``n_bands``).
    * windows: the entry's hour-of-week events shrunk toward the area's profile
      (:func:`shrunk_profile`, weight n/(n + k)), smoothed (``smoothing_hours``), the top
      ``n_windows`` non-overlapping ``window_hours`` windows, adjacent ones merged.
    * When no entry shows a recent rise, every reason ends with :data:`NO_EMERGING_NOTE`.
    """
    params = params or PatrolParams()
    rules = rules or PlaceRules()
    c = np.asarray(counts, dtype=np.float64)
    cells = grid.cells_from_any(cells, "cells")
    if c.ndim != 2 or c.shape[0] != len(cells):
        raise InvalidInputError(f"counts must be cells × weeks with one row per cell; received {c.shape} "
                                f"for {len(cells)} cells.")
    missing = set(PLACE_COLUMNS) - set(groups.columns)
    if missing:
        raise InvalidInputError(f"groups lacks column(s) {sorted(missing)}; build it with group_places.")
    index = {int(x): i for i, x in enumerate(cells.tolist())}
    T = c.shape[1]
    long = c[:, max(0, T - rules.long_weeks):].sum(axis=1)
    positive = long[long > 0]
    m = max(1, math.ceil(rules.chronic_share * len(cells)))
    chronic_floor = np.sort(positive)[::-1][min(m, len(positive)) - 1] if len(positive) else math.inf

    def lookup(mapping):
        if mapping is None:
            return {}
        items = mapping.items() if isinstance(mapping, (dict, pd.Series)) else dict(mapping).items()
        out = {}
        for k, v in items:
            key = int(h3.str_to_int(k)) if isinstance(k, str) else int(k)
            out[key] = v
        return out

    cat, conv, hm = lookup(categories), lookup(convergence), lookup(harm)
    places = lookup(places)
    # hour-of-week events per entry cell, and the area's profile
    if event_times is not None and len(event_times):
        ev_cells = grid.cells_from_any(event_times["cell"], "event_times")
        how = hour_of_week(event_times, tz)
    else:
        ev_cells, how = np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.int64)
    area = (np.asarray(area_profile, dtype=np.float64) if area_profile is not None
            else np.bincount(how, minlength=HOURS_PER_WEEK).astype(np.float64))
    if area.shape != (HOURS_PER_WEEK,) or not np.all(np.isfinite(area)) or (area < 0).any():
        raise InvalidInputError("area_profile must be 168 counts >= 0 (hour of the week, 0 = Monday 00:00).")
    n_entries = len(groups)
    # rise test: the entry's share of the area's events, recent weeks against the weeks before in the long window
    # (the area's own level and reporting gaps cancel out)
    start, cut = max(0, T - rules.long_weeks), max(0, T - rules.recent_weeks)
    area_recent, area_before = float(c[:, cut:].sum()), float(c[:, start:cut].sum())
    share_recent = area_recent / (area_recent + area_before) if area_recent + area_before > 0 else 0.0
    rows, weights, rising_any = [], [], False
    exp = groups["expected"].to_numpy(dtype=np.float64)
    if intervals is None:
        lo, hi = poisson_interval(exp, rules.level)
        interval_text = f"Poisson {100 * rules.level:g} % interval of the entry's expected count"
    else:
        lo, hi = (np.asarray(v, dtype=np.float64) for v in intervals)
        interval_text = "the forecast model's predictive interval"
    for r, g in enumerate(groups.itertuples(index=False), start=1):
        members = [int(x) for x in g.cells]
        idx = [index[x] for x in members if x in index]
        cats = [str(cat.get(x, "no_pattern")) for x in members]
        top_long = float(long[idx].max()) if idx else 0.0
        chronic_cat = next((k for k in CHRONIC_CATEGORIES if k in cats), None)
        rising_cat = next((k for k in RISING_CATEGORIES if k in cats), None)
        long_high = top_long > 0 and top_long >= chronic_floor
        series = c[idx].sum(axis=0) if idx else np.zeros(T)
        recent = float(series[cut:].sum())
        before = float(series[start:cut].sum())
        rise = False
        if 0 < share_recent < 1 and recent >= rules.rise_min_events:  # conditional (binomial) rate-ratio test
            rise = binom.sf(recent - 1, int(recent + before), share_recent) < rules.rise_p
        chronic = long_high or chronic_cat is not None
        emerging = rising_cat is not None or rise
        rising_any |= emerging
        kind = "both" if chronic and emerging else "emerging" if emerging else "chronic"
        parts = []
        if chronic_cat is not None:
            parts.append(CATEGORY_LABELS[chronic_cat])
        if rising_cat is not None and rising_cat != chronic_cat:
            parts.append(CATEGORY_LABELS[rising_cat])
        if long_high:
            parts.append(f"long-term high: among the busiest {100 * rules.chronic_share:g} % of cells over "
                         f"{rules.long_weeks} weeks")
        if rise:
            parts.append(f"recent rise: more of the area's events in the last {rules.recent_weeks} weeks than "
                         "its share before")
        if not parts:
            parts.append("ranked by next week's forecast (long-term and nearby events)")
        if any(conv.get(x, 0) > 0 for x in members):
            parts.append("young people from different placements seen here")
        if any(hm.get(x, 0) > 0 for x in members):
            parts.append("reports with exploitation concern or high risk")
        own = np.bincount(how[np.isin(ev_cells, np.array(members, dtype=np.uint64))],
                          minlength=HOURS_PER_WEEK).astype(np.float64)
        prof, w = shrunk_profile(own, area, rules.shrink_events)
        weights.append(round(w, 4))
        windows = _windows_text(circular_smooth(prof, float(params.smoothing_hours)), params) if prof.any() else ""
        seed_lat, seed_lon = h3n.cell_to_latlng(int(members[0]))
        text = next((str(places[x]) for x in members if places.get(x) not in (None, "") and
                     not (isinstance(places.get(x), float) and math.isnan(places[x]))), "")
        rows.append({
            "rank": r, "priority": int(min(math.ceil(r * params.n_bands / max(n_entries, 1)), r)), "kind": kind,
            "area_name": "", "places": text, "lat": round(seed_lat, 5), "lon": round(seed_lon, 5),
            "windows": windows, "time_zone": tz, "dose": dose_guidance(params),
            "expected": round(float(g.expected), 3), "expected_low": float(lo[r - 1]),
            "expected_high": float(hi[r - 1]), "reason": parts,
            "cells": CELLS_SEPARATOR.join(h3.int_to_str(x) for x in members),
        })
    for row in rows:
        if not rising_any:
            row["reason"].append(NO_EMERGING_NOTE)
        row["reason"] = "; ".join(row["reason"])
    plan = pd.DataFrame(rows, columns=PLAN_COLUMNS)
    record = {
        "emerging": bool(rising_any), "note": None if rising_any or not n_entries else NO_EMERGING_NOTE,
        "kinds": {k: int(sum(r["kind"] == k for r in rows)) for k in ("chronic", "emerging", "both")},
        "rules": asdict(rules), "interval": interval_text,
        "profile_rule": f"empirical Bayes: own profile weight n/(n + {rules.shrink_events:g}), "
                        "the rest the study area's hour-of-week profile",
        "profile_weights": weights, "chronic_floor_events": None if not math.isfinite(chronic_floor)
        else float(chronic_floor),
    }
    return plan, record
