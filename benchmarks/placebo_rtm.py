"""Why matched DiD reads a rise on plan-like null targets: a regression-to-the-mean diagnosis (issue 15).

Usage::

    python -m benchmarks.placebo_rtm [--targets 200] [--only denver chicago] [--design places cells]
                                     [--results PATH] [--quick]

Under ``python -m benchmarks.placebo --design places`` DiD and the panel regression read about
+16 % (Denver) and +43 % (Chicago) on null targets. The suspected mechanism (Daw & Hatfield
2018, Health Serv Res 53:4138) is that controls matched on a noisy pre-period level are cells
busy by chance, which fall back after the start more than a chronically busy target does. This
benchmark draws the same null targets (same seed and drawing functions as
:mod:`benchmarks.placebo`) and, for each, compares the target's and its matched controls' mean
weekly counts in four windows — ``early`` (pre-period weeks before the 26-week selection window),
``selection`` (those 26 weeks), ``post`` (up to 16 weeks from the start) and ``later`` (weeks after
the post period, never used by any estimator) — and re-runs the Poisson DiD point estimate
(:func:`analytics.evaluation.did.did_poisson`) with other control choices:

* ``matched``: the controls ``hotspots evaluate`` uses (level, trend, neighbourhood level);
* ``shrunk level``: the level feature replaced by an empirical-Bayes (gamma-Poisson) rate shrunk
  towards the cell's neighbourhood rate (:func:`shrunk_rate`), the de-noised level;
* ``pre-period shape``: √ level of each quarter of the pre-period instead of level and trend;
* ``all cells``: every cell outside the guard ring, unmatched;
* ``matched, selection window only``: the matched controls, but the DiD's before period cut to the
  26 weeks the target was chosen on (a diagnostic: the tool cannot know that window);
* ``matched, before = after length``: the same with the before period as long as the after period
  (a rule the tool could apply).

Only point estimates (no placebo p): seconds per data set. Measured, not tuned.
"""

from __future__ import annotations

import argparse
import math
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from analytics import grid
from analytics.evaluation import match_controls, neighbourhood_counts
from analytics.evaluation.did import did_poisson
from analytics.evaluation.matching import greedy_match
from benchmarks.common import replace_results_section
from benchmarks.placebo import SELECT_WEEKS, datasets, draw_place, draw_target
from benchmarks.ranking import build_cube

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
SECTION = "## Regression to the mean on plan-like null targets: diagnosis (issue 15)"
K = 20
WINDOWS = ("early", "selection", "post", "later")
VARIANTS = ("matched", "shrunk level", "pre-period shape", "all cells", "matched, selection window only",
            "matched, before = after length")


