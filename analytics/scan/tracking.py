"""Week-to-week identity of scan clusters: ids continued where this week's clusters overlap last week's."""

from __future__ import annotations

import hashlib

import pandas as pd

from analytics.errors import InvalidInputError
from analytics.grid import hex_to_cells


def _cell_set(value) -> frozenset[int]:
    if value is None:
        return frozenset()
    items = list(value)
    if not items:
        return frozenset()
    if isinstance(items[0], str):
        return frozenset(int(c) for c in hex_to_cells(items))
    return frozenset(int(c) for c in items)


def _new_id(cells: frozenset[int], week) -> str:
    text = ",".join(str(c) for c in sorted(cells)) + f"|{'' if week is None else week}"
    return "stc-" + hashlib.sha1(text.encode()).hexdigest()[:10]


def track_clusters(previous: pd.DataFrame | None, current: pd.DataFrame, week=None) -> pd.DataFrame:
    """Give this week's scan clusters ids, continuing last week's where they overlap.

    Parameters
    ----------
    previous : pandas.DataFrame or None
        Last week's tracked clusters (needs ``cluster_id`` and ``cells``), or
        ``None``/empty for the first run.
    current : pandas.DataFrame
        This week's ``ScanResult.clusters`` (needs ``cells``; tuples of uint64
        cells or of hex strings).
    week : str or int, optional
        Label of the current week (e.g. ``"2025-W14"``), mixed into new ids so
        that a place that clusters again months later gets a fresh id.

    Returns
    -------
    pandas.DataFrame
        ``current`` plus ``cluster_id`` (str), ``status`` (``"new"`` or
        ``"ongoing"``) and ``previous_cluster_id`` (the overlapped previous id,
        or ``None``).

    Notes
    -----
    A current cluster is *ongoing* when its cells overlap a previous week's
    cluster. Ids are matched one-to-one, greedily by the number of shared cells
    (ties: current rank, then previous id), so the current cluster sharing most
    cells keeps the id. If a previous cluster split into several current ones,
    the others are still ``ongoing`` (``previous_cluster_id`` says which), but
    get their own id so ids stay unique within a week. New ids are
    ``"stc-"`` + the first 10 hex digits of SHA-1 of the sorted cells and
    ``week``: deterministic, independent of run order.

    Examples
    --------
    >>> cur = pd.DataFrame({"cells": [(1, 2, 3)]})
    >>> first = track_clusters(None, cur, week="2025-W01")
    >>> first["status"].tolist()
    ['new']
    >>> again = track_clusters(first, pd.DataFrame({"cells": [(3, 4)]}), week="2025-W02")
    >>> again["status"].tolist(), bool(again["cluster_id"][0] == first["cluster_id"][0])
    (['ongoing'], True)
    """
    if "cells" not in current.columns:
        raise InvalidInputError("current clusters need a 'cells' column.")
    out = current.copy().reset_index(drop=True)
    cur_sets = [_cell_set(v) for v in out["cells"]]
    prev_sets: list[frozenset[int]] = []
    prev_ids: list[str] = []
    if previous is not None and len(previous):
        missing = {"cluster_id", "cells"} - set(previous.columns)
        if missing:
            raise InvalidInputError(f"previous clusters lack column(s) {sorted(missing)}.")
        prev_sets = [_cell_set(v) for v in previous["cells"]]
        prev_ids = [str(v) for v in previous["cluster_id"]]

    pairs = []
    best_prev: list[str | None] = [None] * len(cur_sets)
    for i, cs in enumerate(cur_sets):
        best = (0, "")
        for j, ps in enumerate(prev_sets):
            shared = len(cs & ps)
            if shared:
                pairs.append((-shared, i, prev_ids[j]))
                if shared > best[0] or (shared == best[0] and prev_ids[j] < best[1]):
                    best = (shared, prev_ids[j])
        if best[0]:
            best_prev[i] = best[1]
    pairs.sort()
    assigned: dict[int, str] = {}
    taken: set[str] = set()
    for _, i, pid in pairs:
        if i in assigned or pid in taken:
            continue
        assigned[i] = pid
        taken.add(pid)

    ids, status = [], []
    for i, cs in enumerate(cur_sets):
        if i in assigned:
            ids.append(assigned[i])
        else:
            new = _new_id(cs, week)
            while new in taken:  # practically never; keeps ids unique
                new = _new_id(cs | {len(taken)}, week)
            taken.add(new)
            ids.append(new)
        status.append("ongoing" if best_prev[i] is not None else "new")
    out["cluster_id"] = pd.Series(ids, dtype=object)
    out["status"] = pd.Series(status, dtype=object)
    out["previous_cluster_id"] = pd.Series(
        [assigned.get(i, best_prev[i]) for i in range(len(cur_sets))], dtype=object
    )
    return out
