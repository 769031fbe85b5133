"""Placebo calibration of the disruption evaluation on null targets (issue 15, item 2; METHODS §9).

Usage::

    python -m benchmarks.placebo [--targets 200] [--quick] [--only sample denver chicago sf]
                                 [--design cells places] [--results PATH] [--save RUNS.jsonl]
                                 [--from-saved RUNS.jsonl] [--before-weeks 26|all] [--alt-before-weeks all]

Both designs by default (the RESULTS.md section and :mod:`analytics.evaluation.calibration` hold
both). 200 targets x 3 data sets x 2 designs took about 25 CPU minutes (2026-12-06); run it with
``OMP_NUM_THREADS=1`` on a shared machine (threaded BLAS spins on the small solves) and ``nice``.

Nothing happened at these targets, so every "effect" is an error. Each data set is read
directly with pandas (the loaders and the week x cell cube of :mod:`benchmarks.ranking`; no
store), and for each null target:

1. a start week is drawn at random, leaving at least 26 weeks before and ``POST_WEEKS``
   after (fewer when the data set is short). San Francisco 2012 (26 weeks, four layers together)
   cannot host that: its design is scaled to it (:data:`SHORT_DESIGNS`: 13 selection and before
   weeks, up to 13 after, targets drawn distinct from the few starts it allows), stated in the output;
2. the target is chosen *because* it was busy in the 26 weeks just before the start, as agencies
   choose places. Two designs (``--design``):

   * ``cells``: a cell and its ring 1, 7 cells, as ``hotspots evaluate --target
     PLACE`` builds it, centred on a cell drawn from the busiest decile of such places by
     their 26-week count (among places with any event then);
   * ``places``: a connected group of up to 7 cells formed as the weekly plan forms its
     entries (:func:`analytics.plan_places.group_places` on the cells' 26-week counts), drawn
     from the top :data:`PLACES_TOP` entries — the shape of a real plan entry, which need not
     be a full ring;

   the next ring is the buffer and one more the guard band (``--buffer-rings 1``);
3. :func:`analytics.evaluation.evaluate_panel` runs every estimator on the panel built as
   :mod:`pipelines.evaluate` builds it (weeks up to the end of the post period, at most
   ``--before-weeks`` before the start — 26 by default, as ``hotspots evaluate`` — controls
   from outside the guard ring);
4. whether the target is evaluable is decided from its before period alone
   (:func:`analytics.evaluation.evaluability.evaluability_of_panel`); the summaries count the
   targets that are not ("too sparse") and use only the evaluable ones, as ``hotspots evaluate``
   claims nothing for the others. Every target's compact result is kept (``rows``), so the rules
   of :data:`RULES` and the DiD-only candidates (``--alt-before-weeks``; controls matched on every
   week before the start) are compared from one run, and ``--from-saved`` recomputes it all.

Per method it reports the false-positive rate at α = 0.05 (p ≤ α, which is the same event
as "the interval excludes zero"), the median estimate, the 95 % interval coverage of zero,
and how often the one verdict rule (:func:`analytics.verdict.verdict`) claimed an effect.
Targets (issue 15): false-positive rate ≤ 7 %, median within ±5 %, coverage ≥ 90 %.
Results are measured, not tuned: the estimators are not adjusted to these data.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

import pandas as pd

from analytics import grid
from analytics.evaluation import did_matched, evaluate_panel, match_controls, neighbourhood_counts, rejects
from analytics.evaluation.evaluability import DEFAULT_BEFORE_WEEKS, before_start, evaluability_of_panel
from analytics.evaluation.calibration import TARGETS, admissible, meets
from analytics.plan_places import group_places
from analytics.verdict import VERDICT_METHODS, verdict
from benchmarks.ranking import REAL, Events, build_cube, load_chicago, load_denver, load_sample, load_sf
from benchmarks.common import replace_results_section

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
SECTION = "## Placebo calibration of the disruption evaluation (issue 15)"
SELECT_WEEKS = 26
POST_WEEKS = 16
MIN_POST = 8
METHODS = tuple(VERDICT_METHODS)
#: Null-target designs: a cell and its ring ("cells"), or a plan-like connected group of <= 7 cells ("places").
DESIGNS = ("cells", "places")
#: Under ``--design places`` the target is one of the top this-many plan-like entries before the start.
PLACES_TOP = 20
#: The other candidate default for the before period, measured on DiD alongside (None = every week before).
ALT_BEFORE = None
#: Designs scaled to a short data set, by data set key: San Francisco 2012 has 26 full weeks, too short for
#: SELECT_WEEKS + MIN_POST, so its targets are chosen on the 13 weeks before a start, evaluated with a 13-week
#: before period (``before_weeks=13``) and up to 13 weeks after (at least MIN_POST). Its start weeks are few
#: (13 to 18), so its targets are drawn *distinct* — without replacement from every (start, place) the rules
#: allow (:func:`candidates`); n is the smaller of ``--targets`` and their number. Other data sets: the
#: default design (SELECT_WEEKS, POST_WEEKS, ``--before-weeks``, drawn with replacement) is unchanged.
SHORT_DESIGNS = {"sf": {"select_weeks": 13, "before_weeks": 13, "post_weeks": 13}}


def load_sf_all() -> list[Events]:
    """San Francisco 2012's four layers (car theft, drugs, robbery, vandalism) as one set of location reports."""
    parts = load_sf()
    dropped: dict = {}
    for ev in parts:
        for k, v in ev.dropped.items():
            dropped[k] = dropped.get(k, 0) + v
    return [Events("San Francisco 2012, four layers", parts[0].source, np.concatenate([e.lat for e in parts]),
                   np.concatenate([e.lon for e in parts]),
                   pd.concat([e.local for e in parts], ignore_index=True), sum(e.read for e in parts), dropped)]