def shrunk_rate(y_pre: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """Empirical-Bayes weekly rate of each unit: its pre-period count shrunk towards ``prior`` (a rate per unit).

    Gamma-Poisson with prior mean ``prior`` and one between-unit variance v of true rates around it
    (method of moments: variance of observed rate − prior, less the Poisson part mean/T); the prior
    weighs κ = prior / v weeks, so rate = (count + κ·prior) / (T + κ).

    Examples
    --------
    >>> y = np.array([[0, 0, 0, 4.0], [1, 1, 1, 1.0], [0, 0, 0, 0.0]])
    >>> r = shrunk_rate(y, np.array([0.1, 1.0, 0.1]))
    >>> bool(r[0] < 1.0 < r[1] + 1e-9)
    True
    """
    y_pre = np.asarray(y_pre, dtype=np.float64)
    prior = np.clip(np.asarray(prior, dtype=np.float64), 1e-9, None)
    n_weeks = y_pre.shape[1]
    rate = y_pre.mean(1)
    v = max(float(np.var(rate - prior)) - float(rate.mean()) / n_weeks, 1e-12)
    kappa = prior / v
    return (y_pre.sum(1) + kappa * prior) / (n_weeks + kappa)


def _match_on(features: np.ndarray, treated: np.ndarray, pool: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Greedy nearest matches on given feature rows (as :func:`match_controls`)."""
    return greedy_match(features[treated], features[pool], pool, k, seed)


def window_means(series: np.ndarray, start: int, post_weeks: int) -> dict:
    """Mean weekly count of one series in :data:`WINDOWS` (NaN for an empty window)."""
    s = np.asarray(series, dtype=np.float64)
    cuts = {"early": (0, start - SELECT_WEEKS), "selection": (start - SELECT_WEEKS, start),
            "post": (start, start + post_weeks), "later": (start + post_weeks, len(s))}
    return {w: float(s[a:b].mean()) if b > a else math.nan for w, (a, b) in cuts.items()}


def _did(treated, control, post) -> float:
    """DiD log effect as it was when this diagnosis was written: NaN when a period total is zero (the
    +0.5 rule of :func:`analytics.evaluation.did.zero_corrected` came later, so that what "estimable"
    meant here is unchanged)."""
    t, c, post = np.asarray(treated), np.asarray(control), np.asarray(post, dtype=bool)
    if min(t[~post].sum(), t[post].sum(), c[~post].sum(), c[post].sum()) <= 0:
        return math.nan
    return did_poisson(t, c, post)[0]


def diagnose_target(y, cells, nb, start, post_weeks, place, seed) -> dict:
    """Window means of target and matched controls, and each variant's DiD log effect, for one null target."""
    treated = np.searchsorted(cells, place[np.isin(place, cells)])
    pool = np.flatnonzero(~np.isin(cells, grid.grid_disk_cells(place, 2)))
    n = start + post_weeks
    post = np.arange(n) >= start
    y_pre, nb_pre = y[:, :start], nb[:, :start]
    m = match_controls(y_pre, treated, pool, K, seed, neighbourhood=nb_pre)
    t, c = y[treated].sum(0), y[m.ravel()].sum(0) / K
    quarters = np.array_split(np.arange(start), 4)
    shape = np.column_stack([np.sqrt(y_pre[:, q].mean(1)) for q in quarters])
    half = start // 2
    trend = np.sqrt(y_pre[:, half:].mean(1)) - np.sqrt(y_pre[:, :half].mean(1))
    nb_level = np.sqrt(np.clip(nb_pre.mean(1), 0, None))
    shrunk = np.column_stack([np.sqrt(shrunk_rate(y_pre, nb_pre.mean(1))), trend, nb_level])
    ctrl = {"matched": m.ravel(), "shrunk level": _match_on(shrunk, treated, pool, K, seed).ravel(),
            "pre-period shape": _match_on(np.column_stack([shape, nb_level]), treated, pool, K, seed).ravel(),
            "all cells": pool}
    did = {name: _did(t[:n], y[rows, :n].sum(0), post) for name, rows in ctrl.items()}
    sel = np.arange(n) >= start - SELECT_WEEKS
    did["matched, selection window only"] = _did(t[:n][sel], c[:n][sel], post[sel])
    same = np.arange(n) >= start - post_weeks
    did["matched, before = after length"] = _did(t[:n][same], c[:n][same], post[same])
    return {"target": window_means(t, start, post_weeks), "controls": window_means(c, start, post_weeks),
            "did": did, "estimable": math.isfinite(did["matched"])}


def run(ev, n_targets: int, seed: int, design: str) -> dict:
    """``n_targets`` null targets drawn as :mod:`benchmarks.placebo` draws them, diagnosed and summarised."""
    y, cells, _, _ = build_cube(ev)
    ring1 = grid.neighbour_matrix(cells, 1)
    nb = neighbourhood_counts(y, ring1)
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_targets):
        if design == "cells":
            start, post_weeks, row = draw_target(y, ring1, rng)
            place = grid.grid_disk_cells(cells[[row]], 1)
        else:
            start, post_weeks, place_rows = draw_place(y, cells, rng)
            place = np.sort(cells[place_rows])
        rows.append(diagnose_target(y, cells, nb, start, post_weeks, place, seed + i))
    est = [r for r in rows if r["estimable"]]
    ratio = {}
    for w in WINDOWS:
        q = np.array([r["target"][w] / r["controls"][w] for r in est
                      if r["controls"][w] > 0 and r["target"][w] > 0 and math.isfinite(r["target"][w])])
        ratio[w] = (float(np.median(q)) if len(q) else math.nan, len(q))
    pooled = {side: {w: float(np.nanmean([r[side][w] for r in est])) if est else math.nan for w in WINDOWS}
              for side in ("target", "controls")}
    every = {side: {w: float(np.nanmean([r[side][w] for r in rows])) for w in ("selection", "post")}
             for side in ("target", "controls")}
    every["no_events_after"] = sum(r["target"]["post"] == 0 for r in rows)
    did = {}
    for v in VARIANTS:
        d = np.array([r["did"][v] for r in rows if math.isfinite(r["did"][v])])
        did[v] = (float(np.expm1(np.median(d))) if len(d) else math.nan, len(d))
    return {"name": ev.name if design == "cells" else f"{ev.name}, plan-like places", "targets": n_targets,
            "estimable": len(est), "ratio": ratio, "pooled": pooled, "every": every, "did": did}


def _pct(x: float) -> str:
    return "–" if not math.isfinite(x) else f"{x * 100:+.0f} %"


def markdown(results: list[dict], header: str) -> str:
    """The RESULTS.md section: window levels and DiD medians per control choice."""
    lines = [SECTION, "", header, "",
             "Median over estimable null targets of target ÷ matched-control mean weekly count per window "
             "(n targets with events in both); then the mean weekly counts averaged over targets "
             "(target / controls, one control group).", "",
             "| data set | estimable | " + " | ".join(WINDOWS) + " |", "|---|---|" + "---|" * len(WINDOWS)]
    for r in results:
        lines.append(f"| {r['name']} | {r['estimable']} of {r['targets']} | " + " | ".join(
            f"{r['ratio'][w][0]:.2f} (n={r['ratio'][w][1]}); {r['pooled']['target'][w]:.2f} / "
            f"{r['pooled']['controls'][w]:.2f}" for w in WINDOWS) + " |")
    lines += ["", "All null targets, estimable or not (a target without events after the start gets no estimate): "
              "mean weekly count after the start ÷ in the selection window:", "",
              "| data set | target | controls | targets without events after the start |", "|---|---|---|---|"]
    for r in results:
        e = r["every"]
        lines.append(f"| {r['name']} | ×{e['target']['post'] / e['target']['selection']:.2f} | "
                     f"×{e['controls']['post'] / e['controls']['selection']:.2f} | {e['no_events_after']} of "
                     f"{r['targets']} |")
    lines += ["", "Median DiD point estimate on the same null targets, by control choice (n estimable):", "",
              "| data set | " + " | ".join(VARIANTS) + " |", "|---|" + "---|" * len(VARIANTS)]
    for r in results:
        lines.append(f"| {r['name']} | " + " | ".join(f"{_pct(r['did'][v][0])} ({r['did'][v][1]})"
                                                    for v in VARIANTS) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.placebo_rtm", description=__doc__.splitlines()[0])
    ap.add_argument("--targets", type=int, default=200)
    ap.add_argument("--quick", action="store_true", help="20 targets, nothing written")
    ap.add_argument("--only", nargs="*", choices=("sample", "denver", "chicago"), default=["denver", "chicago"])
    ap.add_argument("--design", nargs="*", choices=("cells", "places"), default=["places", "cells"])
    ap.add_argument("--results", type=Path, default=None)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    n = min(20, args.targets) if args.quick else args.targets
    t0, results = time.perf_counter(), []
    for design in args.design:
        for _, ev in datasets(args.only):
            results.append(run(ev, n, args.seed, design))
            print(f"{results[-1]['name']}: " + "; ".join(f"{v} {_pct(x)}" for v, (x, _) in results[-1]["did"].items()),
                  flush=True)
    header = (f"Written by `python -m benchmarks.placebo_rtm --targets {n} --design {' '.join(args.design)}` on "
              f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC ({time.perf_counter() - t0:.0f} s; seed {args.seed}; "
              "the null targets of benchmarks.placebo). Windows: early = pre-period weeks before the "
              f"{SELECT_WEEKS}-week selection window, selection = those weeks, post = up to 16 weeks from the start, "
              "later = weeks after the post period (used by no estimator).")
    text = markdown(results, header)
    print(text)
    path = args.results or (None if args.quick else RESULTS)
    if path is not None:
        replace_results_section(text, path, SECTION)
        print(f"written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
