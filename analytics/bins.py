"""Time bins for sparse data: weekly counts summed into bins of 1, 2 or 4 weeks, and the rule that
chooses the width.

Real weekly counts per res-9 cell are mostly 0 and 1. Gi*, Mann-Kendall and the emerging categories
then cannot tell a chronic place from noise: the share categories (*persistent*, *intensifying*,
*diminishing*, *historical*) need a place to be hot in ``hot_share`` (90 %) of the bins, and a bin
whose Gi* space-time neighbourhood holds no event is never hot.

The rule (:func:`choose_bin_weeks`)
-----------------------------------
The share categories need a place to be hot in ``hot_share`` (90 %) of the bins; the bins must be
wide enough that the places the outputs show *could* be. The *reference cells* are those of the
``reference_cells`` busiest cells (default 10: the report's top list and the patrol plan hold 10
entries) whose Gi* neighbourhood stands out over the whole window (its events, all weeks pooled,
significantly above the study area's average: one-sided Poisson tail, Benjamini-Hochberg over every
cell, 5 %; a cell with two events in sparse data is not a place the statistics could call hot, and
would only drag the rule towards noise). For a width ``b`` and each reference cell:

1. ``mu = N * b * (time_step + 1) / n_weeks``: the events its Gi* space-time neighbourhood
   (``k`` rings, the cell included, ``time_step + 1`` bins of ``b`` weeks) holds per bin at its own
   average rate over the window (``N``: the neighbourhood's events in the window);
2. ``E0 = card * b * (time_step + 1) * total / (n_cells * n_weeks)``: what the same neighbourhood
   expects under Gi*'s null (events spread evenly over the study area; exposure left aside);
3. ``c``: the fewest events that make the neighbourhood significantly hot at the emerging rules'
   class (two-sided 95 %, so ``P(X >= c) <= 0.025`` for ``X ~ Poisson(E0)``, Gi*'s own Poisson tail);
4. its *power*: ``P(Y >= c)``, ``Y ~ Poisson(mu)`` -- the share of bins a steady place at its rate
   would be hot in.

The width is the narrowest of 1, 2, 4 weeks at which the **median power over the reference cells
reaches** ``hot_share``, among widths that leave at least :func:`min_trend_bins` bins (5: the fewest
values whose Mann-Kendall test can be significant at 5 %, so the categories' trend can still say
something; 26 weeks give 26, 13 or 6 bins). Below it, half the places that stand out cannot reach a
share category even if their rate never changes: a chronic place reads as "sporadic" or "no
pattern" because of Poisson gaps. No width reaching it: the widest allowed, marked *thin* (the
engine run then tries a coarser H3 resolution when ``--res`` was not given, at most
:data:`MAX_COARSER` levels). No reference cell (nothing stands out) or no events: weekly bins.

Counts that are both sparse and hardly above the area's average give low power too; widening is
then still the right answer (a steady excess shows over wider bins).

Bins end at the analysed week: the last bin is the analysed week and the ``b - 1`` weeks before it;
weeks left over at the start of the window (``n_weeks mod b``) are dropped, so every bin has the
same length.
"""

from __future__ import annotations

import re
from functools import lru_cache
from dataclasses import dataclass, field
from datetime import date

import numpy as np
from scipy import stats

from analytics import grid
from analytics.errors import InvalidInputError
from analytics.gistar import benjamini_hochberg
from analytics.trend import mann_kendall

#: Bin widths (weeks) the engine accepts (``--bin-weeks``; ``"auto"`` chooses among them).
BIN_WEEKS = (1, 2, 4)
#: The value of ``--bin-weeks`` / ``[hotspots] bin_weeks`` that applies :func:`choose_bin_weeks`.
AUTO = "auto"
#: How a bin is named in the emerging categories' reasons.
BIN_NAMES = {1: "week", 2: "fortnight", 4: "four-week period"}