def datasets(only: list[str] | None):
    """(key, Events) pairs: the SYNTHETIC sample, Denver (all crimes), Chicago carjackings and San Francisco
    2012 (four layers; a short design, :data:`SHORT_DESIGNS`)."""
    loaders = {"sample": lambda: load_sample()[:1], "denver": lambda: load_denver()[:1],
               "chicago": load_chicago, "sf": load_sf_all}
    for key in only or list(loaders):
        if key != "sample" and not REAL.exists():
            print(f"skipped {key}: {REAL} is absent", file=sys.stderr)
            continue
        for ev in loaders[key]():
            yield key, ev


def draw_target(y: np.ndarray, ring1, rng: np.random.Generator, post_weeks: int = POST_WEEKS,
                select_weeks: int = SELECT_WEEKS):
    """One null target: (start column, post weeks, centre row) — a busy place before a random start.

    A place is a cell and its ring 1 (7 cells, as ``hotspots evaluate --target PLACE`` builds
    it); its busyness is the place's count over the ``SELECT_WEEKS`` weeks before the start, and
    the centre is drawn from the top decile of places with any event then. ``ring1`` is the
    ring-1 neighbour matrix (diagonal included) of :func:`analytics.grid.neighbour_matrix`."""
    n_weeks = y.shape[1]
    post_weeks = min(post_weeks, n_weeks - select_weeks)
    if post_weeks < MIN_POST:
        raise ValueError(f"{n_weeks} weeks: too short for {select_weeks} selection weeks and {MIN_POST} after.")
    start = int(rng.integers(select_weeks, n_weeks - post_weeks + 1))
    return start, post_weeks, int(rng.choice(_busy_centres(y, ring1, start, select_weeks)))


def _busy_centres(y, ring1, start: int, select_weeks: int) -> np.ndarray:
    """Rows of the centres whose place (cell + ring 1) is in the busiest decile over the weeks before ``start``."""
    recent = np.asarray(ring1 @ y[:, start - select_weeks:start].sum(1)).ravel()
    active = np.flatnonzero(recent > 0)
    cut = np.quantile(recent[active], 0.9)
    return active[recent[active] >= cut]


def _top_places(y, cells, start: int, select_weeks: int, top: int = PLACES_TOP) -> list[np.ndarray]:
    """Rows of the cells of the ``top`` busiest plan-like entries over the weeks before ``start``."""
    recent = y[:, start - select_weeks:start].sum(1)
    active = recent > 0
    entries = group_places(pd.Series(recent[active], index=cells[active]), n=top)
    return [np.searchsorted(cells, np.asarray(c, dtype=cells.dtype)) for c in entries["cells"]]


