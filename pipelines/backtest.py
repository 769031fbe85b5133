"""``hotspots backtest``: the honest rolling-origin backtest of the patrol plan (issue 14 item 5, METHODS §9).

At each of the last ``weeks`` origin weeks (each followed by a week with data) it rebuilds
the plan the weekly job would have issued from what was known then — the forecast of next
week's events per cell (:mod:`analytics.forecast`, fitted on earlier origins only) grouped
into places (:func:`plan_builder`) — and scores the plan's entries and area, and the
forecast's top 0.1 / 0.5 / 1 / 5 % of the study area, against last week's counts, 26-week
counts and a 13-week KDE on the same area with the same exclusions
(:func:`analytics.plan_backtest.backtest_plan`):

* **Withheld cells** — at each origin the safeguarding rules (:mod:`analytics.safeguarding`,
  rules a and b, sources over the 8 weeks to the origin; no scan clusters, as the scan is not
  rerun) are applied to every cell any method could choose; a withheld cell is chosen by no
  method.
* **What was known** — :func:`cube_at_origin`: counts of weeks up to the origin as reported by
  its end (:mod:`pipelines.as_reported`, one pass for every origin). When reports carry
  ``reported_at``, a report observed by the origin but reported in a later week is left out
  (the ``reported_by`` hook); outcomes are scored on the final data.

Writes (via :mod:`pipelines.layout`, in the owner-only ``analyst/`` subfolder of ``--out``)
``backtest.html`` (headline, table with column headers in words, inline SVG plot),
``backtest.json``, ``backtest_summary.csv``, ``backtest_origins.csv`` and ``backtest_plans.csv``.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from markupsafe import Markup

from analytics import __version__ as TOOL_VERSION
from analytics import grid
from analytics.errors import InvalidInputError
from analytics.engine import HotspotParams
from analytics.forecast import ForecastParams
from analytics.patrol import PatrolParams
from analytics.plan_backtest import (DEFAULT_SHARES, METHOD_WORDS, METHODS, PLAN_SIZE, PlanBacktest, backtest_plan,
                                     headline, share_label)
from analytics.weeks import parse_week, week_label
from pipelines import as_reported
from pipelines import cube as cube_mod
from pipelines import layout
from pipelines.csv_out import write_csv
from pipelines.forecast_inputs import forecast_inputs
from pipelines.json_out import jsonable
from pipelines.render.html import escape_text, page_template
from pipelines.store import Store
from pipelines.weekly import validate_config

__all__ = ["run_backtest", "cube_at_origin", "store_reported_by", "plan_builder", "METHODS", "DEFAULT_COVERAGE",
           "SUMMARY_COLUMNS", "MIN_HISTORY", "withheld_mask"]

#: Default shares of the study area scored, in % (0.1, 0.5, 1, 5).
DEFAULT_COVERAGE = tuple(round(100 * s, 3) for s in DEFAULT_SHARES)
#: Weeks of data needed before the first origin besides the forecast's ``min_train_origins``.
MIN_HISTORY = 8
#: Longest look-back of the forecast's features (weeks); history beyond it is not read.
_MAX_LOOKBACK = 52
_COLOURS = {"forecast": "#b2182b", "last_week": "#2166ac", "counts_26": "#8073ac", "kde_13": "#1b7837"}
#: Column headers in words: summary table (terminal, HTML, CSV).
SUMMARY_COLUMNS = {
    "size": "Area", "method": "Method", "n_cells": "Cells", "origins": "Origin weeks",
    "events_caught": "Events caught (all weeks)", "events": "Events next week (all weeks)",
    "events_per_week": "Events caught per week", "events_per_week_low": "Events caught per week, 95 % low",
    "events_per_week_high": "Events caught per week, 95 % high",
    "hit_rate": "Hit rate", "hit_rate_low": "Hit rate, 95 % low", "hit_rate_high": "Hit rate, 95 % high",
    "pai": "PAI", "pai_low": "PAI, 95 % low", "pai_high": "PAI, 95 % high",
    "pei_star": "PEI*", "pei_star_low": "PEI*, 95 % low", "pei_star_high": "PEI*, 95 % high",
}
_ORIGIN_COLUMNS = {"origin_week": "Origin week", "scored_week": "Scored week", "size": "Area", "method": "Method",
                   "n_cells": "Cells", "n": "Events caught", "N": "Events in the study area",
                   "n_star": "Most events any allowed cells could catch", "hit_rate": "Hit rate", "pai": "PAI",
                   "pei_star": "PEI*"}
_PLAN_COLUMNS = {"origin_week": "Origin week", "entries": "Plan entries", "cells": "Plan cells",
                 "entries_with_event": "Entries with an event next week", "expected": "Events expected in the plan",
                 "caught": "Events caught by the plan", "events": "Events in the study area",
                 "withheld_cells": "Cells withheld (safeguarding)"}
#: Output keys of :mod:`pipelines.layout` this command writes.
BACKTEST_OUTPUTS = ("backtest_html", "backtest_json", "backtest_summary_csv", "backtest_origins_csv",
                    "backtest_plans_csv")


def method_label(method: str) -> str:
    """``"counts_26"`` → ``"26-week counts"`` (capitalised words)."""
    w = METHOD_WORDS[method]
    w = w[2:] if w.startswith("a ") else w
    return w[0].upper() + w[1:]


# ------------------------------------------------------------------------------------------ hooks
def plan_builder(cells: np.ndarray, rings, pparams: PatrolParams) -> tuple[Callable, str]:
    """The weekly job's grouping of forecast cells into plan entries, and a line saying which it is.

    The one place the backtest learns how the weekly job groups cells:
    :func:`analytics.plan_places.group_places` with the plan's ``n_cells`` entries (each a
    connected place of at most 7 cells; withheld cells never part of one).
    """
    from analytics.plan_places import MAX_PLACE_CELLS, group_places

    order = np.argsort(cells)

    def build(expected: np.ndarray, allowed: np.ndarray) -> list[np.ndarray]:
        places = group_places(pd.Series(np.asarray(expected, dtype=np.float64), index=cells),
                              withheld=cells[~allowed], n=pparams.n_cells)
        out = []
        for members in places["cells"]:
            m = np.asarray(members, dtype=np.uint64)
            out.append(order[np.searchsorted(cells, m, sorter=order)])
        return out

    return build, (f"Plan entries: the weekly job's places (analytics.plan_places.group_places): up to "
                   f"{pparams.n_cells} connected places of at most {MAX_PLACE_CELLS} cells grown from the "
                   "highest-forecast cells.")


def store_reported_by(store: Store, resolution: int, measure: str,
                      weeks: list[date]) -> Callable[[int], pd.DataFrame] | None:
    """The ``reported_by`` hook: ``hook(t)`` → reports counted in weeks ``<= t`` that were reported after week ``t``.

    Returns None when reports carry no ``reported_at`` (or the measure counts no report):
    then everything in the cube counts as known at its week's end. The frame has ``week``
    (week index) and ``cell``. The one implementation is :mod:`pipelines.as_reported`.
    """
    if not measure.startswith("reports"):
        return None
    late = as_reported.late_reports(store, resolution, weeks)
    return None if late is None else late.for_measure(measure)


#: Counts of weeks ``0..origin`` as known at the end of week ``origin``
#: (:func:`pipelines.as_reported.counts_as_reported`).
cube_at_origin = as_reported.counts_as_reported


def withheld_mask(cells: np.ndarray, events: pd.DataFrame, near: pd.DataFrame, links: pd.DataFrame,
                  min_sources: int | None = None) -> np.ndarray:
    """Cells the safeguarding rules (a) and (b) withhold, for every cell at once (no scan clusters).

    The same decision as :func:`analytics.safeguarding.assess_cells` without scan clusters
    (tested on the sample), computed with joins instead of a loop over (cell, placement)
    pairs, so that a backtest can apply it to the whole study area at every origin.
    ``events``: ``cell``, ``person_key``, ``placement_key``, ``kind``, ``source`` of the counted
    weeks; ``near``: :func:`analytics.safeguarding.cells_near_placements` of ``cells``;
    ``links``: :func:`pipelines.placements.person_placements`.
    """
    from analytics import safeguarding

    k = safeguarding.MIN_UNLINKED_SOURCES if min_sources is None else min_sources
    cells = np.asarray(cells, dtype=np.uint64)
    ev = events[events["cell"].isin(cells)]
    named = ev["person_key"].notna().to_numpy()
    people = ev.loc[named, ["cell", "person_key"]].drop_duplicates()
    young = people.groupby("cell").size().reindex(cells, fill_value=0).to_numpy()
    unnamed = ev[~named].groupby("cell").size().reindex(cells, fill_value=0).to_numpy()
    rule_a = (young + unnamed < k) & (young >= 1)
    if near.empty:
        return rule_a
    pairs = safeguarding.unlinked_sources(ev, near, links)
    low = pairs.groupby("cell")["unlinked"].min()
    rule_b = (low.reindex(cells).to_numpy() < k)  # NaN (no placement in reach) compares False
    return rule_a | rule_b


def _withheld_hook(store: Store, cells: np.ndarray, weeks: list[date]):
    """``withheld_at(t, scores)``: the safeguarding rules at origin ``t`` on every cell of the study area.

    Sources are counted over the :data:`analytics.safeguarding.DEFAULT_SOURCE_WEEKS` weeks to
    the origin. Returns None when the store names no young person and knows no placement
    (nothing can be withheld).
    """
    from analytics import safeguarding
    from pipelines.placements import known_and_derived_placements, person_placements

    placements = known_and_derived_placements(store)
    links = person_placements(store)
    ev = store.con.execute(
        "select cell, week_start, person_key, placement_key, kind, source from int_cell_events "
        "where event <> 'episode_started' and cell is not null and week_start between $a and $b",
        {"a": weeks[0], "b": weeks[-1]}).df()
    if placements.empty and ev["person_key"].isna().all():
        return None
    ev["cell"] = ev["cell"].astype(np.uint64)
    ev["w"] = ((pd.to_datetime(ev["week_start"]) - pd.Timestamp(weeks[0])).dt.days // 7).to_numpy()
    ev = ev.drop(columns="week_start")
    near = safeguarding.cells_near_placements(cells, placements)

    def withheld_at(t: int, scores: dict) -> np.ndarray:
        recent = ev[(ev["w"] <= t) & (ev["w"] > t - safeguarding.DEFAULT_SOURCE_WEEKS)]
        return withheld_mask(cells, recent, near, links)

    return withheld_at


# ------------------------------------------------------------------------------------------ run
#: Backtest speed-ups over the weekly job's forecast (26 origins at 1 M reports ≤ 5 min, issue 14): the model
#: is chosen by inner validation at every 4th origin and refitted at every origin; the linear model's refits
#: start from the previous origin's coefficients (60 updates instead of 300 from scratch). See analytics.forecast.
BACKTEST_SPEEDUPS = {"reselect_every": 4, "warm_iters": 60}


def _weekly_forecast_params() -> ForecastParams:
    """The forecast settings the weekly job uses (``pipelines.weekly.WEEKLY_FORECAST`` when it defines them),
    with :data:`BACKTEST_SPEEDUPS`."""
    from pipelines import weekly
    return replace(getattr(weekly, "WEEKLY_FORECAST", ForecastParams()), **BACKTEST_SPEEDUPS)


def _is_synthetic(store: Store) -> bool:
    rows = store.con.execute("select kind, synthetic from batches").fetchall()
    data = [r for r in rows if r[0] != "boundary"]
    return bool(data) and all(r[1] for r in data)


def _check_options(weeks, coverage) -> tuple[float, ...]:
    if isinstance(weeks, bool) or not isinstance(weeks, (int, np.integer)) or not 1 <= weeks <= 260:
        raise InvalidInputError(f"weeks must be an integer from 1 to 260; received {weeks!r}.")
    try:
        coverage = tuple(float(c) for c in coverage)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"coverage must be percentages like 0.1,0.5,1,5; received {coverage!r}.") from exc
    if not coverage or any(not (math.isfinite(c) and 0 < c <= 100) for c in coverage):
        raise InvalidInputError(f"coverage values must be percentages in (0, 100]; received {list(coverage)}.")
    return tuple(sorted(set(coverage)))


def run_backtest(store: Store, weeks: int = 26, coverage=DEFAULT_COVERAGE, out_dir: Path | str = Path("backtest"),
                 *, config: dict | None = None, last_week: str | None = None, n_boot: int = 2000, seed: int = 0,
                 forecast_params: ForecastParams | None = None, progress: Callable[[int, int], None] | None = None
                 ) -> dict:
    """Run the rolling-origin backtest of the plan; write the outputs; return backtest.json's content.

    Parameters
    ----------
    store : Store
        An open store (read-only is enough).
    weeks : int
        Origins, each scored against the week after it, ending with the week before the last
        week with data (or before ``last_week``).
    coverage : sequence of numbers
        Shares of the study area's cells (%) scored besides the plan's own area.
    config : dict, optional
        As :func:`pipelines.weekly.load_config` returns (plan size, measure).
    forecast_params : ForecastParams, optional
        The forecast's choices (default: the weekly job's, ``pipelines.weekly.WEEKLY_FORECAST``
        when defined, else :class:`analytics.forecast.ForecastParams` defaults).
    progress : callable, optional
        Called with (origins done, origins total).
    """
    t_all = time.perf_counter()
    coverage = _check_options(weeks, coverage)
    cfg = validate_config(config)
    hp = HotspotParams(**cfg["hotspots"])
    pparams = PatrolParams(**cfg["patrol"])
    fparams = forecast_params or _weekly_forecast_params()
    if forecast_params is None and cfg.get("forecast_places") is not None:  # the weekly config's switch
        fparams = replace(fparams, places=bool(cfg["forecast_places"]))
    measure = hp.measure
    out_dir = Path(out_dir)
    choices: list[str] = []
    res = cube_mod.prepare_events(store, hp.resolution)

    row = store.con.execute("select min(week_start), max(week_start) from int_cell_events "
                            "where cell is not null").fetchone()
    if not row or row[1] is None:
        raise InvalidInputError("The store holds no located events; ingest reports first.")
    data_first = pd.Timestamp(row[0]).date()
    if last_week is None:
        last = pd.Timestamp(row[1]).date()
        choices.append(f"Last scored week: {week_label(last)}, the last week with data.")
    else:
        last = parse_week(last_week)
    first_origin = last - timedelta(weeks=weeks)
    need = MIN_HISTORY + fparams.min_train_origins
    if (first_origin - data_first).days // 7 < need:
        avail = max(0, (last - data_first).days // 7 - need)
        raise InvalidInputError(
            f"Not enough history: {weeks} origin weeks need data from "
            f"{week_label(first_origin - timedelta(weeks=need))} "
            f"({need} weeks before the first origin to fit the forecast), but it starts {week_label(data_first)}.\n"
            f"- fix: use fewer --weeks (at most {avail}).")
    first = max(data_first, first_origin - timedelta(weeks=fparams.train_origins + _MAX_LOOKBACK))
    cube_mod.build_cube(store, res, week_label(first), week_label(last), events_ready=True)
    cells, counts, exposure, wk = cube_mod.cube_arrays(store, measure)
    counts = np.asarray(counts, dtype=np.float64)
    wk = [pd.Timestamp(w).date() for w in wk]
    origins = list(range(len(wk) - 1 - weeks, len(wk) - 1))
    rings = (grid.neighbour_matrix(cells, 1), grid.neighbour_matrix(cells, 2))
    builder, builder_note = plan_builder(cells, rings, pparams)
    choices.append(builder_note)
    shares = tuple(c / 100 for c in coverage)
    withheld_at = _withheld_hook(store, cells, wk)
    reported_by = store_reported_by(store, res, measure, wk)
    if reported_by is None:
        choices.append("Each origin sees the cube up to its week (reports carry no later reported_at).")
        cube_at = None
    else:
        choices.append("Each origin sees only the reports reported by the end of its week (reported_at); outcomes "
                       "are scored on everything reported since.")

        def cube_at(t: int) -> np.ndarray:
            return cube_at_origin(counts, cells, t, reported_by)

    inputs = forecast_inputs(store, cells, exposure, fparams)
    bt = backtest_plan(counts, cells, origins, params=fparams, plan_builder=builder, rings=rings, shares=shares,
                       cube_at=cube_at, withheld_at=withheld_at, progress=progress, exposure=inputs.exposure,
                       covariates=inputs.covariates)
    result = _result(store, bt, wk, origins, cells, coverage, measure, fparams, pparams, n_boot, seed, choices,
                     withheld_at is not None)
    result["forecast_inputs"] = inputs.record()
    result["timings_s"] = {"total": round(time.perf_counter() - t_all, 3)}
    _write(result, bt, wk, out_dir)
    return result


def _summary_records(summary: pd.DataFrame) -> list[dict]:
    out = []
    for r in summary.to_dict("records"):
        out.append({k: (_f(v) if isinstance(v, float) else v) for k, v in r.items()})
    return out


def _result(store, bt: PlanBacktest, wk, origins, cells, coverage, measure, fparams, pparams, n_boot, seed,
            choices, safeguarded: bool) -> dict:
    summary = bt.summary(n_boot=n_boot, seed=seed)
    versus = bt.versus(n_boot=n_boot, seed=seed + 1)
    size_labels = [PLAN_SIZE] + [share_label(c / 100) for c in coverage]
    one = "1 %" if "1 %" in size_labels else size_labels[1]
    head = headline(summary, versus, PLAN_SIZE)
    v1 = versus.set_index("size").loc[one]
    pei_line = (f"PEI* at {one} of the study area: the forecast {v1['forecast_pei_star']:.3f}, the best baseline "
                f"({METHOD_WORDS[v1['best_pei_baseline']]}) {v1['best_pei_star']:.3f}.")
    vp = versus.set_index("size").loc[PLAN_SIZE]
    targets = {"plan_area_ratio": _f(vp["ratio"]), "plan_area_ratio_low": _f(vp["ratio_low"]),
               "plan_area_ratio_high": _f(vp["ratio_high"]), "best_baseline": vp["best_baseline"],
               "pei_star_1pct_forecast": _f(v1["forecast_pei_star"]), "pei_star_1pct_best": _f(v1["best_pei_star"]),
               "pei_star_1pct_best_baseline": v1["best_pei_baseline"]}
    targets["met"] = bool(vp["ratio"] >= 1.1 and v1["forecast_pei_star"] >= v1["best_pei_star"])
    models = pd.Series([c.get("model") for c in bt.choices]).value_counts().to_dict()
    plans = bt.plans
    choices = choices + [
        "Baselines: last week's counts; counts over the 26 weeks to the origin; a KDE (Gaussian over H3 rings, "
        "σ = 1 ring, ~350 m at resolution 9) of the last 13 weeks. Ties in a baseline count in expectation.",
        "Same area for every method: in the plan's area each baseline takes as many cells as the plan has.",
        ("Safeguarding: at each origin the rules (repeat missing; near a placement) were applied to every cell a "
         "method could choose; withheld cells were chosen by no method." if safeguarded else
         "Safeguarding: the store names no young person and knows no placement, so no cell could be withheld."),
        f"Forecast fitted at each origin on earlier origins only (models chosen: {models}).",
    ]
    return {
        "synthetic": _is_synthetic(store),
        "measure": measure,
        "origins": {"n": len(origins), "first": week_label(wk[origins[0]]), "last": week_label(wk[origins[-1]])},
        "coverage": list(coverage),
        "sizes": size_labels,
        "n_cells": int(len(cells)),
        "headline": head,
        "pei_line": pei_line,
        "targets": targets,
        "summary": _summary_records(summary),
        "versus": _summary_records(versus),
        "plans": {"entries_mean": _f(plans["entries"].mean()), "cells_mean": _f(plans["cells"].mean()),
                  "entries_with_event_mean": _f(plans["entries_with_event"].mean()),
                  "expected_total": _f(plans["expected"].sum()), "caught_total": _f(plans["caught"].sum()),
                  "withheld_cells_mean": _f(plans["withheld_cells"].mean())},
        "choices": choices,
        "parameters": {"weeks": len(origins), "n_boot": n_boot, "seed": seed, "plan_entries": pparams.n_cells,
                       "forecast": jsonable(asdict(fparams))},
        "forecast_choices": jsonable(bt.choices),
        "tool_version": TOOL_VERSION,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def terminal_table(result: dict) -> list[str]:
    """The summary as text lines (≤ 72 characters) with column headers in words (the CLI prints them)."""
    lines = [f"{'Area':9s} {'Method':19s} {'Cells':>5s} {'Caught/week':>11s} {'Hit rate':>8s} {'PAI':>6s} "
             f"{'PEI*':>5s}"]
    for r in result["summary"]:
        ev = "—" if r["events_per_week"] is None else f"{r['events_per_week']:.2f}"
        hr = "—" if r["hit_rate"] is None else f"{r['hit_rate']:.3f}"
        pa = "—" if r["pai"] is None else f"{r['pai']:.1f}"
        pe = "—" if r["pei_star"] is None else f"{r['pei_star']:.3f}"
        lines.append(f"{r['size']:9s} {method_label(r['method']):19s} {r['n_cells']:>5d} {ev:>11s} {hr:>8s} "
                     f"{pa:>6s} {pe:>5s}")
    return lines


def _write(result: dict, bt: PlanBacktest, wk, out_dir: Path) -> None:
    layout.prepare_folder(out_dir)
    paths = {k: layout.output_path(out_dir, k) for k in BACKTEST_OUTPUTS}
    label = {"synthetic": "SYNTHETIC — not real young people"} if result["synthetic"] else {}
    summary = pd.DataFrame(result["summary"])
    summary["method"] = summary["method"].map(method_label)
    write_csv(summary.rename(columns=SUMMARY_COLUMNS).assign(**label), paths["backtest_summary_csv"])
    po = bt.per_origin.copy()
    po.insert(0, "origin_week", [week_label(wk[o]) for o in po["origin"]])
    po.insert(1, "scored_week", [week_label(wk[o + 1]) for o in po["origin"]])
    po["method"] = po["method"].map(method_label)
    po = po.drop(columns="origin")[list(_ORIGIN_COLUMNS)].round(6).rename(columns=_ORIGIN_COLUMNS)
    write_csv(po.assign(**label), paths["backtest_origins_csv"])
    pl = bt.plans.copy()
    pl.insert(0, "origin_week", [week_label(wk[o]) for o in pl["origin"]])
    pl = pl.drop(columns="origin")[list(_PLAN_COLUMNS)].round(4).rename(columns=_PLAN_COLUMNS)
    write_csv(pl.assign(**label), paths["backtest_plans_csv"])
    result["outputs"] = {k: str(v) for k, v in paths.items()}
    paths["backtest_html"].write_text(page_template("backtest.html.j2").render(
        r=result, label=method_label, columns=SUMMARY_COLUMNS, plot=_plot(result["summary"], result["sizes"]),
        generated=datetime.now(timezone.utc).astimezone().strftime("%Y-%m-%d %H:%M")), encoding="utf-8")
    paths["backtest_json"].write_text(json.dumps(result, indent=2, default=str, allow_nan=False), encoding="utf-8")
    layout.seal_analyst_files(out_dir)


def _f(v) -> float | None:
    return None if v is None or not math.isfinite(float(v)) else round(float(v), 4)


def _plot(summary: list[dict], sizes: list[str], width: int = 760, height: int = 300) -> Markup:
    """PEI* per area scored and method, with 95 % interval whiskers (inline SVG, no URL)."""
    L, R, T, B = 50, 190, 20, 40
    pw, ph = width - L - R, height - T - B

    def X(i):
        return L + pw * ((i + 0.5) / max(len(sizes), 1))

    def Y(v):
        return T + ph - ph * v

    parts = [f'<svg class="chart" width="100%" viewBox="0 0 {width} {height}" role="img" '
             'aria-label="PEI* by area scored"><title>PEI* by area scored, mean over origins with 95 % '
             'intervals</title>']
    for v in (0, 0.25, 0.5, 0.75, 1.0):
        parts.append(f'<line x1="{L}" y1="{Y(v):.1f}" x2="{L + pw}" y2="{Y(v):.1f}" stroke="#ddd"/>'
                     f'<text x="{L - 5}" y="{Y(v) + 3:.1f}" font-size="10" text-anchor="end">{v:.2f}</text>')
    for i, s in enumerate(sizes):
        parts.append(f'<text x="{X(i):.1f}" y="{height - B + 16}" font-size="10" text-anchor="middle">'
                     f'{escape_text(s)}</text>')
    for j, m in enumerate(METHODS):
        col = _COLOURS[m]
        for i, s in enumerate(sizes):
            r = next((r for r in summary if r["method"] == m and r["size"] == s), None)
            if r is None or r["pei_star"] is None:
                continue
            x = X(i) + (j - 1.5) * 9
            if r["pei_star_low"] is not None:
                parts.append(f'<line x1="{x:.1f}" y1="{Y(r["pei_star_low"]):.1f}" x2="{x:.1f}" '
                             f'y2="{Y(r["pei_star_high"]):.1f}" stroke="{col}" stroke-width="1.2"/>')
            parts.append(f'<circle cx="{x:.1f}" cy="{Y(r["pei_star"]):.1f}" r="3.5" fill="{col}"/>')
        parts.append(f'<rect x="{L + pw + 14}" y="{T + 16 * j}" width="12" height="6" fill="{col}"/>'
                     f'<text x="{L + pw + 30}" y="{T + 16 * j + 6}" font-size="10">'
                     f'{escape_text(method_label(m))}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