def check_bin_weeks(value) -> int | str:
    """``value`` as ``"auto"`` or one of :data:`BIN_WEEKS` (text "2" is accepted); else InvalidInputError."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text == AUTO:
            return AUTO
        if text.isdigit():
            value = int(text)
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and int(value) in BIN_WEEKS:
        return int(value)
    raise InvalidInputError(f"bin_weeks must be {AUTO!r} or one of {', '.join(map(str, BIN_WEEKS))} (weeks per "
                            f"bin); received {value!r}")


@dataclass(frozen=True)
class BinnedCube:
    """Weekly counts summed into bins of ``bin_weeks`` weeks, the last bin ending at the analysed week."""

    counts: np.ndarray            # (n_cells, n_bins)
    exposure: np.ndarray | None   # (n_cells, n_bins): summed weekly exposure, or None
    starts: list[date]            # first week of each bin
    bin_weeks: int
    dropped_weeks: int            # weeks at the start of the window left out (n_weeks mod bin_weeks)


def aggregate_bins(counts: np.ndarray, weeks: list[date] | None, bin_weeks: int,
                   exposure: np.ndarray | None = None) -> BinnedCube:
    """Sum a (cells x weeks) cube into bins of ``bin_weeks`` weeks ending at its last week.

    ``weeks`` (the cube's week Mondays) give each bin's first week in ``starts``; None leaves it empty.

    >>> from datetime import timedelta
    >>> b = aggregate_bins(np.array([[1, 0, 2, 3, 0]]), [date(2025, 1, 6) + timedelta(weeks=i) for i in range(5)], 2)
    >>> b.counts.tolist(), b.dropped_weeks, [str(s) for s in b.starts]
    ([[2, 3]], 1, ['2025-01-13', '2025-01-27'])
    """
    bin_weeks = check_bin_weeks(bin_weeks)
    if bin_weeks == AUTO:
        raise InvalidInputError("aggregate_bins needs a bin width; resolve 'auto' with choose_bin_weeks first.")
    counts = np.asarray(counts)
    n_cells, n_weeks = counts.shape
    if weeks is not None and len(weeks) != n_weeks:
        raise InvalidInputError(f"{len(weeks)} weeks given for a cube of {n_weeks} weeks.")
    n_bins = n_weeks // bin_weeks
    if n_bins < 1:
        raise InvalidInputError(f"{n_weeks} week(s) cannot make one bin of {bin_weeks} weeks.")
    drop = n_weeks - n_bins * bin_weeks
    if bin_weeks == 1:
        return BinnedCube(counts, exposure, list(weeks or []), 1, 0)

    def fold(a: np.ndarray) -> np.ndarray:
        return a[:, drop:].reshape(a.shape[0], n_bins, bin_weeks).sum(axis=2)

    exp = None
    if exposure is not None:
        exp = fold(np.broadcast_to(np.asarray(exposure, dtype=np.float64), counts.shape))
    return BinnedCube(fold(counts), exp, list(weeks[drop::bin_weeks]) if weeks is not None else [], bin_weeks, drop)


@dataclass(frozen=True)
class BinChoice:
    """What :func:`choose_bin_weeks` decided, with the figures behind it (recorded in run.json)."""

    bin_weeks: int
    thin: bool                     # no allowed width reached hot_share (a coarser resolution may help)
    weeks: int                     # weeks of the window
    target: float                  # the median power needed (hot_share)
    power_by_width: dict = field(default_factory=dict)      # {width: median power over the reference cells}
    expected_by_width: dict = field(default_factory=dict)   # {width: median mu over the reference cells}
    reference_cells: int = 0       # cells the medians are taken over
    reference_events: float = 0.0  # median events in the reference cells' neighbourhoods over the window
    allowed: tuple = ()            # widths leaving at least min_bins bins
    auto: bool = True

    def as_json(self) -> dict:
        return {"bin_weeks": self.bin_weeks, "auto": self.auto, "thin": self.thin, "window_weeks": self.weeks,
                "reference_cells": self.reference_cells, "reference_neighbourhood_events": self.reference_events,
                "power_needed": self.target,
                "median_power": {str(w): round(v, 4) for w, v in self.power_by_width.items()},
                "median_expected_window_count": {str(w): round(v, 4) for w, v in self.expected_by_width.items()},
                "widths_allowed": list(self.allowed)}

    def sentence(self, resolution: int | None = None) -> str:
        """One line for the run's choices."""
        at = f" at H3 resolution {resolution}" if resolution is not None else ""
        if not self.auto:
            return f"Counts analysed in bins of {self.bin_weeks} week(s){at}, as given (--bin-weeks or [hotspots] bin_weeks)."
        if not self.power_by_width:
            return (f"Bins set to {self.bin_weeks} week(s){at}: no neighbourhood holds significantly more events "
                    "than the study area's average over the window, so there is no place to resolve.")
        figures = ", ".join(f"{v:.0%} of {w}-week bins" for w, v in self.power_by_width.items())
        head = (f"Bins set to {self.bin_weeks} week(s){at} by the sparse-data rule: the {self.reference_cells} "
                f"busiest cells that stand out (median {self.reference_events:g} events in their neighbourhood over "
                f"{self.weeks} weeks) would be hot in {figures} at a steady rate; the share categories "
                f"(persistent, intensifying, ...) need {self.target:.0%}")
        if self.thin:
            return head + " - no allowed width reaches it, so the statistics are weak at this resolution."
        return head + "."


#: Most H3 levels the engine run coarsens by when even the widest bins are thin (res 9 -> 7: ~5 km² cells,
#: the largest an area still patrolled as one place).
MAX_COARSER = 2
#: Cells the rule's medians are taken over (the report's top list and the patrol plan hold 10 entries).
REFERENCE_CELLS = 10
#: Level of the reference cells' pooled test (after Benjamini-Hochberg over cells).
STAND_OUT_ALPHA = 0.05


@lru_cache(maxsize=None)
def min_trend_bins(alpha: float = 0.05) -> int:
    """Fewest bins whose Mann-Kendall test can be significant at ``alpha`` (a perfectly monotone series).

    >>> min_trend_bins()
    5
    """
    n = 3
    while mann_kendall(np.arange(n, dtype=np.float64)[None, :]).p[0] >= alpha:
        n += 1
    return n


#: The rule in one sentence (run.json ``bins.rule``, the report's header).
BIN_RULE = (f"Bins of {', '.join(map(str, BIN_WEEKS))} weeks: the narrowest at which the busiest cells that stand "
            f"out (of the {REFERENCE_CELLS} busiest, those whose neighbourhood is significantly above the area's "
            "average over the window) would, at their own steady rate, be significantly hot (Gi* Poisson tail, "
            "95 %) in the share of bins the persistent categories need (90 %; median over those cells), among "
            f"widths leaving at least {min_trend_bins()} bins (a Mann-Kendall trend can be significant); if none, "
            f"the widest, and without --res a coarser H3 resolution (at most {MAX_COARSER} levels) is tried. "
            "An explicit --bin-weeks or --res is kept.")


def _hot_threshold(e0: np.ndarray, alpha_hot: float) -> np.ndarray:
    """Fewest events ``c`` with ``P(X >= c) <= alpha_hot``, ``X ~ Poisson(e0)`` (per entry)."""
    c = np.maximum(np.floor(e0), 0.0)
    while True:  # P(X >= c) = sf(c - 1): step up until the tail is small enough (a few steps)
        above = stats.poisson.sf(c - 1, e0) > alpha_hot
        if not above.any():
            return c
        c = c + above


def choose_bin_weeks(counts: np.ndarray, cells: np.ndarray, k: int = 1, time_step: int = 1,
                     hot_share: float = 0.9, min_bins: int | None = None, alpha: float = 0.05,
                     reference_cells: int = REFERENCE_CELLS, spatial=None) -> BinChoice:
    """The narrowest bin width of :data:`BIN_WEEKS` at which the busiest cells that stand out would be
    hot in ``hot_share`` of bins at a steady rate (module docstring, "The rule").

    Parameters
    ----------
    counts : ndarray, shape (n_cells, n_weeks)
        Weekly counts of the analysed window (every cell of the study area).
    cells : ndarray of uint64
        The cube's H3 cells.
    k, time_step : int
        The Gi* neighbourhood: rings and bins looked back.
    hot_share : float
        The emerging rules' share of bins (``EmergingParams.hot_share``).
    min_bins : int, optional
        Fewest bins a width must leave (default :func:`min_trend_bins`).
    alpha : float
        Two-sided level of a significant bin (the emerging rules' class 2: 0.05).
    reference_cells : int
        How many of the busiest cells the medians are taken over (those that stand out).
    spatial : scipy.sparse matrix, optional
        ``grid.neighbour_matrix(cells, k)`` when the caller has it already.
    """
    counts = np.asarray(counts, dtype=np.float64)
    n_cells, n_weeks = counts.shape
    min_bins = min_trend_bins() if min_bins is None else min_bins
    allowed = tuple(w for w in BIN_WEEKS if n_weeks // w >= min_bins) or (1,)
    totals = counts.sum(axis=1)
    total = float(totals.sum())
    if n_cells == 0 or total <= 0:
        return BinChoice(1, False, n_weeks, hot_share, allowed=allowed)
    if spatial is None:
        spatial = grid.neighbour_matrix(np.asarray(cells, dtype=np.uint64), k)
    nsum_all = np.asarray(spatial @ totals).ravel()
    card_all = np.asarray(spatial.sum(axis=1)).ravel()
    pooled = card_all * total / n_cells
    stands_out = (benjamini_hochberg(stats.poisson.sf(nsum_all - 1, pooled)[None, :])[0] <= STAND_OUT_ALPHA) \
        & (nsum_all > pooled)
    top = np.argsort(-totals, kind="stable")[:min(reference_cells, n_cells)]
    top = top[(totals[top] > 0) & stands_out[top]]
    if len(top) == 0:
        return BinChoice(1, False, n_weeks, hot_share, allowed=allowed)
    nsum, card = nsum_all[top], card_all[top]
    power, expected = {}, {}
    for w in allowed:
        scale = w * (time_step + 1) / n_weeks
        mu, e0 = nsum * scale, card * total / n_cells * scale
        c = _hot_threshold(e0, alpha / 2)
        power[w] = float(np.median(stats.poisson.sf(c - 1, mu)))
        expected[w] = float(np.median(mu))
    chosen = next((w for w in allowed if power[w] >= hot_share), None)
    return BinChoice(chosen or allowed[-1], chosen is None, n_weeks, hot_share, power, expected, len(top),
                     float(np.median(nsum)), allowed)


_WEEK_WORD = re.compile(r"\bweek(s?)\b")


def name_bins(text: str, bin_weeks: int) -> str:
    """Reword a reason written in weeks for bins of ``bin_weeks`` weeks ("3 of 13 weeks" -> "3 of 13 fortnights").

    >>> name_bins("hot in 12 of 13 weeks including the final week", 2)
    'hot in 12 of 13 fortnights including the final fortnight'
    """
    if bin_weeks == 1:
        return text
    name = BIN_NAMES[bin_weeks]
    return _WEEK_WORD.sub(lambda m: name + m.group(1), text)