def candidates(y, cells, ring1, design: str, select_weeks: int, post_weeks: int) -> list[tuple]:
    """Every null target a short design allows (:data:`SHORT_DESIGNS`): (start, post weeks, centre row or None,
    place rows or None) for each start from ``select_weeks`` to ``n_weeks - MIN_POST`` (``post_weeks`` after, fewer
    at the end, at least MIN_POST) and each busy place there, as :func:`draw_target` / :func:`draw_place` choose."""
    n_weeks = y.shape[1]
    if n_weeks - select_weeks < MIN_POST:
        raise ValueError(f"{n_weeks} weeks: too short for {select_weeks} selection weeks and {MIN_POST} after.")
    out = []
    for start in range(select_weeks, n_weeks - MIN_POST + 1):
        post = min(post_weeks, n_weeks - start)
        if design == "cells":
            out += [(start, post, int(r), None) for r in _busy_centres(y, ring1, start, select_weeks)]
        else:
            out += [(start, post, None, rows) for rows in _top_places(y, cells, start, select_weeks)]
    return out


def draw_place(y, cells, rng: np.random.Generator, post_weeks: int = POST_WEEKS, top: int = PLACES_TOP,
               select_weeks: int = SELECT_WEEKS):
    """One null target under ``--design places``: (start column, post weeks, rows of the place's cells).

    The cells' counts over the ``SELECT_WEEKS`` weeks before a random start are grouped into
    plan-like entries by :func:`analytics.plan_places.group_places` (connected, at most 7 cells,
    a cell joins when it has at least half its seed's count); one of the ``top`` busiest
    entries is drawn at random."""
    n_weeks = y.shape[1]
    post_weeks = min(post_weeks, n_weeks - select_weeks)
    if post_weeks < MIN_POST:
        raise ValueError(f"{n_weeks} weeks: too short for {select_weeks} selection weeks and {MIN_POST} after.")
    start = int(rng.integers(select_weeks, n_weeks - post_weeks + 1))
    places = _top_places(y, cells, start, select_weeks, top)
    return start, post_weeks, places[int(rng.integers(len(places)))]


def run_target(y, cells, start, post_weeks, row, seed, neighbourhood=None, place_rows=None,
               before_weeks=DEFAULT_BEFORE_WEEKS, alt_before_weeks=ALT_BEFORE):
    """Every estimator on one null target (weeks up to the end of its post period, at most
    ``before_weeks`` before the start, as ``hotspots evaluate --before-weeks`` cuts them): the place
    (centre ``row`` + ring 1, or the cells ``place_rows``) treated, the next ring the buffer, one more
    the guard band, controls outside it.

    Returns a compact row: ``m`` (per method: estimate, interval, p), ``eval`` (evaluability from the
    before period, :func:`analytics.evaluation.evaluability.evaluability_of_panel`) and two DiD-only
    candidates compared in RESULTS.md: ``alt`` (the before period ``alt_before_weeks`` instead) and
    ``history`` (the ``before_weeks`` window, but the controls matched on every week before the start)."""
    yy = y[:, :start + post_weeks]
    post = np.arange(yy.shape[1]) >= start

    def rows(c):
        return np.searchsorted(cells, c[np.isin(c, cells)])

    place = grid.grid_disk_cells(cells[[row]], 1) if place_rows is None else np.sort(cells[place_rows])
    treated = rows(place)
    buffer = rows(np.setdiff1d(grid.grid_disk_cells(place, 1), place))
    pool = np.flatnonzero(~np.isin(cells, grid.grid_disk_cells(place, 2)))
    nb = None if neighbourhood is None else neighbourhood[:, :yy.shape[1]]
    first = before_start(post, before_weeks)
    ev = evaluate_panel(yy[:, first:], post[first:], treated, buffer, pool, n_boot=0, seed=seed,
                        neighbourhood=None if nb is None else nb[:, first:])
    out = {"m": {k: _compact(ev.methods[k]) for k in METHODS},
           "eval": evaluability_of_panel(yy[:, first:], post[first:], treated, ev.matches).as_dict()}
    out["m"]["did_buffer"] = _compact(ev.methods["did"].get("buffer") or {})
    for key, weeks, match_from in (("alt", alt_before_weeks, before_start(post, alt_before_weeks)),
                                   ("history", before_weeks, 0)):
        a = before_start(post, weeks)
        pre_m = ~post[match_from:]
        matches_a = match_controls(yy[:, match_from:][:, pre_m], treated, pool, 20, seed,
                                   neighbourhood=None if nb is None else nb[:, match_from:][:, pre_m])
        out[key] = {"did": _compact(did_matched(yy[:, a:], post[a:], treated, matches_a).as_dict()),
                    "eval": evaluability_of_panel(yy[:, a:], post[a:], treated, matches_a).as_dict()}
    return out


