"""What changed since last week: one definition for the run record, the CLI and the report.

Each cell has this week's emerging category and last week's (the same analysis on the window
ending one week earlier). A cell is *hot now* when its category is one of :data:`HOT_NOW`
(every hot category except ``historical_hot``, which says the cell is *not* hot this week).

=================  ==============================================================
``new``            this week's category is ``new_hot`` (hot for the first time in
                   the weeks analysed, with a confirmed rise): exactly the cells the
                   report's "New hot spot" category counts
``became_hot``     hot now and not hot last week — whatever the category (most are
                   ``sporadic_hot``: on and off, or a first hot week whose rise is
                   not confirmed); always includes every ``new`` cell
``continuing``     hot now and hot last week (and not ``new``)
``ended``          hot last week, not hot now
``intensifying``   this week's category is ``intensifying_hot`` (a subset of hot now)
=================  ==============================================================

So ``became_hot`` + ``continuing`` = the hot spots this week, and ``new`` ⊆ ``became_hot``:
"109 became hot since last week" can no longer sit beside a *new* category count of 0
without saying which categories those 109 are (:func:`became_hot_by_category`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analytics.patrol import SEVERITY_ORDER

__all__ = ["HOT_NOW", "CHANGE_KEYS", "hot_now", "week_changes", "became_hot_by_category", "category_counts"]

#: Categories of a cell that is a hot spot in the analysed week (``historical_hot`` is not).
HOT_NOW: tuple[str, ...] = tuple(f"{s}_hot" for s in SEVERITY_ORDER if s != "historical")
#: Keys of :func:`week_changes`, in the order the report lists them.
CHANGE_KEYS = ("new", "became_hot", "intensifying", "ended", "continuing")


def hot_now(categories) -> np.ndarray:
    """Boolean mask: cells whose category makes them a hot spot this week."""
    return pd.Series(categories, dtype=object).isin(HOT_NOW).to_numpy()


def week_changes(hotspots: pd.DataFrame, previous: pd.DataFrame) -> dict[str, list[str]]:
    """Cells per change since last week (see the module table), each list strongest Gi* z first.

    Parameters
    ----------
    hotspots : DataFrame with ``cell``, ``category``, ``z``
        This week's cells.
    previous : DataFrame with ``cell``, ``category``
        Last week's categories (a cell missing from it had no pattern).

    Examples
    --------
    >>> now = pd.DataFrame({"cell": ["a", "b", "c", "d"], "z": [4.0, 3.0, 2.0, 0.1],
    ...                     "category": ["new_hot", "sporadic_hot", "persistent_hot", "no_pattern"]})
    >>> before = pd.DataFrame({"cell": ["c", "d"], "category": ["persistent_hot", "sporadic_hot"]})
    >>> week_changes(now, before)["became_hot"], week_changes(now, before)["new"]
    (['a', 'b'], ['a'])
    >>> week_changes(now, before)["ended"]
    ['d']
    """
    prev = dict(zip(previous["cell"], previous["category"]))
    both = hotspots[["cell", "category", "z"]].copy()
    both["previous"] = [prev.get(c, "no_pattern") for c in both["cell"]]
    both = both.sort_values(["z", "cell"], ascending=[False, True], kind="mergesort")  # strongest first
    now, before = hot_now(both["category"]), hot_now(both["previous"])
    new = (both["category"] == "new_hot").to_numpy()
    became = now & (~before | new)
    ended_cells = set(previous.loc[hot_now(previous["category"]), "cell"]) - set(both.loc[now, "cell"])
    ended = both.loc[both["cell"].isin(ended_cells), "cell"].tolist()
    ended += sorted(ended_cells - set(ended))  # cells no longer in this week's study area
    return {
        "new": both.loc[new, "cell"].tolist(),
        "became_hot": both.loc[became, "cell"].tolist(),
        "intensifying": both.loc[both["category"] == "intensifying_hot", "cell"].tolist(),
        "ended": ended,
        "continuing": both.loc[now & ~became, "cell"].tolist(),
    }


def category_counts(categories) -> dict[str, int]:
    """Cells per hot-now category, in :data:`HOT_NOW` order, zeros kept."""
    s = pd.Series(categories, dtype=object)
    return {c: int((s == c).sum()) for c in HOT_NOW}


def became_hot_by_category(hotspots: pd.DataFrame, changes: dict[str, list[str]]) -> dict[str, int]:
    """This week's categories of the cells that became hot since last week (non-zero counts, :data:`HOT_NOW` order).

    Examples
    --------
    >>> now = pd.DataFrame({"cell": ["a", "b", "c"], "category": ["sporadic_hot", "sporadic_hot", "new_hot"]})
    >>> became_hot_by_category(now, {"became_hot": ["a", "b", "c"]})
    {'new_hot': 1, 'sporadic_hot': 2}
    """
    cat = dict(zip(hotspots["cell"], hotspots["category"]))
    counts = category_counts([cat[c] for c in changes["became_hot"] if c in cat])
    return {c: n for c, n in counts.items() if n}
