"""Out-of-sample scoring of the forecast against the simple baselines (METHODS §8–9).

A rolling-origin backtest on one cube: at each origin ``t`` every method ranks the study
area's cells from weeks ``<= t`` and is scored on the events of week ``t + 1``:

* ``forecast`` — :func:`analytics.forecast.rolling_forecasts` (fitted on earlier origins only);
* ``last_week`` — the cell's count in week ``t``;
* ``counts_26`` — the cell's count over the 26 weeks to ``t``;
* ``kde_13`` — the last 13 weeks' counts smoothed by a Gaussian over H3 rings with σ = 1
  ring (~350 m at resolution 9; :func:`analytics.evaluation.ring_kde_scores`, the same
  bandwidth as ``hotspots backtest``). The bandwidth is fixed from the street-level KDE
  literature, not tuned on the evaluation weeks.

Each ranking is scored at fixed numbers of cells (shares of the study area's cells and
plan-sized counts): events caught ``n`` (ties broken uniformly at random, in expectation —
:func:`analytics.forecast.expected_capture`), hit rate ``n/N``, PAI ``(n/N)/(m/M)`` with
``m`` cells chosen of ``M`` (H3 cells of one resolution have nearly equal areas) and PEI*
``n/n*`` (Chainey, Tompson & Uhlig 2008; Hunt 2016), using :mod:`analytics.accuracy`.
Means over origins carry percentile bootstrap intervals with origins resampled
(:func:`analytics.evaluation.bootstrap_mean_ci`).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from analytics.accuracy import hit_rate, max_capture, pai, pei_star
from analytics.errors import InvalidInputError
from analytics.evaluation import bootstrap_mean_ci, ring_kde_scores
from analytics.forecast import ForecastParams, expected_capture, rolling_forecasts

__all__ = ["BASELINES", "METHODS", "DEFAULT_SHARES", "DEFAULT_FIXED", "baseline_scores", "sizes_for",
           "backtest_forecast", "summarise_backtest", "forecast_vs_best"]

BASELINES = ("last_week", "counts_26", "kde_13")
METHODS = ("forecast",) + BASELINES
#: Shares of the study area's cells scored (0.1 %, 0.5 %, 1 %, 5 %).
DEFAULT_SHARES = (0.001, 0.005, 0.01, 0.05)
#: Plan-sized selections: 10 cells, and 10 places of a cell and its ring (7 cells each).
DEFAULT_FIXED = (10, 70)
KDE_BASELINE_WEEKS = 13
KDE_BASELINE_SIGMA = 1.0
COUNT_BASELINE_WEEKS = 26


def baseline_scores(counts, origin: int, rings) -> dict[str, np.ndarray]:
    """The three baselines' scores per cell at ``origin`` (weeks ``<= origin`` only)."""
    c = np.asarray(counts, dtype=np.float64)
    t = int(origin)
    ring1, ring2 = rings
    return {
        "last_week": c[:, t].copy(),
        "counts_26": c[:, max(0, t - COUNT_BASELINE_WEEKS + 1):t + 1].sum(axis=1),
        "kde_13": np.asarray(ring_kde_scores(c[:, max(0, t - KDE_BASELINE_WEEKS + 1):t + 1].sum(axis=1),
                                             ring1, ring2, KDE_BASELINE_SIGMA)),
    }


def sizes_for(n_cells: int, shares=DEFAULT_SHARES, fixed=DEFAULT_FIXED) -> list[tuple[str, int]]:
    """(label, number of cells) scored: ``ceil(share × n_cells)`` (at least 1) and the fixed counts."""
    out = [(f"{100 * s:g} %", max(1, math.ceil(s * n_cells))) for s in shares]
    out += [(f"{int(k)} cells", min(int(k), n_cells)) for k in fixed]
    return out