def _compact(e: dict) -> dict:
    return {k: e.get(k) for k in ("relative_effect", "ci_low", "ci_high", "p")}


#: Evaluability rules compared (all decided from the before period; the first is the tool's rule).
RULES = {"pre-period power, fall up to 95 %": lambda r: bool(r["evaluable"]),
         "pre-period power, fall up to 50 %": lambda r: r.get("mde") is not None and r["mde"] >= -0.5,
         "every target (no rule)": lambda r: True}
RULE = next(iter(RULES))


def summarise(rows: list[dict], rule: str = RULE, alt: str | bool = False) -> dict:
    """Per method over the targets ``rule`` (:data:`RULES`) finds evaluable: n, false-positive rate, median
    estimate, coverage of zero (an unbounded interval covers); ``too_sparse`` = targets not evaluable (no
    estimate claimed, counted, not dropped silently). ``alt``: the DiD of a candidate variant only
    (``"alt"``, ``"history"``; see :func:`run_target`)."""
    alt = "alt" if alt is True else alt
    rows = [r for r in rows if not alt or alt in r]
    keep = [r for r in rows if RULES[rule](r[alt]["eval"] if alt else r["eval"])]
    ms = [{"did": r[alt]["did"]} if alt else r["m"] for r in keep]
    out = {"too_sparse": len(rows) - len(keep), "evaluable": len(keep)}
    for name in (("did",) if alt else METHODS + ("did_buffer",)):
        ok = [m[name] for m in ms if m[name].get("relative_effect") is not None]
        if not ok:
            out[name] = {"n": 0}
            continue
        rel = np.array([e["relative_effect"] for e in ok], dtype=float)
        cover = [not (e.get("ci_low") is not None and e["ci_low"] > 0 or e.get("ci_high") is not None
                      and e["ci_high"] < 0) for e in ok]
        boot = np.median(rel[np.random.default_rng(0).integers(0, len(rel), (2000, len(rel)))], axis=1)
        out[name] = {"n": len(ok), "fpr": float(np.mean([rejects(e.get("p")) for e in ok])),
                     "median": float(np.median(rel)), "coverage": float(np.mean(cover)),
                     "median_ci": [float(x) for x in np.quantile(boot, [0.025, 0.975])],
                     "no_interval": int(sum(e.get("ci_low") is None for e in ok))}
        r = out[name]
        r["meets"] = meets(r)
    if alt:
        return out
    claims = [verdict({k: m[k] for k in METHODS}).effect in ("fall", "rise") for m in ms]
    out["verdict"] = {"n": len(ms), "fpr": float(np.mean(claims)) if ms else math.nan}
    admitted = [k for k in METHODS if out[k].get("n") and admissible(out[k])]
    claims = [bool(admitted) and verdict({k: m[k] for k in admitted}).effect in ("fall", "rise") for m in ms]
    out["verdict_admitted"] = {"n": len(ms), "fpr": float(np.mean(claims)) if ms else math.nan,
                               "methods": admitted}
    return out


def summaries(rows: list[dict]) -> dict:
    """:func:`summarise` under every rule of :data:`RULES`, for the default and the alternative before period."""
    return {"rules": {rule: summarise(rows, rule) for rule in RULES},
            "alt_rules": {rule: summarise(rows, rule, alt="alt") for rule in RULES},
            "history_rules": {rule: summarise(rows, rule, alt="history") for rule in RULES}}


