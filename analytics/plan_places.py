"""Plan entries are places, not cells: group forecast cells into patrollable places (issue 14).

A forecast scores every cell (expected events next week). Ten top cells are often fewer than
ten places: a busy venue spans several adjacent res-9 cells, so a cell-level top ten can be
one venue seven times over. :func:`group_places` turns per-cell scores into up to ``n``
entries, each a small connected set of cells (at most ``max_cells``, 7 = a cell and its ring)
that a patrol can cover in one visit, so ten entries are ten distinct places.

Cells are H3 cells as ``uint64`` integers (hex strings are accepted on input and converted);
the output holds ``uint64`` cells. Pure computation (numpy, pandas, h3).
"""

from __future__ import annotations

import math

import h3
import numpy as np
import pandas as pd

from analytics import grid
from analytics.errors import InvalidInputError

__all__ = ["group_places", "PLACE_COLUMNS", "MAX_PLACE_CELLS"]

#: Most cells in one plan entry: a seed cell and its ring (about 0.7 km² at resolution 9).
MAX_PLACE_CELLS = 7
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
    return [h3.str_to_int(h) for h in h3.grid_ring(h3.int_to_str(cell), 1)]


def group_places(scores, withheld=(), n: int = 10, max_cells: int = MAX_PLACE_CELLS,
                 join_share: float = 0.5) -> pd.DataFrame:
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
