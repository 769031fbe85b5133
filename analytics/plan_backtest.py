"""Honest rolling-origin backtest of the patrol plan against the simple baselines (issue 14, item 5).

At every origin week ``t`` (each followed by a week with data) the backtest rebuilds what the
weekly job would have issued from what was known at the end of week ``t`` — the forecast of
next week's events per cell (:func:`analytics.forecast.forecast_next_week`, fitted on earlier
origins only) grouped into plan entries by a *plan builder* — and scores it on week ``t + 1``
against three baselines that an analyst could use by hand:

* ``last_week`` — the cell's count in week ``t``;
* ``counts_26`` — the cell's count over the 26 weeks to ``t``;
* ``kde_13`` — the last 13 weeks' counts smoothed over H3 rings (σ = 1 ring,
  :func:`analytics.evaluation.ring_kde_scores`; fixed, not tuned on the evaluation weeks).

Sizes scored (the *same area* for every method):

* ``plan area`` — the plan's own cells (``m`` = the number of cells of its entries): the plan
  is scored on its actual cells; each baseline on its top ``m`` cells;
* ``0.1 %``, ``0.5 %``, ``1 %``, ``5 %`` of the study area's cells — the forecast's top cells
  and each baseline's.

Same exclusions for everyone: cells withheld by the safeguarding rules at an origin
(``withheld_at``) are never chosen by any method, and ``n*`` (the best any selection of
``m`` allowed cells could have caught) is over allowed cells only. ``N`` (all events next
week) and ``M`` (all cells) are the whole study area's, so hit rate and PAI read as usual.
Ties in a baseline's ranking count in expectation (:func:`analytics.forecast.expected_capture`).

What is known at an origin is one function, ``cube_at(t)`` (cells × weeks ``0..t``, as
reported by the end of week ``t``): with the default (``None``) the cube itself is sliced;
a caller whose reports carry ``reported_at`` passes a function that removes what was
reported later. The outcome (week ``t + 1``) is always scored on the final cube.

Pure computation: numpy, pandas (no files, no DuckDB).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from analytics.accuracy import hit_rate, max_capture, pai, pei_star
from analytics.errors import InvalidInputError
from analytics.forecast import ForecastParams, expected_capture, forecast_next_week, rolling_forecasts
from analytics.forecast_eval import BASELINES, baseline_scores, forecast_vs_best, summarise_backtest

__all__ = ["METHODS", "METHOD_WORDS", "PLAN_SIZE", "DEFAULT_SHARES", "PlanBuilder", "PlanBacktest",
           "greedy_places", "backtest_plan", "share_label", "headline"]

METHODS = ("forecast",) + BASELINES
#: Each method in plain words (column headers and headlines).
METHOD_WORDS = {"forecast": "the forecast plan", "last_week": "last week's counts", "counts_26": "26-week counts",
                "kde_13": "a 13-week KDE"}
#: The size label of the plan's own area.
PLAN_SIZE = "plan area"
#: Shares of the study area's cells scored: 0.1 %, 0.5 %, 1 %, 5 %.
DEFAULT_SHARES = (0.001, 0.005, 0.01, 0.05)

#: ``builder(expected, allowed) -> entries``: ``expected`` next-week events per cell (study-area
#: order), ``allowed`` a boolean mask (False = withheld); returns the plan's entries best first, each
#: an array of row indices (its cells).
PlanBuilder = Callable[[np.ndarray, np.ndarray], list]


def share_label(share: float) -> str:
    """``0.005`` → ``"0.5 %"``."""
    return f"{100 * share:g} %"


def greedy_places(rings, n_entries: int = 10, max_cells: int = 7, neighbour_share: float = 0.5) -> PlanBuilder:
    """A stand-in plan builder: places grown from the highest-forecast cells.

    Each entry starts at the best allowed cell not yet used and takes its ring-1 neighbours
    (allowed, unused) whose forecast is at least ``neighbour_share`` of the seed's, best first,
    up to ``max_cells`` cells; ``n_entries`` entries at most, only cells with a positive forecast.
    """
    ring1 = rings[0].tocsr()

    def build(expected: np.ndarray, allowed: np.ndarray) -> list[np.ndarray]:
        mu = np.asarray(expected, dtype=np.float64)
        used = ~np.asarray(allowed, dtype=bool) | (mu <= 0)
        entries = []
        for seed in np.lexsort((np.arange(mu.size), -mu)):
            if len(entries) >= n_entries:
                break
            if used[seed]:
                continue
            nb = ring1.indices[ring1.indptr[seed]:ring1.indptr[seed + 1]]
            nb = nb[(nb != seed) & ~used[nb] & (mu[nb] >= neighbour_share * mu[seed])]
            nb = nb[np.lexsort((nb, -mu[nb]))][:max_cells - 1]
            entry = np.concatenate([[seed], nb]).astype(np.int64)
            used[entry] = True
            entries.append(entry)
        return entries

    return build


@dataclass(frozen=True)
class PlanBacktest:
    """Results of :func:`backtest_plan`.

    ``per_origin``: one row per origin × size × method (``n`` events caught, ``N``, ``n_star``,
    ``hit_rate``, ``pai``, ``pei_star``, ``n_cells``); ``plans``: one row per origin (entries,
    cells, entries with an event next week, expected vs caught, withheld cells);
    ``choices``: the forecast's fitted choices per origin.
    """

    per_origin: pd.DataFrame
    plans: pd.DataFrame
    choices: list = field(default_factory=list)

    def summary(self, n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
        """Means over origins with 95 % bootstrap intervals (:func:`analytics.forecast_eval.summarise_backtest`)."""
        return summarise_backtest(self.per_origin, n_boot=n_boot, seed=seed)

    def versus(self, n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
        """Per size: the forecast ÷ the best baseline (events caught = PAI ratio) and PEI* of both."""
        return forecast_vs_best(self.per_origin, n_boot=n_boot, seed=seed)


def _masked(scores: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    s = np.asarray(scores, dtype=np.float64).copy()
    s[~allowed] = -np.inf
    return s


def _score_row(origin, size, method, m, n, N, n_star, M) -> dict:
    n = min(float(n), float(n_star)) if m > 0 else 0.0
    return {"origin": origin, "size": size, "method": method, "n_cells": int(m), "n": n, "N": N, "n_star": n_star,
            "hit_rate": hit_rate(n, N) if m > 0 else math.nan, "pai": pai(n, N, float(m), float(M)),
            "pei_star": pei_star(n, n_star) if m > 0 else math.nan}


def backtest_plan(counts, cells, origins, *, params: ForecastParams = ForecastParams(),
                  plan_builder: PlanBuilder | None = None, rings=None, shares=DEFAULT_SHARES,
                  cube_at: Callable[[int], np.ndarray] | None = None,
                  withheld_at: Callable[[int, dict], np.ndarray] | None = None,
                  progress: Callable[[int, int], None] | None = None, exposure=None,
                  covariates=None) -> PlanBacktest:
    """Score the plan and the forecast's top cells against the baselines at each origin.

    Parameters
    ----------
    counts : array (cells × weeks)
        The final cube (outcomes are read from it).
    cells : array of uint64
        The study area's H3 cells (rows of ``counts``).
    origins : iterable of int
        Week indices ``t`` scored on ``t + 1``; each needs a next week in ``counts``.
    plan_builder : PlanBuilder, optional
        The weekly job's grouping of forecast cells into entries (default :func:`greedy_places`).
    cube_at : callable, optional
        ``cube_at(t)`` → counts of weeks ``0..t`` as known at the end of week ``t`` (see the
        module notes); default: ``counts[:, :t + 1]``.
    withheld_at : callable, optional
        ``withheld_at(t, scores)`` → boolean mask of cells withheld at origin ``t``; ``scores``
        maps each method to its per-cell scores (so a caller can assess only the cells that
        could be chosen). Default: nothing withheld.
    exposure, covariates : optional
        Passed to the forecast (:func:`analytics.forecast.forecast_next_week`): exposure per cell
        and week of ``counts`` (or per cell), static per-cell covariates (e.g. place categories).
    """
    from analytics import grid

    c = np.asarray(counts, dtype=np.float64)
    cells = np.asarray(cells, dtype=np.uint64)
    if c.ndim != 2 or c.shape[0] != cells.shape[0]:
        raise InvalidInputError(f"counts must be cells × weeks with one row per cell; received {c.shape}.")
    origins = sorted(int(o) for o in origins)
    if not origins:
        raise InvalidInputError("No origins to backtest.")
    if origins[-1] + 1 >= c.shape[1]:
        raise InvalidInputError(f"The last origin ({origins[-1]}) has no next week in a {c.shape[1]}-week cube.")
    shares = tuple(float(s) for s in shares)
    if any(not 0 < s <= 1 for s in shares):
        raise InvalidInputError(f"shares must be in (0, 1]; received {list(shares)}.")
    if rings is None:
        rings = (grid.neighbour_matrix(cells, 1), grid.neighbour_matrix(cells, 2))
    builder = plan_builder or greedy_places(rings)
    M = c.shape[0]
    sizes = [(share_label(s), max(1, math.ceil(s * M))) for s in shares]

    if cube_at is None:  # one pass: features computed once, each fit sees only its past (the slow part)
        forecasts = rolling_forecasts(c, cells, origins, params, rings=rings, progress=progress, exposure=exposure,
                                      covariates=covariates)
    else:
        forecasts = None
    rows, plans, choices, state = [], [], [], {}
    for i, o in enumerate(origins):
        known = c[:, :o + 1] if cube_at is None else np.asarray(cube_at(o), dtype=np.float64)
        if known.shape != (M, o + 1):
            raise InvalidInputError(f"cube_at({o}) must return {M} × {o + 1} counts; received {known.shape}.")
        if forecasts is not None:
            fc = forecasts[i]
        else:  # the cube as reported by o: features per origin; model choice and warm starts carried over
            e = None if exposure is None or np.ndim(exposure) == 1 else np.asarray(exposure)[:, :o + 1]
            fc = forecast_next_week(known, cells, o, params, rings=rings, state=state, exposure=e,
                                    covariates=covariates)
        scores = {"forecast": fc.expected, **baseline_scores(known, o, rings)}
        withheld = np.zeros(M, dtype=bool) if withheld_at is None else np.asarray(withheld_at(o, scores), bool)
        if withheld.shape != (M,):
            raise InvalidInputError(f"withheld_at({o}) must return one flag per cell ({M}).")
        allowed = ~withheld
        nxt = c[:, o + 1]
        N = float(nxt.sum())
        nxt_allowed = np.where(allowed, nxt, 0.0)
        masked = {k: _masked(v, allowed) for k, v in scores.items()}
        n_allowed = int(allowed.sum())

        entries = [np.asarray(e, dtype=np.int64) for e in builder(fc.expected, allowed)]
        plan_cells = np.unique(np.concatenate(entries)) if entries else np.array([], dtype=np.int64)
        if plan_cells.size and withheld[plan_cells].any():
            raise InvalidInputError(f"The plan builder chose a withheld cell at origin {o}.")
        m = int(plan_cells.size)
        n_star = max_capture(nxt_allowed, m) if m else 0.0
        rows.append(_score_row(o, PLAN_SIZE, "forecast", m, nxt[plan_cells].sum(), N, n_star, M))
        for b in BASELINES:
            got = expected_capture(masked[b], nxt_allowed, min(m, n_allowed)) if m else 0.0
            rows.append(_score_row(o, PLAN_SIZE, b, m, got, N, n_star, M))
        for label, k in sizes:
            k = min(k, n_allowed)
            n_star_k = max_capture(nxt_allowed, k)
            for method, s in masked.items():
                rows.append(_score_row(o, label, method, k, expected_capture(s, nxt_allowed, k), N, n_star_k, M))
        plans.append({"origin": o, "entries": len(entries), "cells": m,
                      "entries_with_event": int(sum(nxt[e].sum() > 0 for e in entries)),
                      "expected": float(fc.expected[plan_cells].sum()), "caught": float(nxt[plan_cells].sum()),
                      "events": N, "withheld_cells": int(withheld.sum())})
        choices.append({"origin": o, **fc.choices})
        if progress and forecasts is None:
            progress(i + 1, len(origins))
    return PlanBacktest(pd.DataFrame(rows), pd.DataFrame(plans), choices)


def _fmt_ratio(r) -> str:
    return f"{r['ratio']:.2f} (95 % interval {r['ratio_low']:.2f}–{r['ratio_high']:.2f})"


def headline(summary: pd.DataFrame, versus: pd.DataFrame, size: str = PLAN_SIZE) -> str:
    """One plain sentence naming the method that caught the most next-week events at ``size``.

    Names a baseline when a baseline wins (e.g. "26-week counts caught the most …"), and gives
    the forecast plan's ratio to the best baseline with its interval.
    """
    sub = summary[summary["size"] == size]
    if sub.empty:
        raise InvalidInputError(f"No scores at size {size!r}.")
    caught = dict(zip(sub["method"], sub["events_caught"]))
    best = max(METHODS, key=lambda k: (caught.get(k, -1.0), -METHODS.index(k)))
    vs = versus.set_index("size").loc[size]
    where = "in the plan's own area" if size == PLAN_SIZE else f"in {size} of the study area"
    cells = int(sub["n_cells"].iloc[0])
    total = float(sub["events"].iloc[0])
    first = (f"{METHOD_WORDS[best][0].upper()}{METHOD_WORDS[best][1:]} caught the most next-week events "
             f"{where} ({cells} cells): {caught[best]:.0f} of {total:.0f}")
    if best == "forecast":
        runner = vs["best_baseline"]
        if caught[runner] >= caught["forecast"] - 1e-9:
            return (f"The forecast plan and {METHOD_WORDS[runner]} tied for the most next-week events {where} "
                    f"({cells} cells): {caught['forecast']:.0f} of {total:.0f} each (ratio {_fmt_ratio(vs)}).")
        return (f"{first}, against {caught[runner]:.0f} by {METHOD_WORDS[runner]}, the best baseline "
                f"(ratio {_fmt_ratio(vs)}).")
    return (f"{first}; the forecast plan caught {caught['forecast']:.0f} (ratio to the best baseline "
            f"{_fmt_ratio(vs)}).")
