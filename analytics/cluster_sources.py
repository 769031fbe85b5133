"""Independent sources behind each space-time scan cluster: a place, or a few young people's repeat episodes.

A significant scan cluster says "more reports in these cells in these weeks than
the cells' own history and the area's weeks predict". Two different things do
that. A place that starts drawing children (the CSE hotspot the product looks
for) is seen by *several* independent sources: different young people, and
reports naming no one (an adult or vehicle of concern, a community sighting).
One or two young people going missing again and again in a few weeks, often
found near where they live, also make a cluster, of reports that all name those
young people: a real pattern, but about them (repeat missing episodes), not
about a place. CSE place indicators count young people for the same reason
(convergence, METHODS.md §7: several young people from different placements).

So each cluster counts its *sources* over its own cells and window: distinct
young people named in its events plus events naming nobody. A cluster with at
least ``min_sources`` (default 3) is a ``place`` signal; the rest are labelled
``repeat_missing`` and stay in the analyst's output, but are not flagged as an
emerging place. Measured on SYNTHETIC cities (benchmarks/recovery.py), clusters
at planted sites had 3-14 distinct young people, the clusters elsewhere mostly
1-2, all named.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analytics.errors import InvalidInputError

DEFAULT_MIN_SOURCES = 3
PATTERN_PLACE = "place"
PATTERN_REPEAT_MISSING = "repeat_missing"


def cluster_sources(clusters: pd.DataFrame, events: pd.DataFrame, last_week: int,
                    min_sources: int = DEFAULT_MIN_SOURCES) -> pd.DataFrame:
    """Add ``young_people``, ``unnamed_events``, ``sources``, ``pattern`` to scan clusters.

    Parameters
    ----------
    clusters : DataFrame
        Scan clusters with ``cells`` (sequence of H3 cells as int) and
        ``window_weeks`` (the window ends in ``last_week``).
    events : DataFrame
        One row per event with ``cell`` (uint64), ``week_index`` (int, the same
        week numbering as ``last_week``) and ``person_key`` (None/NaN when the
        event names no young person).
    last_week : int
        Index of the analysed week (the end of every cluster's window).
    min_sources : int
        Fewest sources that make a ``place`` signal.

    Returns
    -------
    DataFrame
        A copy of ``clusters`` with the four columns added (0 / ``repeat_missing``
        for a cluster with no event found).
    """
    if min_sources < 1:
        raise InvalidInputError(f"min_sources must be >= 1; received {min_sources}.")
    missing = {"cell", "week_index", "person_key"} - set(events.columns)
    if missing:
        raise InvalidInputError(f"events lacks column(s) {', '.join(sorted(missing))}.")
    out = clusters.copy()
    if out.empty:
        for col, dtype in (("young_people", np.int64), ("unnamed_events", np.int64), ("sources", np.int64)):
            out[col] = pd.Series(dtype=dtype)
        out["pattern"] = pd.Series(dtype=object)
        return out
    members = pd.DataFrame({
        "cluster": np.repeat(np.arange(len(out)), [len(c) for c in out["cells"]]),
        "cell": np.concatenate([np.asarray(c, dtype=np.uint64) for c in out["cells"]]),
        "first_week": np.repeat(last_week - out["window_weeks"].to_numpy(np.int64) + 1,
                                [len(c) for c in out["cells"]]),
    })
    ev = events[["cell", "week_index", "person_key"]].astype({"cell": np.uint64, "week_index": np.int64})
    ev = ev[ev["week_index"].between(members["first_week"].min(), last_week)]
    joined = members.merge(ev, on="cell")
    joined = joined[joined["week_index"] >= joined["first_week"]]
    named = joined["person_key"].notna()
    people = joined[named].groupby("cluster")["person_key"].nunique()
    unnamed = joined[~named].groupby("cluster").size()
    idx = np.arange(len(out))
    out["young_people"] = people.reindex(idx, fill_value=0).to_numpy(np.int64)
    out["unnamed_events"] = unnamed.reindex(idx, fill_value=0).to_numpy(np.int64)
    out["sources"] = out["young_people"] + out["unnamed_events"]
    out["pattern"] = np.where(out["sources"] >= min_sources, PATTERN_PLACE, PATTERN_REPEAT_MISSING)
    return out