def backtest_forecast(counts, cells, origins, params: ForecastParams = ForecastParams(), rings=None,
                      exposure=None, sizes=None, progress=None) -> tuple[pd.DataFrame, list[dict]]:
    """Per-origin scores of the forecast and the baselines; also each origin's fitted choices.

    Returns ``(per_origin, choices)``: one row per origin × method × size with ``n`` (events
    caught), ``N``, ``n_star``, ``hit_rate``, ``pai``, ``pei_star``; weeks with no event next week
    score NaN (undefined) and are dropped from the means.
    """
    from analytics import grid

    c = np.asarray(counts, dtype=np.float64)
    cells = np.asarray(cells, dtype=np.uint64)
    origins = sorted(int(o) for o in origins)
    if not origins:
        raise InvalidInputError("No origins to backtest.")
    if origins[-1] + 1 >= c.shape[1]:
        raise InvalidInputError(f"The last origin ({origins[-1]}) has no next week in a {c.shape[1]}-week cube.")
    if rings is None:
        rings = (grid.neighbour_matrix(cells, 1), grid.neighbour_matrix(cells, 2))
    M = c.shape[0]
    sizes = sizes or sizes_for(M)
    fcs = rolling_forecasts(c, cells, origins, params, exposure=exposure, rings=rings, progress=progress)
    rows, choices = [], []
    for o, fc in zip(origins, fcs):
        nxt = c[:, o + 1]
        N = float(nxt.sum())
        scores = {"forecast": fc.expected, **baseline_scores(c, o, rings)}
        choices.append({"origin": o, **fc.choices})
        for label, m in sizes:
            n_star = max_capture(nxt, m)
            for method, s in scores.items():
                n = min(expected_capture(s, nxt, m), n_star)
                rows.append({"origin": o, "method": method, "size": label, "n_cells": m, "n": n, "N": N,
                             "n_star": n_star, "hit_rate": hit_rate(n, N), "pai": pai(n, N, float(m), float(M)),
                             "pei_star": pei_star(n, n_star)})
    return pd.DataFrame(rows), choices


def summarise_backtest(per_origin: pd.DataFrame, n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Mean hit rate, PAI, PEI* and events caught per week, per method and size over origins, with 95 %
    bootstrap intervals; ``n_cells`` is the mean over origins (a plan's area varies by week)."""
    out = []
    keys = ("hit_rate", "pai", "pei_star", "events_per_week")
    for (size, method), sub in per_origin.groupby(["size", "method"], sort=False):
        sub = sub.sort_values("origin")
        vals = sub[["hit_rate", "pai", "pei_star", "n"]].to_numpy(dtype=np.float64)
        mean, lo, hi = bootstrap_mean_ci(vals, n_boot=n_boot, seed=seed)
        row = {"size": size, "method": method, "n_cells": int(round(float(sub["n_cells"].mean()))),
               "origins": len(sub), "events_caught": float(sub["n"].sum()), "events": float(sub["N"].sum())}
        for j, k in enumerate(keys):
            row[k], row[f"{k}_low"], row[f"{k}_high"] = float(mean[j]), float(lo[j]), float(hi[j])
        out.append(row)
    return pd.DataFrame(out)


def forecast_vs_best(per_origin: pd.DataFrame, n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Per size: events caught by the forecast ÷ by the best baseline (most caught), with a bootstrap interval.

    At the same number of cells the PAI ratio equals this ratio of events caught. Also the
    mean PEI* of the forecast and of the best baseline by PEI*. Origins are resampled in
    pairs (the same weeks for both methods).
    """
    rows = []
    rng = np.random.default_rng(seed)
    for size, sub in per_origin.groupby("size", sort=False):
        wide = sub.pivot_table(index="origin", columns="method", values="n", aggfunc="first").sort_index()
        pei = sub.pivot_table(index="origin", columns="method", values="pei_star", aggfunc="first").sort_index()
        totals = {b: float(wide[b].sum()) for b in BASELINES}
        best = max(BASELINES, key=lambda b: (totals[b], -BASELINES.index(b)))
        f, b = wide["forecast"].to_numpy(), wide[best].to_numpy()
        idx = rng.integers(0, len(f), (n_boot, len(f)))
        with np.errstate(invalid="ignore", divide="ignore"):
            boots = f[idx].sum(1) / b[idx].sum(1)
        ratio = float(f.sum() / b.sum()) if b.sum() > 0 else math.nan
        lo, hi = np.nanquantile(boots, [0.025, 0.975]) if np.isfinite(boots).any() else (math.nan, math.nan)
        # PEI* is undefined (NaN) at an origin without next-week events; a method NaN at every origin keeps its column
        pei_means = pei.reindex(columns=wide.columns).mean(axis=0, skipna=True)
        best_pei = max(BASELINES, key=lambda m: (-math.inf if math.isnan(pei_means[m]) else pei_means[m],
                                                 -BASELINES.index(m)))
        rows.append({"size": size, "n_cells": int(sub["n_cells"].iloc[0]), "best_baseline": best,
                     "forecast_caught": float(f.sum()), "best_caught": float(b.sum()), "ratio": ratio,
                     "ratio_low": float(lo), "ratio_high": float(hi),
                     "forecast_pei_star": float(pei_means["forecast"]), "best_pei_baseline": best_pei,
                     "best_pei_star": float(pei_means[best_pei])})
    return pd.DataFrame(rows)
