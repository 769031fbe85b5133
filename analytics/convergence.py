"""Convergence: places where several young people from different placements turn up.

When young people from *different* care placements are found or seen at the same
place within a few weeks, the place may be where they are being drawn together —
a recognised indicator of exploitation and a place worth disrupting (METHODS §7).
The output names cells (or clusters), never young people: person and placement
keys are counted, not returned.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analytics.errors import InvalidInputError

__all__ = ["find_convergence", "find_cluster_convergence", "CONVERGENCE_COLUMNS"]

#: Columns of :func:`find_convergence` (``cell`` is replaced by ``label`` per cluster).
CONVERGENCE_COLUMNS = [
    "cell",
    "n_young_people",
    "n_placements",
    "n_events",
    "score",
    "first_week",
    "last_week",
    "rank",
]


def _check_int(name: str, value, low: int) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
        raise InvalidInputError(f"{name} must be an integer >= {low}; received {value!r}.")
    return int(value)


def _convergence(
    events: pd.DataFrame,
    key: str,
    window_weeks: int | None,
    min_young_people: int,
    min_placements: int,
    end_week: int | None,
) -> pd.DataFrame:
    required = {key, "week_index", "person_key", "placement_key"}
    missing = required - set(events.columns)
    if missing:
        raise InvalidInputError(
            f"events lacks column(s) {sorted(missing)}; expected {sorted(required)} "
            "(placement_key may be null)."
        )
    if window_weeks is not None:
        window_weeks = _check_int("window_weeks", window_weeks, 1)
    min_young_people = _check_int("min_young_people", min_young_people, 1)
    min_placements = _check_int("min_placements", min_placements, 1)
    columns = [key] + CONVERGENCE_COLUMNS[1:]
    key_dtype = np.uint64 if key == "cell" else np.int64
    empty = pd.DataFrame({c: pd.Series(dtype=key_dtype if c == key else np.int64) for c in columns})

    ev = events[[key, "week_index", "person_key", "placement_key"]]
    ev = ev[ev["person_key"].notna()]
    if key != "cell":
        ev = ev[ev[key] >= 0]  # cluster label −1 is noise
    if ev.empty:
        return empty
    weeks = ev["week_index"].to_numpy(dtype=np.int64)
    if end_week is None:
        end_week = int(weeks.max())
    if window_weeks is not None:
        in_window = (weeks <= end_week) & (weeks > end_week - window_weeks)
    else:
        in_window = weeks <= end_week
    ev = ev[in_window]
    if ev.empty:
        return empty

    grouped = ev.groupby(key, sort=True)
    out = pd.DataFrame(
        {
            "n_young_people": grouped["person_key"].nunique(),
            "n_placements": grouped["placement_key"].nunique(dropna=True),
            "n_events": grouped.size(),
            "first_week": grouped["week_index"].min(),
            "last_week": grouped["week_index"].max(),
        }
    ).reset_index()
    out = out[(out["n_young_people"] >= min_young_people) & (out["n_placements"] >= min_placements)]
    if out.empty:
        return empty
    out["score"] = out["n_young_people"] * out["n_placements"]
    out = out.sort_values(
        ["score", "n_young_people", "n_placements", key],
        ascending=[False, False, False, True],
        kind="mergesort",
    ).reset_index(drop=True)
    out["rank"] = np.arange(1, len(out) + 1)
    for col in columns[1:]:
        out[col] = out[col].astype(np.int64)
    out[key] = out[key].astype(key_dtype)
    return out[columns]


def find_convergence(
    events: pd.DataFrame,
    window_weeks: int = 8,
    min_young_people: int = 3,
    min_placements: int = 2,
    end_week: int | None = None,
) -> pd.DataFrame:
    """Cells where ≥ ``min_young_people`` from ≥ ``min_placements`` placements were found or seen.

    Parameters
    ----------
    events : pandas.DataFrame
        One row per found/seen event: ``cell`` (uint64), ``week_index`` (int),
        ``person_key`` (pseudonymised young person), ``placement_key``
        (pseudonymised placement, may be null).
    window_weeks : int, default 8
        The window is weeks ``end_week − window_weeks + 1 … end_week``.
    min_young_people : int, default 3
        Distinct young people needed in a cell.
    min_placements : int, default 2
        Distinct (known) placements those young people came from.
    end_week : int, optional
        Last week of the window; default the latest ``week_index`` in ``events``.

    Returns
    -------
    pandas.DataFrame
        Flagged cells only, columns :data:`CONVERGENCE_COLUMNS`: ``cell``,
        ``n_young_people``, ``n_placements``, ``n_events``,
        ``score = n_young_people × n_placements``, ``first_week``/``last_week``
        (of events in the window) and ``rank`` (1 = highest score; ties broken
        by young people, placements, then cell). No person or placement keys.

    Notes
    -----
    METHODS §7. Convergence of young people from different placements at one
    location is a recognised indicator of CSE (Department for Education 2017,
    *Child sexual exploitation: definition and a guide for practitioners*;
    the scoping review behind this product, DESIGN.md). Events with no
    ``person_key`` are ignored; events with no ``placement_key`` count toward
    young people but not placements (an unknown placement is not evidence of a
    second one). A young person who moved placement within the window
    contributes both placements. Counts are unsuppressed (analyst view);
    ``analytics.privacy`` suppresses them in shared outputs.

    Examples
    --------
    >>> ev = pd.DataFrame({"cell": [5, 5, 5], "week_index": [10, 12, 15],
    ...     "person_key": ["a", "b", "c"], "placement_key": ["P1", "P1", "P2"]})
    >>> find_convergence(ev).loc[0, ["n_young_people", "n_placements", "score"]].tolist()
    [3, 2, 6]
    """
    return _convergence(events, "cell", window_weeks, min_young_people, min_placements, end_week)


def find_cluster_convergence(
    events: pd.DataFrame,
    window_weeks: int | None = None,
    min_young_people: int = 3,
    min_placements: int = 2,
    end_week: int | None = None,
) -> pd.DataFrame:
    """Convergence per ST-DBSCAN cluster instead of per cell.

    Parameters
    ----------
    events : pandas.DataFrame
        As :func:`find_convergence` but with ``label`` (cluster label from
        :func:`analytics.clusters.st_dbscan`, −1 = noise, ignored) instead of
        ``cell``.
    window_weeks : int, optional
        Default ``None``: a cluster is already bounded in space and time, so
        all its events count. Give a number to restrict to recent weeks.
    min_young_people, min_placements, end_week
        As :func:`find_convergence`.

    Returns
    -------
    pandas.DataFrame
        Same columns as :func:`find_convergence` with ``label`` for ``cell``.

    Examples
    --------
    >>> ev = pd.DataFrame({"label": [0, 0, 0, -1], "week_index": [1, 2, 3, 3],
    ...     "person_key": ["a", "b", "c", "d"], "placement_key": ["P1", "P2", "P2", "P3"]})
    >>> find_cluster_convergence(ev)[["label", "score"]].values.tolist()
    [[0, 6]]
    """
    return _convergence(events, "label", window_weeks, min_young_people, min_placements, end_week)