def run_dataset(ev, n_targets: int, seed: int, progress=None, key: str = "", design: str = "cells",
                before_weeks=DEFAULT_BEFORE_WEEKS, alt_before_weeks=ALT_BEFORE, short: dict | None = None) -> dict:
    """``n_targets`` null targets on one data set under ``design`` (:data:`DESIGNS`), summarised.

    ``short`` (a value of :data:`SHORT_DESIGNS`) scales the design to a short data set: its selection window,
    before period (it overrides ``before_weeks``) and post period, and distinct targets (:func:`candidates`)."""
    if design not in DESIGNS:
        raise ValueError(f"design must be one of {DESIGNS}; received {design!r}")
    y, cells, weeks, notes = build_cube(ev)
    ring1 = grid.neighbour_matrix(cells, 1)
    neighbourhood = neighbourhood_counts(y, ring1)
    rng = np.random.default_rng(seed)
    rows, t0, failed, sizes = [], time.perf_counter(), 0, []
    select_weeks, post_max, pool_size = SELECT_WEEKS, POST_WEEKS, None
    if short:
        select_weeks, post_max, before_weeks = short["select_weeks"], short["post_weeks"], short["before_weeks"]
        pool = candidates(y, cells, ring1, design, select_weeks, post_max)
        pool_size = len(pool)
        picks = [pool[j] for j in rng.choice(pool_size, size=min(n_targets, pool_size), replace=False)]
        n_targets = len(picks)
    for i in range(n_targets):
        if short:
            start, post_weeks, row, place_rows = picks[i]
        elif design == "cells":
            start, post_weeks, row = draw_target(y, ring1, rng)
            place_rows = None
        else:
            start, post_weeks, place_rows = draw_place(y, cells, rng)
            row = None
        if place_rows is not None:
            sizes.append(len(place_rows))
        try:
            rows.append(run_target(y, cells, start, post_weeks, row, seed + i, neighbourhood, place_rows,
                                   before_weeks, alt_before_weeks))
        except Exception as exc:  # noqa: BLE001 - count and report, never hide
            failed += 1
            if failed <= 3:
                print(f"  target {i} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        if progress and (i + 1) % 25 == 0:
            progress(i + 1, n_targets)
    name = ev.name if design == "cells" else f"{ev.name}, plan-like places"
    return {"key": key, "design": design, "name": name, "source": ev.source,
            "place_cells": [int(x) for x in np.bincount(sizes, minlength=8)[1:]] if sizes else None,
            "cells": len(cells), "weeks": len(weeks),
            "first_week": str(weeks[0].date()), "last_week": str(weeks[-1].date()), "targets": n_targets,
            "failed": failed, "notes": notes, "summary": summarise(rows), **summaries(rows), "rows": rows,
            "before_weeks": before_weeks, "alt_before_weeks": alt_before_weeks, "select_weeks": select_weeks,
            "post_weeks": post_max, "distinct_pool": pool_size, "seconds": time.perf_counter() - t0}


def _fmt(x, pct=True):
    return "–" if x is None or (isinstance(x, float) and not math.isfinite(x)) else (
        f"{x * 100:+.0f} %" if pct else f"{x:.2f}")


def markdown(results: list[dict], header: str) -> str:
    labels = {**{k: v for k, v in VERDICT_METHODS.items()}, "did_buffer": "DiD on the buffer ring"}
    lines = [SECTION, "", header, "",
             f"Targets (issue 15): false-positive rate ≤ {TARGETS['fpr']:.0%}, "
             f"median within ±{TARGETS['median']:.0%}, "
             f"95 % interval covers zero in ≥ {TARGETS['coverage']:.0%} of null targets. 'verdict' = share of null "
             "targets where the one verdict rule (every method used agrees and excludes zero) claimed an effect, "
             "with all methods and with only those admitted on that data set (every target met as stated, the "
             "median itself within ±5 %; analytics.evaluation.calibration.admissible). The median's 95 % CI — a "
             "bootstrap over targets, showing how far sampling alone moves it — is shown, not used for admission.", "",
             "| data set | method | targets | false-positive rate | median estimate (95 % CI) | coverage of 0 | "
             "meets targets? |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        s = r["summary"]
        for name in METHODS + ("did_buffer",):
            x = s[name]
            if not s.get("evaluable", 1):
                break
            if not x.get("n"):
                lines.append(f"| {r['name']} | {labels[name]} | 0 | – | – | – | no estimate |")
                continue
            extra = f" ({x['no_interval']} without a bounded interval)" if x["no_interval"] else ""
            lo, hi = x["median_ci"]
            lines.append(f"| {r['name']} | {labels[name]} | {x['n']} | {x['fpr']:.1%} | {_fmt(x['median'])} "
                         f"({_fmt(lo)} to {_fmt(hi)}) | "
                         f"{x['coverage']:.1%}{extra} | {'yes' if x['meets'] else '**no**'} |")
        if not s.get("evaluable", 1):
            lines.append(f"| {r['name']} | every method | 0 | – | – | – | too sparse: {s['too_sparse']} of "
                         f"{s['too_sparse']} null targets not evaluable, no estimate claimed |")
            continue
        lines.append(f"| {r['name']} | verdict, all {len(METHODS)} methods | {s['verdict']['n']} | "
                     f"{s['verdict']['fpr']:.1%} "
                     f"| | | {'yes' if s['verdict']['fpr'] <= TARGETS['fpr'] else '**no**'} |")
        va = s["verdict_admitted"]
        who = ", ".join(labels[k] for k in va["methods"]) or "none"
        lines.append(f"| {r['name']} | verdict, methods admitted here ({who}) | {va['n']} | "
                     f"{va['fpr']:.1%} | | | {'yes' if va['fpr'] <= TARGETS['fpr'] else '**no**'} |")
    failing = [f"{labels[n]} on {r['name']}" for r in results for n in METHODS
               if r["summary"][n].get("n") and not r["summary"][n]["meets"]]
    lines += ["", ("Not meeting the targets: " + "; ".join(failing) + ". `hotspots evaluate` leaves a "
                   "method out of the verdict, with a warning, when it misses a target on some real data set with "
                   "evaluable null targets under the 'cells' design; an admitted method that misses under 'places' "
                   "stays in the verdict with a warning on its estimate (analytics.evaluation.calibration).")
              if failing else "Every method meets the targets."]
    if any("rules" in r for r in results):
        lines += [""] + rules_tables(results)
    lines += ["", "Data sets: " + "; ".join(
        f"{r['name']} — {r['source']}; {r['cells']:,} cells, weeks {r['first_week']} to {r['last_week']} "
        f"({r['weeks']}); {r['failed']} target(s) failed; {r['seconds']:.0f} s"
        + (f"; short design: {r['select_weeks']}-week selection and before period, up to {r['post_weeks']} weeks "
           f"after, {r['targets']} distinct targets of {r['distinct_pool']} allowed" if r.get("distinct_pool") else "")
        + (f"; place sizes 1..7 cells: {r['place_cells']}" if r.get("place_cells") else "") for r in results) + "."]
    return "\n".join(lines) + "\n"


def _cell(x: dict) -> str:
    if not x.get("n"):
        return "–"
    return f"{x['fpr']:.1%} / {_fmt(x['median'])} / {x['coverage']:.1%} (n = {x['n']})"


def _median_mde(rows: list[dict], alt: bool) -> str:
    m = [(r["alt"]["eval"] if alt else r["eval"]).get("mde") for r in rows]
    m = [x for x in m if x is not None]
    return f"{_fmt(float(np.median(m)))} ({len(m)} of {len(rows)})" if m else f"none (0 of {len(rows)})"


def rules_tables(results: list[dict]) -> list[str]:
    """The evaluability rules and the two candidate before periods compared (DiD; the panel regression in
    brackets where it differs), from the saved per-target rows."""
    before = results[0].get("before_weeks")
    alt = results[0].get("alt_before_weeks")
    wk = lambda b: "every week" if b is None else f"{b} weeks"   # noqa: E731
    lines = [f"Evaluability (decided from the before period only, analytics.evaluation.evaluability) and the before "
             f"period ({wk(before)}, the default, against {wk(alt)}): DiD false-positive rate / median / coverage "
             "of 0 over the null targets each rule finds evaluable; 'too sparse' = targets the rule does not evaluate "
             "(counted, no estimate claimed). The tool's rule is the first.", "",
             "DiD columns: the default (controls matched on, and compared over, the last "
             f"{wk(before)}); the same comparison with the controls matched on every week before the start "
             f"('history', measured, not adopted); {wk(alt)} for both. 'too sparse': default / history / {wk(alt)}.",
             "", "| data set | rule | too sparse | DiD, default | DiD, history | DiD, " + wk(alt)
             + " | panel regression, default |", "|---|---|---|---|---|---|---|"]
    def label(r):      # a short design (SHORT_DESIGNS) runs its own before period: say so on its rows
        own = r.get("before_weeks")
        if own == before:
            return r["name"]
        if r.get("distinct_pool"):
            return (f"{r['name']} ({wk(own)} before; 'every week' = the {r['select_weeks']}–{r['weeks'] - MIN_POST} "
                    "before its start)")
        return f"{r['name']} ({wk(own)} before)"
    for r in results:
        for rule in RULES:
            a, b = r["rules"][rule], r["alt_rules"][rule]
            c = r.get("history_rules", {}).get(rule, {"too_sparse": "–", "did": {}})
            lines.append(f"| {label(r)} | {rule} | {a['too_sparse']} / {c['too_sparse']} / {b['too_sparse']} | "
                         f"{_cell(a['did'])} | {_cell(c['did'])} | {_cell(b['did'])} | {_cell(a['panel_poisson'])} |")
    lines += ["", "Power cost of the shorter before period: median over all null targets of the smallest fall DiD "
              "detects with 80 % power (Poisson, before-period rates; targets where one is detectable):", "",
              f"| data set | {wk(before)} | {wk(alt)} |", "|---|---|---|"]
    for r in results:
        lines.append(f"| {label(r)} | {_median_mde(r['rows'], False)} | {_median_mde(r['rows'], True)} |")
    return lines


def calibration_block(results: list[dict]) -> str:
    """The real data sets' numbers as the ``CALIBRATION`` (design cells) and ``CALIBRATION_PLACES`` (design
    places) literals of :mod:`analytics.evaluation.calibration`."""
    out = []
    for design, var in (("cells", "CALIBRATION"), ("places", "CALIBRATION_PLACES")):
        runs = [r for r in results if r.get("key") != "sample" and r.get("design", "cells") == design]
        if not runs:
            continue
        lines = [f"{var}: dict[str, dict[str, dict]] = {{"]
        for name in METHODS:
            rows = [f'"{r["name"]}": {{"fpr": {s["fpr"]:.3f}, "median": {s["median"]:.3f}, "median_ci": '
                    f'[{s["median_ci"][0]:.3f}, {s["median_ci"][1]:.3f}], "coverage": {s["coverage"]:.3f}, '
                    f'"n": {s["n"]}}}' for r in runs for s in [r["summary"][name]] if s.get("n")]
            lines.append(f'    "{name}": {{' + ("\n        " + ",\n        ".join(rows) + ",\n    " if rows else "")
                         + "},")
        out.append("\n".join(lines + ["}"]))
    real = [r for r in results if r.get("key") != "sample" and "rules" in r]
    if real:
        out.append("CALIBRATION_TOO_SPARSE: dict[str, tuple[int, int]] = {\n" + "".join(
            f'    "{r["name"]}": ({r["summary"]["too_sparse"]}, {r["targets"]}),\n' for r in real) + "}")
    return "\n".join(out)


def short_design_note() -> str:
    """The header sentence stating the design scaled to San Francisco 2012's 26 weeks (:data:`SHORT_DESIGNS`)."""
    d = SHORT_DESIGNS["sf"]
    return (f"San Francisco 2012 (four layers together, 26 full weeks) is too short for that: its design is scaled "
            f"to it — targets chosen on the {d['select_weeks']} weeks before a start, evaluated with a "
            f"{d['before_weeks']}-week before period (before_weeks={d['before_weeks']}) and up to {d['post_weeks']} "
            f"weeks after (at least {MIN_POST}), same target rules otherwise; with only starts from week "
            f"{d['select_weeks'] + 1} to {26 - MIN_POST + 1} its targets are drawn distinct (without replacement from "
            "every start x busy place allowed; n below), and targets at the same start overlap in time, so they are "
            "less independent than Denver's. ")


def write_section(text: str, path: Path) -> None:
    """Replace (or append) this benchmark's section of RESULTS.md, leaving the rest as it is."""
    replace_results_section(text, path, SECTION)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.placebo", description=__doc__.splitlines()[0])
    ap.add_argument("--targets", type=int, default=200, help="null targets per data set (default 200)")
    ap.add_argument("--quick", action="store_true", help="20 targets per data set, nothing written (smoke run)")
    ap.add_argument("--only", nargs="*", choices=("sample", "denver", "chicago", "sf"), help="some data sets only")
    ap.add_argument("--design", nargs="*", choices=DESIGNS, default=list(DESIGNS),
                    help="null-target design(s): cells (a cell and its ring), places (plan-like groups); default both")
    ap.add_argument("--results", type=Path, default=None,
                    help="write the table into this RESULTS.md section (default: benchmarks/RESULTS.md unless --quick)")
    ap.add_argument("--save", type=Path, default=None,
                    help="also append each data set's result as one JSON line to this file (kept if a later one fails)")
    ap.add_argument("--from-saved", type=Path, default=None,
                    help="write the section from a --save file instead of running (its runs, in order)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--before-weeks", default=str(DEFAULT_BEFORE_WEEKS),
                    help=f"weeks before the start the estimators use ('all' = every week; default {DEFAULT_BEFORE_WEEKS}, "
                         "as hotspots evaluate)")
    ap.add_argument("--alt-before-weeks", default="all",
                    help="the other candidate before period, measured on DiD alongside (default all)")
    args = ap.parse_args(argv)

    def weeks_arg(v):
        return None if str(v).lower() == "all" else int(v)
    before, alt_before = weeks_arg(args.before_weeks), weeks_arg(args.alt_before_weeks)
    n = min(20, args.targets) if args.quick else args.targets
    results, t0 = [], time.perf_counter()
    if args.from_saved:
        results = [json.loads(line) for line in args.from_saved.read_text(encoding="utf-8").splitlines() if line]
        for r in results:               # summaries recomputed from the saved per-target rows
            r.update(summary=summarise(r["rows"]), **summaries(r["rows"]))
        before, alt_before = results[0].get("before_weeks"), results[0].get("alt_before_weeks")
        n = max(r["targets"] for r in results)
    for design in ([] if args.from_saved else args.design):
        for key, ev in datasets(args.only):
            print(f"{ev.name} ({design}): {n} null targets{' (short design, distinct)' if key in SHORT_DESIGNS else ''}"
                  " ...", flush=True)
            r = run_dataset(ev, n, args.seed, progress=lambda i, tot: print(f"  {i}/{tot}", flush=True), key=key,
                            design=design, before_weeks=before, alt_before_weeks=alt_before,
                            short=SHORT_DESIGNS.get(key))
            s = r["summary"]
            print("  " + "; ".join(f"{k} FPR {s[k]['fpr']:.2f} median {s[k]['median']:+.2f} coverage "
                                   f"{s[k]['coverage']:.2f}" for k in METHODS if s[k].get("n"))
                  + f"; verdict claims {s['verdict']['fpr']:.2f}; too sparse {s['too_sparse']}", flush=True)
            results.append(r)
            if args.save:
                with args.save.open("a", encoding="utf-8") as fh:
                    fh.write(json.dumps(r, default=float) + "\n")
    seconds = sum(r["seconds"] for r in results) if args.from_saved else time.perf_counter() - t0
    designs = sorted({r.get("design", "cells") for r in results}, key=DESIGNS.index)
    header = (f"Written by `python -m benchmarks.placebo{' --quick' if args.quick else ''} --targets {n} --design "
              f"{' '.join(designs)}` on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC ({seconds:.0f} s; seed "
              f"{args.seed}). Null targets are chosen because they were busy in the {SELECT_WEEKS} weeks before a "
              "random start. Design 'cells' (data set name alone): a place = an H3 res-9 cell and its ring 1 (7 "
              "cells) from the busiest decile of such places. Design 'places' (', plan-like places'): a connected "
              "group of up to 7 cells formed as the weekly plan forms its entries (analytics.plan_places.group_places "
              f"on the cells' {SELECT_WEEKS}-week counts), one of the top {PLACES_TOP}. The next ring is the buffer, "
              f"one more the guard band; up to {POST_WEEKS} weeks after; 20 matched controls per cell. "
              + short_design_note() +
              "Real data are police-recorded incidents used as location reports; the sample is SYNTHETIC.")
    text = markdown(results, header)
    print(text)
    print("For analytics/evaluation/calibration.py:\n" + calibration_block(results))
    path = args.results or (None if args.quick else RESULTS)
    if path is not None:
        write_section(text, path)
        print(f"written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
