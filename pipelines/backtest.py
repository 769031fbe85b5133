"""Rolling-origin backtest of the patrol ranking (``hotspots backtest``), METHODS §9 "Hotspot accuracy".

For each of the last ``weeks`` origin weeks (each followed by a week with data), the
cells of the study area are ranked using only data up to the origin, exactly as the
weekly run ranks them for the patrol plan (:mod:`pipelines.weekly`): the hotspot engine
(:func:`analytics.engine.analyse_cube`, same parameters, but ``scan_replicates=0``
as the weekly run's previous-week step does) gives emerging categories, expected counts
and Gi* z over the ``weeks_back`` window ending at the origin; harm flags come from the
last ``harm_weeks``; :func:`analytics.patrol.rank_cells` scores them (without the
convergence term, as the weekly backtest's recomputed plan does) and ranks *every* cell
(``all_cells=True``: score, then Gi* z, then cell id). The next week's events are then
scored at 1 / 5 / 10 / 20 % of the study area's cells: hit rate, PAI, PEI* and RRI.

Baselines, ranked the same way (ties broken by a seeded random order, the expected
result of an arbitrary choice):

* ``last_week`` — the origin week's counts;
* ``kde`` — a Gaussian kernel over H3 rings (σ = 1 ring, ~350 m at resolution 9) of the
  last 13 weeks' counts (:func:`analytics.evaluation.ring_kde_scores`);
* ``window_counts`` — the counts of the whole ``weeks_back`` window (a long-run baseline).

Means over origins get percentile bootstrap intervals (origins resampled); the engine
minus ``last_week`` on PEI* at 5 % gets a paired interval, and the verdict says plainly
whether the engine beat it. Writes ``backtest.html`` (table + inline SVG plot, no URL),
``backtest.json`` and ``backtest_origins.csv``.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from markupsafe import Markup

from analytics import __version__ as TOOL_VERSION
from analytics import grid
from analytics.errors import InvalidInputError
from analytics.engine import HotspotParams, analyse_cube
from pipelines.render.html import escape_text, page_template
from analytics.evaluation import bootstrap_mean_ci, coverage_metrics, ring_kde_scores
from analytics.patrol import PatrolParams, rank_cells
from analytics.weeks import week_label
from pipelines import cube as cube_mod
from pipelines.csv_out import write_csv
from pipelines.json_out import jsonable
from pipelines.store import Store
from pipelines.weekly import validate_config

__all__ = ["run_backtest", "METHODS", "METRICS", "KDE_WEEKS"]

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
METHODS = ("engine", "last_week", "kde", "window_counts")
METHOD_LABELS = {"engine": "Engine (patrol ranking)", "last_week": "Last week's counts",
                 "kde": "KDE of last 13 weeks", "window_counts": "Counts over the window"}
METRICS = ("hit_rate", "pai", "pei_star", "rri")
KDE_WEEKS = 13
_COLOURS = {"engine": "#b2182b", "last_week": "#2166ac", "kde": "#1b7837", "window_counts": "#8073ac"}


def _order(score: np.ndarray, tiebreak: np.ndarray) -> np.ndarray:
    """Row indices by descending score, ties by ``tiebreak`` (ascending)."""
    return np.lexsort((tiebreak, -np.asarray(score, dtype=np.float64)))


def _rank_input(cells, categories, count, expected, z, harm: np.ndarray) -> pd.DataFrame:
    """The frame the weekly run passes to rank_cells (its ``_rank_frame``), without convergence."""
    return pd.DataFrame({"cell": cells, "category": np.asarray(categories), "count": count, "expected": expected,
                         "z": z, "harm_events": harm, "convergence_score": 0.0})


def _is_synthetic(store: Store) -> bool:
    rows = store.con.execute("select kind, synthetic from batches").fetchall()
    data = [r for r in rows if r[0] != "boundary"]
    return bool(data) and all(r[1] for r in data)


def run_backtest(store: Store, weeks: int = 26, coverage=(1, 5, 10, 20), out_dir: Path | str = Path("backtest"),
                 *, config: dict | None = None, last_week: str | None = None, n_boot: int = 2000, seed: int = 0,
                 progress: Callable[[int, int], None] | None = None) -> dict:
    """Run the rolling-origin backtest; write the outputs; return backtest.json's content.

    Parameters
    ----------
    store : Store
        An open store (read-only is enough).
    weeks : int
        Origins (each scored against the week after it), ending with the week before the
        last week with data (or before ``last_week``).
    coverage : sequence of numbers
        Shares of the study area's cells (%) at which to score (0 < c ≤ 100).
    config : dict, optional
        As :func:`pipelines.weekly.load_config` returns (patrol and hotspot parameters).
    progress : callable, optional
        Called with (origins done, origins total).
    """
    t_all = time.perf_counter()
    if isinstance(weeks, bool) or not isinstance(weeks, (int, np.integer)) or not 1 <= weeks <= 260:
        raise InvalidInputError(f"weeks must be an integer from 1 to 260; received {weeks!r}.")
    try:
        coverage = tuple(float(c) for c in coverage)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"coverage must be numbers like 1,5,10,20; received {coverage!r}.") from exc
    if not coverage or any(not 0 < c <= 100 for c in coverage):
        raise InvalidInputError(f"coverage values must be percentages in (0, 100]; received {list(coverage)}.")
    coverage = tuple(int(c) if float(c).is_integer() else c for c in coverage)
    cfg = validate_config(config)
    params = replace(HotspotParams(**cfg["hotspots"]), scan_replicates=0)
    pparams = PatrolParams(**cfg["patrol"])
    out_dir = Path(out_dir)
    choices: list[str] = []
    res = store.resolution

    cube_mod.prepare_events(store, res)
    row = store.con.execute("select max(week_start) from int_cell_events where cell is not null").fetchone()
    if not row or row[0] is None:
        raise InvalidInputError("The store holds no located events; ingest reports first.")
    last = pd.Timestamp(row[0]).date() if last_week is None else None
    if last_week is not None:
        from analytics.weeks import parse_week
        last = parse_week(last_week)
    else:
        choices.append(f"Last scored week set to {week_label(last)}, the last week with data.")
    first = last - timedelta(weeks=weeks + params.weeks_back - 1)
    info = cube_mod.build_cube(store, res, week_label(first), week_label(last))
    cells = np.sort(store.con.execute("select cell from cube_cells").fetchnumpy()["cell"].astype(np.uint64))
    wk = [first + timedelta(weeks=i) for i in range(info.n_weeks)]
    data_first = store.con.execute("select min(week_start) from int_cell_events where cell in "
                                   "(select cell from cube_cells)").fetchone()[0]
    if data_first is not None and pd.Timestamp(data_first).date() > first:
        raise InvalidInputError(
            f"Not enough history: {weeks} origins with a {params.weeks_back}-week window need data from "
            f"{week_label(first)}, but it starts {week_label(pd.Timestamp(data_first).date())}.\n"
            f"- fix: use fewer --weeks (at most "
            f"{max(0, (last - pd.Timestamp(data_first).date()).days // 7 - params.weeks_back + 1)}).")
    measure = params.measure
    frame = store.con.execute(
        f"select cell, week_start, {measure} as y, cse_concern_episodes, high_risk_episodes "
        f"from mart_cell_week_counts where {measure} > 0 or cse_concern_episodes > 0 or high_risk_episodes > 0").df()
    rows = np.searchsorted(cells, frame["cell"].to_numpy(dtype=np.uint64))
    cols = ((pd.to_datetime(frame["week_start"]) - pd.Timestamp(first)).dt.days // 7).to_numpy()
    counts = np.zeros((len(cells), len(wk)), dtype=np.int64)
    np.add.at(counts, (rows, cols), frame["y"].to_numpy(dtype=np.int64))
    # harm flags per cell-week: episodes with a CSE concern or high risk (as the weekly run's harm term)
    harm_counts = np.zeros((len(cells), len(wk)), dtype=np.float64)
    np.add.at(harm_counts, (rows, cols),
              (frame["cse_concern_episodes"] + frame["high_risk_episodes"]).to_numpy(dtype=np.float64))
    areas = grid.cell_area_km2(cells)
    ring1, ring2 = grid.neighbour_matrix(cells, 1), grid.neighbour_matrix(cells, 2)
    tiebreak = np.random.default_rng(seed).permutation(len(cells))
    cell_pos = {int(c): i for i, c in enumerate(cells)}

    wb = params.weeks_back
    origins = list(range(wb - 1, len(wk) - 1))       # window [o - wb + 1, o], scored week o + 1
    records = []
    timings = []
    for n_done, o in enumerate(origins):
        t0 = time.perf_counter()
        window = counts[:, o - wb + 1:o + 1]
        w_weeks = wk[o - wb + 1:o + 1]
        an = analyse_cube(window, cells, None, w_weeks, params)
        harm = harm_counts[:, max(o - cfg["harm_weeks"] + 1, o - wb + 1):o + 1].sum(1)
        rank_in = _rank_input(cells, an.emerging["category"], an.counts[:, -1], an.gi.expected[:, -1],
                              an.gi.z[:, -1], harm)
        ranked = rank_cells(rank_in, pparams, all_cells=True)
        orders = {
            "engine": np.fromiter((cell_pos[int(c)] for c in ranked["cell"].to_numpy(dtype=np.uint64)),
                                  dtype=np.int64, count=len(ranked)),
            "last_week": _order(window[:, -1], tiebreak),
            "kde": _order(ring_kde_scores(window[:, -KDE_WEEKS:].sum(1), ring1, ring2), tiebreak),
            "window_counts": _order(window.sum(1), tiebreak),
        }
        nxt, cur = counts[:, o + 1], counts[:, o]
        for method, order in orders.items():
            for r in coverage_metrics(order, nxt, cur, areas, coverage):
                records.append({"origin": week_label(wk[o]), "scored_week": week_label(wk[o + 1]), "method": method,
                                **r})
        timings.append(time.perf_counter() - t0)
        if progress:
            progress(n_done + 1, len(origins))
    per_origin = pd.DataFrame(records)

    summary = []
    rng_seed = seed
    for method in METHODS:
        for c in coverage:
            sub = per_origin[(per_origin["method"] == method) & (per_origin["coverage"] == c)].sort_values("origin")
            rowd = {"method": method, "coverage": c, "n_cells": int(sub["n_cells"].iloc[0]), "origins": len(sub)}
            vals = sub[list(METRICS)].to_numpy(dtype=np.float64)
            mean, lo, hi = bootstrap_mean_ci(vals, n_boot=n_boot, seed=rng_seed)
            for j, metric in enumerate(METRICS):
                rowd[metric] = _f(mean[j])
                rowd[f"{metric}_ci_low"] = _f(lo[j])
                rowd[f"{metric}_ci_high"] = _f(hi[j])
            summary.append(rowd)

    def pei_at(method, c):
        s = per_origin[(per_origin["method"] == method) & (per_origin["coverage"] == c)].sort_values("origin")
        return s["pei_star"].to_numpy(dtype=np.float64)

    c5 = 5 if 5 in coverage else coverage[0]
    diff = pei_at("engine", c5) - pei_at("last_week", c5)
    d_mean, d_lo, d_hi = bootstrap_mean_ci(diff, n_boot=n_boot, seed=seed + 1)
    wins = float(np.nanmean(diff > 0))
    e5, l5 = float(np.nanmean(pei_at("engine", c5))), float(np.nanmean(pei_at("last_week", c5)))
    if d_lo > 0:
        verdict = (f"Yes: at {c5} % coverage the engine's ranking beats last week's counts on PEI* "
                   f"({e5:.3f} vs {l5:.3f}; difference {d_mean:+.3f}, 95 % interval {d_lo:+.3f} to {d_hi:+.3f}; "
                   f"better in {wins:.0%} of {len(diff)} weeks).")
    elif d_hi < 0:
        verdict = (f"No: at {c5} % coverage the engine's ranking does worse than last week's counts on PEI* "
                   f"({e5:.3f} vs {l5:.3f}; difference {d_mean:+.3f}, 95 % interval {d_lo:+.3f} to {d_hi:+.3f}).")
    else:
        verdict = (f"Not shown: at {c5} % coverage the engine's PEI* ({e5:.3f}) and last week's counts' ({l5:.3f}) "
                   f"differ by {d_mean:+.3f}, and the 95 % interval ({d_lo:+.3f} to {d_hi:+.3f}) includes no "
                   "difference.")
    best = max(METHODS, key=lambda m: np.nanmean(pei_at(m, c5)))
    notes = [f"Best PEI* at {c5} % coverage: {METHOD_LABELS[best]} ({np.nanmean(pei_at(best, c5)):.3f})."]
    if best != "engine":
        notes.append("A simple baseline ranks next week's places better than the engine here: the engine is built "
                     "to flag emerging and persistent patterns (with harm flags), not only to predict counts.")
    synthetic = _is_synthetic(store)
    result = {
        "synthetic": synthetic,
        "measure": measure,
        "origins": {"n": len(origins), "first": week_label(wk[origins[0]]), "last": week_label(wk[origins[-1]])},
        "coverage": list(coverage),
        "n_cells": int(len(cells)),
        "study_area_km2": round(float(areas.sum()), 3),
        "summary": summary,
        "engine_vs_last_week": {"coverage": c5, "metric": "pei_star", "engine": _f(e5), "last_week": _f(l5),
                                "difference": _f(d_mean), "ci_low": _f(d_lo), "ci_high": _f(d_hi),
                                "share_of_weeks_engine_better": _f(wins),
                                "engine_beats_last_week": bool(d_lo > 0), "verdict": verdict},
        "notes": notes,
        "choices": choices + [f"Engine parameters as the weekly run's (weeks_back {wb}, measure {measure}), "
                              "scan_replicates 0; ranking without the convergence term."],
        "parameters": {"weeks": weeks, "weeks_back": wb, "kde_weeks": KDE_WEEKS, "kde_sigma_rings": 1.0,
                       "n_boot": n_boot, "seed": seed, "patrol": jsonable(asdict(pparams)),
                       "harm_weeks": cfg["harm_weeks"]},
        "timings_s": {"per_origin_mean": round(float(np.mean(timings)), 3)},
        "tool_version": TOOL_VERSION,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path = out_dir / "backtest_origins.csv"
    po = per_origin.copy()
    if synthetic:
        po["synthetic"] = "SYNTHETIC — not real young people"
    write_csv(po.round(6), csv_path)
    html_path, json_path = out_dir / "backtest.html", out_dir / "backtest.json"
    result["outputs"] = {"html": str(html_path), "json": str(json_path), "origins_csv": str(csv_path)}
    result["timings_s"]["total"] = round(time.perf_counter() - t_all, 3)
    html_path.write_text(page_template("backtest.html.j2").render(
        r=result, labels=METHOD_LABELS, methods=METHODS, metrics=METRICS, plot=_plot(summary, coverage),
        generated=datetime.now(timezone.utc).astimezone().strftime("%Y-%m-%d %H:%M")), encoding="utf-8")
    json_path.write_text(json.dumps(result, indent=2, default=str, allow_nan=False), encoding="utf-8")
    return result


def _f(v) -> float | None:
    return None if v is None or not math.isfinite(float(v)) else round(float(v), 4)


def _plot(summary: list[dict], coverage, width: int = 760, height: int = 300) -> Markup:
    """PEI* against coverage per method, with 95 % interval whiskers (inline SVG, no URL)."""
    L, R, T, B = 50, 170, 20, 40
    pw, ph = width - L - R, height - T - B
    cov = list(coverage)

    def X(i):
        return L + pw * (i / max(len(cov) - 1, 1))

    def Y(v):
        return T + ph - ph * v

    parts = [f'<svg class="chart" width="100%" viewBox="0 0 {width} {height}" role="img" '
             'aria-label="PEI* by area coverage"><title>PEI* by area coverage, mean over origins with 95 % '
             'intervals</title>']
    for v in (0, 0.25, 0.5, 0.75, 1.0):
        parts.append(f'<line x1="{L}" y1="{Y(v):.1f}" x2="{L + pw}" y2="{Y(v):.1f}" stroke="#ddd"/>'
                     f'<text x="{L - 5}" y="{Y(v) + 3:.1f}" font-size="10" text-anchor="end">{v:.2f}</text>')
    for i, c in enumerate(cov):
        parts.append(f'<text x="{X(i):.1f}" y="{height - B + 16}" font-size="10" text-anchor="middle">{c} %</text>')
    parts.append(f'<text x="{L + pw / 2:.1f}" y="{height - 6}" font-size="10" text-anchor="middle">share of the '
                 'study area (cells)</text>')
    for j, m in enumerate(METHODS):
        rows = [r for r in summary if r["method"] == m]
        col = _COLOURS[m]
        pts = []
        for i, r in enumerate(rows):
            if r["pei_star"] is None:
                continue
            x = X(i) + (j - 1.5) * 4
            pts.append(f"{x:.1f},{Y(r['pei_star']):.1f}")
            if r["pei_star_ci_low"] is not None:
                parts.append(f'<line x1="{x:.1f}" y1="{Y(r["pei_star_ci_low"]):.1f}" x2="{x:.1f}" '
                             f'y2="{Y(r["pei_star_ci_high"]):.1f}" stroke="{col}" stroke-width="1.2"/>')
            parts.append(f'<circle cx="{x:.1f}" cy="{Y(r["pei_star"]):.1f}" r="3" fill="{col}"/>')
        parts.append(f'<polyline fill="none" stroke="{col}" stroke-width="1.5" points="{" ".join(pts)}"/>')
        parts.append(f'<rect x="{L + pw + 14}" y="{T + 16 * j}" width="12" height="4" fill="{col}"/>'
                     f'<text x="{L + pw + 30}" y="{T + 16 * j + 5}" font-size="10">'
                     f'{escape_text(METHOD_LABELS[m])}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
