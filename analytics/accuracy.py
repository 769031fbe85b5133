"""Hotspot accuracy: hit rate, PAI and PEI* (METHODS §9, "Hotspot accuracy").

Used to backtest a set of cells chosen in advance (last week's patrol cells)
against the events that then happened (this week's events). Pure functions on
numbers and arrays; no files, no DuckDB.

Notation (Chainey, Tompson & Uhlig 2008; Hunt 2016):

* ``n`` — events inside the chosen cells, ``N`` — events in the study area;
* ``a`` — area of the chosen cells, ``A`` — area of the study area;
* ``n*`` — the most events any set of cells of the same area could have
  captured (here: the same number of cells, H3 cells of one resolution being
  nearly equal in area).

Undefined values (no events at all, an empty selection) are returned as NaN,
never as a misleading 0 or infinity.
"""

from __future__ import annotations

import math

import numpy as np

from analytics.errors import InvalidInputError

__all__ = ["hit_rate", "pai", "pei_star", "max_capture"]


def _count(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidInputError(f"{name} must be a number; received {value!r}.")
    v = float(value)
    if not math.isfinite(v) or v < 0:
        raise InvalidInputError(f"{name} must be a finite number >= 0; received {value!r}.")
    return v


def hit_rate(n: float, N: float) -> float:
    """Share of all events that fell in the chosen cells, ``n / N``.

    Examples
    --------
    >>> hit_rate(12, 48)
    0.25
    >>> math.isnan(hit_rate(0, 0))
    True
    """
    n, N = _count("n", n), _count("N", N)
    if n > N:
        raise InvalidInputError(f"n (events in the chosen cells) cannot exceed N (all events): {n} > {N}.")
    return n / N if N > 0 else math.nan


def pai(n: float, N: float, a: float, A: float) -> float:
    """Predictive Accuracy Index, ``(n / N) / (a / A)``.

    Notes
    -----
    Chainey, Tompson & Uhlig (2008), *The utility of hotspot mapping for
    predicting spatial patterns of crime*, Security Journal 21. PAI = 1 means
    the cells captured events in proportion to their area (no better than
    chance); PAI = 10 means ten times as many events per unit area as the
    study area overall.

    Examples
    --------
    >>> pai(12, 48, 1.0, 100.0)
    25.0
    """
    n, N, a, A = _count("n", n), _count("N", N), _count("a", a), _count("A", A)
    if n > N:
        raise InvalidInputError(f"n (events in the chosen cells) cannot exceed N (all events): {n} > {N}.")
    if a > A:
        raise InvalidInputError(f"a (area of the chosen cells) cannot exceed A (study area): {a} > {A}.")
    if N == 0 or a == 0 or A == 0:
        return math.nan
    return (n / N) / (a / A)


def max_capture(counts, n_cells: int) -> float:
    """``n*``: the most events any ``n_cells`` cells captured (sum of the largest counts).

    Examples
    --------
    >>> max_capture([5, 0, 2, 9, 1], 2)
    14.0
    """
    if isinstance(n_cells, bool) or not isinstance(n_cells, (int, np.integer)) or n_cells < 0:
        raise InvalidInputError(f"n_cells must be an integer >= 0; received {n_cells!r}.")
    c = np.asarray(counts, dtype=np.float64).ravel()
    if c.size and (not np.all(np.isfinite(c)) or c.min() < 0):
        raise InvalidInputError("counts must be finite numbers >= 0.")
    if n_cells == 0 or c.size == 0:
        return 0.0
    k = min(int(n_cells), c.size)
    return float(np.sort(c)[::-1][:k].sum())


def pei_star(n: float, n_star: float) -> float:
    """Predictive Efficiency Index PEI* = ``n / n*``.

    Notes
    -----
    Hunt (2016), *Do crime hot spots move? Exploring the effects of the
    modifiable areal unit problem and modifiable temporal unit problem on crime
    hot spot stability*, and Drawve (2016): PEI compares the events captured
    with the most that cells of the same total area could have captured, so
    PEI* lies in [0, 1] and 1 means the best possible choice of that many cells.

    Examples
    --------
    >>> pei_star(12, 16)
    0.75
    """
    n, n_star = _count("n", n), _count("n*", n_star)
    if n > n_star:
        raise InvalidInputError(f"n ({n}) cannot exceed n* ({n_star}), the most any same-area cells could capture.")
    return n / n_star if n_star > 0 else math.nan
