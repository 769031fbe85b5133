"""The researcher run (``hotspots evaluate``): did a disruption work, and did it displace harm?

Reads the store (read-only is enough), builds the cube over every week with data, and
evaluates one target area from a start date with every estimator of
:mod:`analytics.evaluation` (DiD against matched controls, ITS, the panel regression with
place and week effects, WDD, WDQ, synthetic control) plus a power check. The page's charts are
in :mod:`pipelines.evaluate_charts` and its verdict block in :mod:`pipelines.evaluate_verdict`
(``line_chart_svg`` and ``forest_svg`` stay importable from here). Writes into ``out_dir``:

* ``evaluation.html`` — self-contained page (inline CSS and SVG, no URL): the series of the
  treated area, its matched controls and the buffer; the estimates with intervals; a
  plain-language verdict with its caveats;
* ``evaluation.json`` — ``{"target", "outcome", "methods": {"did", "its", "panel_poisson", "wdd", "wdq",
  "synthetic_control"}, ...}``; DiD, ITS, the panel regression and synthetic control give ``relative_effect``
  (−0.30 = a 30 % fall), ``ci_low``, ``ci_high`` and ``p``;
* ``series_weekly.csv`` and ``series_synthetic_control.csv`` — the series used.

Targets (at the store's H3 resolution):

* a **place id** from the ingested places: the place's cell and its ring 1 (7 cells; a
  place that is a polygon: the cells it overlaps). Ring 1 is included because presence at
  a venue covers its approaches, and a res-9 cell (~0.1 km²) is smaller than most venues;
* a **comma list of H3 cells**;
* a **boundary GeoJSON file**: the cells overlapping its polygons;
* ``activity_kind`` (e.g. ``presence_patrol``) from the ingested disruptions: with a target,
  the start defaults to the first such activity in the target cells; without one, the
  target is the ring-connected group of cells (each with ≥ 2 such activities) holding the
  most of them, from its first to its last activity.

Periods: the ISO week holding ``start`` is the first post week (a partial week counts as
treated, which can only dilute an effect); the post period ends with the week holding
``end`` (default: the last week with data) and later weeks are left out. The pre period is
every earlier week with data. The buffer is ``buffer_rings`` rings around the target;
control cells exclude the target, the buffer and one more guard ring.

The default outcome, ``reports_non_police`` (location reports from every source except
police), is not inflated by presence itself; ``found`` and ``reports`` are, and the output
warns when they are used. When the outcome is left to its default and every location report
in the store is police-sourced (a police force's own export), ``reports_non_police`` has no
events: the run then uses ``reports`` and says so (a choice in evaluation.json and on the page,
plus the warning that patrols inflate police-sourced counts). Asked for explicitly, an outcome
with no events is refused with its cause and the fix (:func:`choose_outcome`).
"""

from __future__ import annotations

import json
import math
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

import h3
import numpy as np
import pandas as pd

from analytics import __version__ as TOOL_VERSION
from analytics import grid
from analytics.errors import InvalidInputError
from pipelines.render.html import page_template
from analytics.evaluation import (DETECTION_DRIVEN, MAX_DETECTABLE_FALL, OUTCOMES, evaluate_panel,
                                  minimum_detectable_effect, neighbourhood_counts, outcome_series, weeks_needed)
from analytics.evaluation.evaluability import (DEFAULT_BEFORE_WEEKS, before_start, check_before_weeks,
                                               evaluability_of_panel)
from analytics.weeks import parse_week, week_label
from pipelines import cube as cube_mod
from pipelines.csv_out import write_csv
from pipelines.evaluate_charts import forest_svg, line_chart_svg
from pipelines.evaluate_verdict import METHOD_LABELS, build_verdict, pct
from pipelines.hotspots_run import SYNTHETIC_LABEL
from pipelines.store import Store

__all__ = ["run_evaluation", "resolve_target", "choose_outcome", "parse_before_weeks", "EVALUATE_STEPS", "DEFAULT_OUTCOME", "TEMPLATE_DIR", "line_chart_svg",
           "forest_svg"]

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
DEFAULT_OUTCOME = "reports_non_police"
#: Progress steps reported by :func:`run_evaluation`.
EVALUATE_STEPS = ("target", "cube", "estimators", "write")
_CUBE_COLUMNS = ("reports", "reports_police", "found_episodes", "episodes_started")


# ------------------------------------------------------------------------------------------- dates
def _monday(text: str | date | None, what: str) -> date | None:
    """Monday of the ISO week of a date (``2025-08-04``) or an ISO week label (``2025-W32``)."""
    if text is None or text == "":
        return None
    if isinstance(text, datetime):
        text = text.date()
    if isinstance(text, date):
        d = text
    else:
        s = str(text).strip()
        if "W" in s.upper():
            return parse_week(s)
        try:
            d = date.fromisoformat(s[:10])
        except ValueError as exc:
            raise InvalidInputError(f"{what} {text!r} is not a date like 2025-08-04 or an ISO week like 2025-W32.") \
                from exc
    return d - timedelta(days=d.weekday())


# ------------------------------------------------------------------------------------------ target
def _activities(store: Store, kind: str) -> pd.DataFrame:
    known = [r[0] for r in store.con.execute("select distinct kind from disruptions order by 1").fetchall()]
    if kind not in known:
        raise InvalidInputError(f"No ingested disruptions of kind {kind!r}; the store holds "
                                f"{', '.join(known) if known else 'no disruptions'}. Ingest them with "
                                "`hotspots ingest disruptions FILE` or choose another --activity-kind.")
    df = store.con.execute(
        "select d.activity_id, coalesce(d.cell, p.cell) as cell, d.start_at from disruptions d "
        "left join places p on p.place_id = d.place_id where d.kind = $k", {"k": kind}).fetchnumpy()
    df = pd.DataFrame({k: (v.filled(np.nan) if hasattr(v, "filled") and k == "cell" else v) for k, v in df.items()})
    df = df.dropna(subset=["cell"])
    df["cell"] = df["cell"].astype(np.uint64)
    df["local_date"] = pd.to_datetime(df["start_at"], utc=True).dt.tz_convert(store.timezone).dt.date
    return df


def _components(cells: np.ndarray) -> list[np.ndarray]:
    """Ring-1-connected groups of cells."""
    cells = np.asarray(sorted(set(int(c) for c in cells)), dtype=np.uint64)
    if not len(cells):
        return []
    adj = grid.neighbour_matrix(cells, 1)
    from scipy.sparse.csgraph import connected_components
    n, labels = connected_components(adj, directed=False)
    return [cells[labels == i] for i in range(n)]


def resolve_target(store: Store, target: str | None, resolution: int,
                   activity_kind: str | None = None) -> tuple[np.ndarray, dict, list[str], date | None, date | None]:
    """Target cells, a description, choices made, and (start, end) suggested by activities (or None)."""
    choices: list[str] = []
    info: dict = {}
    cells: np.ndarray | None = None
    if target is not None and str(target).strip():
        t = str(target).strip()
        path = Path(t)
        if path.suffix.lower() in (".geojson", ".json") or path.is_file():
            if not path.is_file():
                raise InvalidInputError(f"Target file {t} does not exist.")
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                from shapely.geometry import shape
                from shapely.ops import unary_union
                feats = data.get("features") or ([{"geometry": data.get("geometry", data)}])
                geom = unary_union([shape(f["geometry"]) for f in feats if f.get("geometry")])
            except Exception as exc:  # noqa: BLE001 - any parse problem is the user's file
                raise InvalidInputError(f"Target file {t} is not a GeoJSON polygon file ({type(exc).__name__}: "
                                        f"{str(exc)[:120]}).") from exc
            if geom.geom_type not in ("Polygon", "MultiPolygon"):
                raise InvalidInputError(f"Target file {t} holds {geom.geom_type}, not (multi)polygons.")
            cells = grid.polygon_to_cells(geom, resolution)
            info = {"kind": "boundary", "id": path.name}
            choices.append(f"Target: the {len(cells)} cells overlapping the polygons of {path.name}.")
        else:
            row = store.con.execute("select place_id, name, category, cell, geometry_wkt from places "
                                    "where place_id = $p", {"p": t}).fetchone()
            if row is not None:
                from shapely import wkt
                geom = wkt.loads(row[4])
                if geom.geom_type in ("Polygon", "MultiPolygon"):
                    cells = grid.polygon_to_cells(geom, resolution)
                    rule = "the cells its polygon overlaps"
                else:
                    centre = int(row[3]) if resolution == store.resolution else int(
                        grid.latlng_to_cells(np.array([geom.y]), np.array([geom.x]), resolution)[0])
                    cells = grid.grid_disk_cells(np.array([centre], dtype=np.uint64), 1)
                    rule = "its cell and ring 1"
                info = {"kind": "place", "id": row[0], "name": row[1], "category": row[2]}
                choices.append(f"Target: place {row[0]} ({row[1]}), {rule} ({len(cells)} cells).")
            else:
                parts = [p.strip() for p in t.split(",") if p.strip()]
                bad = [p for p in parts if not h3.is_valid_cell(p)]
                if bad or not parts:
                    raise InvalidInputError(
                        f"Target {t!r} is not a place id in the store, a comma list of H3 cells, or a GeoJSON file.\n"
                        f"- not valid H3 cells: {', '.join(bad[:5]) or '(empty)'}\n"
                        "- fix: pass a place_id from the ingested places, cells like 89be0e25323ffff,89be0e25327ffff, "
                        "or boundary.geojson")
                res = {h3.get_resolution(p) for p in parts}
                if res != {resolution}:
                    raise InvalidInputError(f"Target cells are at resolution {sorted(res)}; the cube is at resolution "
                                            f"{resolution}. Give cells at resolution {resolution}.")
                cells = grid.hex_to_cells(parts)
                info = {"kind": "cells", "id": t if len(t) <= 80 else f"{len(parts)} cells"}
    start = end = None
    if activity_kind:
        acts = _activities(store, activity_kind)
        if cells is not None:
            inside = acts[acts["cell"].isin(set(int(c) for c in cells))]
            if inside.empty:
                raise InvalidInputError(f"No {activity_kind} activity falls in the target's cells; the start date "
                                        "cannot be taken from the disruptions. Pass --start.")
            start, end = min(inside["local_date"]), max(inside["local_date"])
            choices.append(f"{len(inside)} {activity_kind} activities in the target, {start} to {end}.")
        else:
            per_cell = acts.groupby("cell").size()
            busy = per_cell[per_cell >= 2].index.to_numpy(dtype=np.uint64)
            comps = _components(busy)
            if not comps:
                raise InvalidInputError(f"No cell holds two or more {activity_kind} activities; give --target.")
            totals = [int(per_cell.reindex(c).sum()) for c in comps]
            best = int(np.argmax(totals))
            cells = comps[best]
            inside = acts[acts["cell"].isin(set(int(c) for c in cells))]
            start, end = min(inside["local_date"]), max(inside["local_date"])
            info = {"kind": "activity", "id": f"{activity_kind} cluster", "activity_kind": activity_kind}
            others = sorted(totals, reverse=True)[1:]
            choices.append(
                f"Target: the {len(cells)} ring-connected cell(s) holding the most {activity_kind} activities "
                f"({totals[best]} activities, {start} to {end})"
                + (f"; {len(others)} smaller cluster(s) ({', '.join(map(str, others[:5]))} activities) were not "
                   "evaluated: pass --target to choose one." if others else "."))
        info["activity_kind"] = activity_kind
        info["activities"] = int(len(inside))
    if cells is None:
        raise InvalidInputError("Give a target (--target PLACE_ID | CELLS | boundary.geojson) or --activity-kind.")
    return np.asarray(cells, dtype=np.uint64), info, choices, start, end


# ------------------------------------------------------------------------------------------ panel
def _panel(store: Store, outcome: str) -> tuple[np.ndarray, list[date], np.ndarray, np.ndarray, np.ndarray]:
    """Study-area cells, weeks, the outcome (cells × weeks) and reports / police reports (for the warning)."""
    cells = np.sort(store.con.execute("select cell from cube_cells").fetchnumpy()["cell"].astype(np.uint64))
    weeks = [pd.Timestamp(w).date() for w in
             store.con.execute("select distinct week_start from mart_cell_week_counts order by 1").fetchnumpy()[
                 "week_start"]]
    cols = ", ".join(_CUBE_COLUMNS)
    frame = store.con.execute(
        f"select cell, week_start, {cols} from mart_cell_week_counts where "
        + " or ".join(f"{c} > 0" for c in _CUBE_COLUMNS)).df()
    rows = np.searchsorted(cells, frame["cell"].to_numpy(dtype=np.uint64))
    wk_index = {w: i for i, w in enumerate(weeks)}
    cols_idx = np.array([wk_index[pd.Timestamp(w).date()] for w in frame["week_start"]], dtype=np.int64)

    def dense(values) -> np.ndarray:
        out = np.zeros((len(cells), len(weeks)), dtype=np.float64)
        np.add.at(out, (rows, cols_idx), np.asarray(values, dtype=np.float64))
        return out

    return (cells, weeks, dense(outcome_series(frame, outcome)), dense(frame["reports"]),
            dense(frame["reports_police"]))


def choose_outcome(outcome: str | None, y: np.ndarray, reports: np.ndarray, police: np.ndarray,
                   choices: list[str]) -> str:
    """The outcome to evaluate: ``outcome``, or the default; ``reports`` when the default has no events
    because every report is police-sourced (recorded in ``choices``).

    Raises :class:`InvalidInputError` naming the cause and the fix when the outcome asked for has no
    events in the study area (``y`` is the outcome's cells x weeks panel).
    """
    chosen = outcome or DEFAULT_OUTCOME
    if float(y.sum()) > 0:
        return chosen
    n_reports, n_police = int(reports.sum()), int(police.sum())
    police_only = chosen == "reports_non_police" and n_reports > 0 and n_police == n_reports
    if police_only and outcome is None:
        choices.append(f"Outcome set to 'reports': all {n_reports:,} location reports in the study area are "
                       "police-sourced, so the default outcome 'reports_non_police' has no events. Patrols "
                       "inflate police-sourced counts (see the warning); ingest partner agencies' reports "
                       "to evaluate on an outcome presence does not inflate.")
        return "reports"
    if police_only:
        raise InvalidInputError(
            f"Outcome 'reports_non_police' has no events: all {n_reports:,} location reports in the study area "
            "are police-sourced (source = police). Re-run with --outcome reports (officers' presence inflates "
            "police-sourced reports, so the result will carry that warning), or ingest reports from partner "
            "agencies.")
    raise InvalidInputError(
        f"Outcome {chosen!r} has no events in the study area ({n_reports:,} location reports, {n_police:,} of "
        "them police-sourced); choose another --outcome (reports_non_police, reports, found, episodes_started) "
        "or ingest the data it counts.")


def _is_synthetic(store: Store) -> bool:
    rows = store.con.execute("select kind, synthetic from batches").fetchall()
    data = [r for r in rows if r[0] != "boundary"]
    return bool(data) and all(r[1] for r in data)


# ------------------------------------------------------------------------------------------ run
def run_evaluation(store: Store, target: str | None, start: str | date | None = None, end: str | date | None = None,
                   outcome: str | None = None, buffer_rings: int = 1, out_dir: Path | str = Path("evaluation"),
                   *, activity_kind: str | None = None, k: int = 20, k_buffer: int = 5, n_boot: int = 2000,
                   period_weeks: int = 4, alpha: float = 0.05, seed: int = 0, power_effect: float = -0.20,
                   before_weeks: int | None = DEFAULT_BEFORE_WEEKS,
                   progress: Callable[[str], None] | None = None) -> dict:
    """Evaluate a disruption at ``target`` from ``start``; write the outputs; return evaluation.json's content.

    Parameters
    ----------
    store : Store
        An open store (read-only is enough).
    target : str or None
        Place id, comma list of H3 cells, or a boundary GeoJSON path (see the module doc).
    start, end : date, ``YYYY-MM-DD`` or ``YYYY-Www``
        First and last treated week (the ISO weeks holding them). ``start`` may be omitted
        with ``activity_kind``; ``end`` defaults to the last activity (with
        ``activity_kind``) or the last week with data.
    outcome : str, optional
        ``reports_non_police`` (the default when None), ``reports``, ``found`` or ``episodes_started``.
        Left as None, a store whose reports are all police-sourced is evaluated on ``reports``, with
        a choice and a warning saying so (:func:`choose_outcome`).
    buffer_rings : int
        Rings around the target watched for displacement (0 = none).
    out_dir : Path
    activity_kind : str, optional
        Disruption kind (e.g. ``presence_patrol``) to take the target and/or dates from.
    k, k_buffer : int
        Matched control cells per treated / buffer cell (reduced automatically when the
        study area is too small; the choice is recorded).
    power_effect : float, default -0.20
        The stated fall for the power section: the post-period weeks needed to detect it
        with 80 % power are reported (:func:`analytics.evaluation.weeks_needed`).
    before_weeks : int or None, default :data:`analytics.evaluation.evaluability.DEFAULT_BEFORE_WEEKS` (26)
        The before period is at most this many weeks before the start (8 to 520; None = every week
        with data), for the matching and every method: the weekly plan chooses places on their last
        26 weeks, so weeks before that compare the after period with a time before the busy spell
        the place was chosen for (:mod:`analytics.evaluation.evaluability`).

    Whether the target can be evaluated at all is decided from the before period alone
    (``evaluation.json["evaluability"]``): when no fall of up to 95 % is detectable with 80 % power
    at the before-period rates, the verdict says the target is too sparse to evaluate and claims
    no effect size.
    """
    timings: dict[str, float] = {}
    t_all = time.perf_counter()

    def step(name):
        if progress:
            progress(name)
        return time.perf_counter()

    _check_arguments(power_effect, outcome, buffer_rings)
    before_weeks = check_before_weeks(before_weeks)
    out_dir = Path(out_dir)
    res = store.resolution

    t0 = step("target")
    cells_t, target_info, choices, act_start, act_end = resolve_target(store, target, res, activity_kind)
    start_w, end_w = _start_end(start, end, act_start, act_end, activity_kind, choices)
    timings["target"] = round(time.perf_counter() - t0, 3)

    t0 = step("cube")
    cube_mod.build_cube(store, res)
    cells, weeks, y, reports, police = _panel(store, outcome or DEFAULT_OUTCOME)
    chosen = choose_outcome(outcome, y, reports, police, choices)
    if chosen != (outcome or DEFAULT_OUTCOME):
        cells, weeks, y, reports, police = _panel(store, chosen)
    outcome = chosen
    timings["cube"] = round(time.perf_counter() - t0, 3)
    weeks, y, reports, police, post, end_w = _periods(weeks, y, reports, police, start_w, end_w, choices)
    weeks, y, reports, police, post = _before_window(weeks, y, reports, police, post, before_weeks, choices)
    n_pre, n_post = int((~post).sum()), int(post.sum())

    cells_t, treated, buffer_cells, buffer, pool, k, k_buffer = _design(cells, cells_t, buffer_rings, k,
                                                                      k_buffer, choices)

    t0 = step("estimators")
    ev = evaluate_panel(y, post, treated, buffer, pool, k=k, k_buffer=k_buffer, alpha=alpha, n_boot=n_boot,
                        period_weeks=period_weeks, seed=seed,
                        neighbourhood=neighbourhood_counts(y, grid.neighbour_matrix(cells, 1)))
    methods = ev.methods
    evaluability = evaluability_of_panel(y, post, treated, ev.matches, alpha=alpha)
    timings["estimators"] = round(time.perf_counter() - t0, 3)

    t_pre_mean = float(ev.series["treated"][~post].mean())
    power = _power(ev, y, post, methods, t_pre_mean, n_pre, n_post, alpha, power_effect)

    warnings, share = _warnings(outcome, reports, police, treated, post, n_post, t_pre_mean)

    synthetic = _is_synthetic(store)
    hexes_t = grid.cells_to_hex(cells_t)
    result = {
        "target": {**target_info, "cells": hexes_t, "n_cells": len(hexes_t),
                   "buffer_rings": int(buffer_rings), "buffer_cells": grid.cells_to_hex(buffer_cells),
                   "n_control_cells": int(ev.matches.size), "n_buffer_control_cells": int(ev.buffer_matches.size)},
        "outcome": outcome,
        "methods": methods,
        "synthetic": synthetic,
        "periods": {"start_week": week_label(start_w), "end_week": week_label(end_w),
                    "first_week": week_label(weeks[0]), "last_week_before": week_label(weeks[n_pre - 1]),
                    "weeks_before": n_pre, "weeks_after": n_post},
        "power": power,
        "evaluability": evaluability.as_dict(),
        "police_share_of_reports_in_target": share,
        "warnings": warnings,
        "choices": choices,
        "parameters": {"k": k, "k_buffer": k_buffer, "n_boot": n_boot, "period_weeks": period_weeks,
                       "alpha": alpha, "seed": seed, "resolution": res, "guard_rings": 1,
                       "before_weeks": before_weeks},
    }
    result["verdict"] = build_verdict(result)

    t0 = step("write")
    out_dir.mkdir(parents=True, exist_ok=True)
    outputs = _write(out_dir, result, ev, weeks, post, synthetic)
    timings["write"] = round(time.perf_counter() - t0, 3)
    timings["total"] = round(time.perf_counter() - t_all, 3)
    result["outputs"] = outputs
    result["timings_s"] = timings
    result["tool_version"] = TOOL_VERSION
    result["created_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    Path(outputs["json"]).write_text(json.dumps(result, indent=2, default=str, allow_nan=False), encoding="utf-8")
    return result


# ------------------------------------------------------------------------------ run_evaluation's steps
def _check_arguments(power_effect, outcome, buffer_rings) -> None:
    """Refuse a power fall outside (0, 100) %, an unknown outcome or a buffer outside 0..5 rings."""
    if not (isinstance(power_effect, (int, float)) and -1 < power_effect < 0):
        shown = -power_effect * 100 if isinstance(power_effect, (int, float)) else power_effect
        raise InvalidInputError(f"The power fall must be between 0 and 100 % (e.g. --power-fall 20); received "
                                f"{shown!r} %.")
    if outcome is not None and outcome not in OUTCOMES:
        raise InvalidInputError(f"Outcome {outcome!r} is not one of {', '.join(OUTCOMES)}.")
    if isinstance(buffer_rings, bool) or not isinstance(buffer_rings, (int, np.integer)) or not 0 <= buffer_rings <= 5:
        raise InvalidInputError(f"buffer_rings must be an integer from 0 to 5; received {buffer_rings!r}.")


def _start_end(start, end, act_start, act_end, activity_kind, choices: list[str]) -> tuple[date, date | None]:
    """First and last treated week (Mondays) from the arguments, else from the disruption activities."""
    start_w = _monday(start, "Start")
    end_w = _monday(end, "End")
    if start_w is None:
        if act_start is None:
            raise InvalidInputError("Give --start DATE (or --activity-kind to take it from the disruptions).")
        start_w = _monday(act_start, "Start")
        choices.append(f"Start set to {act_start} (week {week_label(start_w)}), the first {activity_kind} activity.")
    if end_w is None and act_end is not None:
        end_w = _monday(act_end, "End")
        choices.append(f"End set to {act_end} (week {week_label(end_w)}), the last {activity_kind} activity.")
    return start_w, end_w


def _periods(weeks: list[date], y, reports, police, start_w: date, end_w: date | None, choices: list[str]):
    """The panel cut at the end week, and the post-period mask; refuses fewer than 8 weeks before."""
    if end_w is None:
        end_w = weeks[-1]
        choices.append(f"End set to {week_label(end_w)}, the last week with data.")
    if end_w < start_w:
        raise InvalidInputError(f"End week {week_label(end_w)} is before start week {week_label(start_w)}.")
    if end_w > weeks[-1]:
        choices.append(f"End {week_label(end_w)} is after the last week with data; the post period ends at "
                       f"{week_label(weeks[-1])}.")
        end_w = weeks[-1]
    keep_w = np.array([w <= end_w for w in weeks])
    weeks = [w for w, kk in zip(weeks, keep_w) if kk]
    y, reports, police = y[:, keep_w], reports[:, keep_w], police[:, keep_w]
    post = np.array([w >= start_w for w in weeks])
    n_pre, n_post = int((~post).sum()), int(post.sum())
    if n_pre < 8:
        raise InvalidInputError(f"Only {n_pre} week(s) of data before {week_label(start_w)}; at least 8 are needed "
                                f"(data start {week_label(weeks[0]) if weeks else '—'}).")
    if n_post < 1:
        raise InvalidInputError(f"No week of data from {week_label(start_w)} on.")

    return weeks, y, reports, police, post, end_w


def parse_before_weeks(text) -> int | None:
    """``--before-weeks`` as given on the command line: ``all`` (every week), a whole number from 8 to 520, or
    None (not given: :data:`~analytics.evaluation.evaluability.DEFAULT_BEFORE_WEEKS`)."""
    if text is None:
        return DEFAULT_BEFORE_WEEKS
    t = str(text).strip().lower()
    if t == "all":
        return None
    return check_before_weeks(int(t) if t.isdigit() else text)  # anything else: its one-line refusal


def _before_window(weeks: list[date], y, reports, police, post, before_weeks: int | None, choices: list[str]):
    """The panel cut to at most ``before_weeks`` weeks before the start (None: every week), the choice recorded."""
    n_pre = int((~post).sum())
    first = before_start(post, before_weeks)
    if before_weeks is None:
        choices.append(f"Before period: every week with data before the start ({n_pre} weeks; --before-weeks all).")
    elif first:
        choices.append(f"Before period: the {before_weeks} weeks before the start (--before-weeks {before_weeks}, the "
                       f"window the weekly plan chooses places on by default; the controls are matched on it too); "
                       f"{first} earlier week(s) with data are not used, so a busy spell the place was chosen for is "
                       "not compared with quieter weeks before it. --before-weeks all uses every week.")
    else:
        choices.append(f"Before period: all {n_pre} weeks with data before the start (fewer than --before-weeks "
                       f"{before_weeks}).")
    return weeks[first:], y[:, first:], reports[:, first:], police[:, first:], post[first:]


def _design(cells: np.ndarray, cells_t: np.ndarray, buffer_rings: int, k: int, k_buffer: int, choices: list[str]):
    """Target cells inside the study area, the buffer ring(s), the control pool outside the guard band, and
    the matched controls per cell (reduced when the pool is too small; the choice is recorded)."""
    pos = np.searchsorted(cells, cells_t)
    pos = np.clip(pos, 0, len(cells) - 1)
    inside = cells[pos] == cells_t
    if not inside.all():
        choices.append(f"{int((~inside).sum())} target cell(s) lie outside the study area and were left out.")
    cells_t = cells_t[inside]
    if not len(cells_t):
        raise InvalidInputError("No target cell lies inside the study area.")
    treated = np.searchsorted(cells, cells_t)
    disk_b = grid.grid_disk_cells(cells_t, buffer_rings)
    buffer_cells = np.setdiff1d(disk_b, cells_t)
    buffer_cells = buffer_cells[np.isin(buffer_cells, cells)]
    buffer = np.searchsorted(cells, buffer_cells)
    guard = grid.grid_disk_cells(cells_t, buffer_rings + 1)
    pool = np.flatnonzero(~np.isin(cells, guard))
    need = len(treated) * k + len(buffer) * k_buffer
    if len(pool) < need:
        k_new = max(2, len(pool) // (len(treated) + len(buffer)) - 1)
        choices.append(f"Matched controls per cell reduced from {k} to {k_new}: only {len(pool)} candidate cells.")
        k, k_buffer = k_new, min(k_buffer, k_new)

    return cells_t, treated, buffer_cells, buffer, pool, k, k_buffer


def _power(ev, y, post, methods: dict, t_pre_mean: float, n_pre: int, n_post: int, alpha: float,
           power_effect: float) -> dict:
    """The power section: what this design could detect, from the pre-period levels."""
    c_pre_mean = float(y[ev.matches.ravel()][:, ~post].sum(0).mean())
    disp = methods["did"].get("dispersion") or 1.0
    power = {
        "treated_pre_mean_per_week": round(t_pre_mean, 3), "weeks_before": n_pre, "weeks_after": n_post,
        "alpha": alpha, "power": 0.8, "dispersion": disp,
        "mde_did": (minimum_detectable_effect(t_pre_mean, n_pre, n_post, alpha=alpha, power=0.8,
                                              control_per_week=c_pre_mean or None, dispersion=disp)
                    if t_pre_mean > 0 else None),
        "mde_single_series": (minimum_detectable_effect(t_pre_mean, n_pre, n_post, alpha=alpha, power=0.8,
                                                        dispersion=disp) if t_pre_mean > 0 else None),
    }
    for key in ("mde_did", "mde_single_series"):
        if power[key] is not None and not math.isfinite(power[key]):
            power[key] = None
    power["max_fall_searched"] = MAX_DETECTABLE_FALL
    power["stated_effect"] = power_effect
    power["weeks_needed_did"] = (weeks_needed(power_effect, t_pre_mean, n_pre, alpha=alpha, power=0.8,
                                              control_per_week=c_pre_mean or None, dispersion=disp)
                                 if t_pre_mean > 0 else None)
    power["weeks_needed_single_series"] = (weeks_needed(power_effect, t_pre_mean, n_pre, alpha=alpha, power=0.8,
                                                        dispersion=disp) if t_pre_mean > 0 else None)

    return power


def _warnings(outcome: str, reports, police, treated, post, n_post: int, t_pre_mean: float):
    """Warnings about the outcome, the police share in the target, the post period and the level."""
    warnings = []
    if outcome in DETECTION_DRIVEN:
        warnings.append(f"Outcome {outcome!r} is detection-driven: {DETECTION_DRIVEN[outcome]}, so a real fall in "
                        "harm can be hidden (or a rise created) by the disruption itself. "
                        + (f"Prefer {DEFAULT_OUTCOME!r}." if police.sum() < reports.sum() else
                           "Every report in the study area is police-sourced, so there is no "
                           f"{DEFAULT_OUTCOME!r} outcome to prefer: read any effect with this in mind."))
    r_t, p_t = reports[treated], police[treated]
    share = {period: (float(p_t[:, m].sum() / r_t[:, m].sum()) if r_t[:, m].sum() > 0 else None)
             for period, m in (("before", ~post), ("after", post))}
    if share["before"] is not None and share["after"] is not None and share["after"] > share["before"] + 0.10:
        warnings.append(f"The police share of reports in the target rose from {share['before']:.0%} to "
                        f"{share['after']:.0%}: officers present may be generating reports.")
    if n_post < 8:
        warnings.append(f"Only {n_post} post week(s): estimates are fragile; 8 or more are advisable.")
    if t_pre_mean < 1:
        warnings.append(f"The target averaged {t_pre_mean:.2f} events a week before the start: too few for any "
                        "method to say much.")

    return warnings, share


# ------------------------------------------------------------------------------------------ write
def _write(out_dir: Path, result: dict, ev, weeks: list[date], post: np.ndarray, synthetic: bool) -> dict:
    labels = [week_label(w) for w in weeks]
    s = ev.series.copy()
    s.insert(0, "week", labels)
    s.insert(1, "week_start", [w.isoformat() for w in weeks])
    s["period"] = np.where(post, "after", "before")
    s = s.drop(columns=["post"])
    s = s.rename(columns={"control": "control_mean_of_matched_groups",
                          "buffer_control": "buffer_control_mean_of_matched_groups"})
    if synthetic:
        s["synthetic"] = SYNTHETIC_LABEL
    weekly_csv = out_dir / "series_weekly.csv"
    write_csv(s.round(4), weekly_csv)
    scm = result["methods"]["synthetic_control"]
    pw = scm["period_weeks"]
    n_sc = len(ev.sc_series)
    t0 = int(np.argmax(post))
    first = t0 - scm["n_pre_periods"] * pw
    sc = ev.sc_series.copy()
    sc.insert(0, "period_start_week", [labels[first + i * pw] if first + i * pw < len(labels) else ""
                                       for i in range(n_sc)])
    sc["period"] = ["after" if i >= scm["n_pre_periods"] else "before" for i in range(n_sc)]
    if synthetic:
        sc["synthetic_data"] = SYNTHETIC_LABEL
    sc_csv = out_dir / "series_synthetic_control.csv"
    write_csv(sc.round(4), sc_csv)

    m = result["methods"]
    chart = line_chart_svg(labels, {"treated": s["treated"].to_numpy(),
                                    "control": s["control_mean_of_matched_groups"].to_numpy(),
                                    "its_counterfactual": s["its_counterfactual"].to_numpy()},
                           start_index=t0, title="Weekly events: target, matched controls and the ITS "
                                                 "counterfactual", dashed=("its_counterfactual",))
    chart_buffer = line_chart_svg(labels, {"buffer": s["buffer"].to_numpy(),
                                           "buffer_control": s["buffer_control_mean_of_matched_groups"].to_numpy()},
                                  start_index=t0, title="Weekly events: buffer ring and its matched controls")
    chart_sc = line_chart_svg(sc["period_start_week"].tolist(), {"treated": sc["treated"].to_numpy(),
                                                                  "synthetic": sc["synthetic"].to_numpy()},
                              start_index=scm["n_pre_periods"], height=240,
                              title=f"Synthetic control, periods of {pw} weeks", dashed=("synthetic",),
                              y_label=f"events per {pw} weeks", x_label=f"period of {pw} weeks (first week)")
    rows = [(METHOD_LABELS[k_], m[k_].get("relative_effect"), m[k_].get("ci_low"), m[k_].get("ci_high"))
            for k_ in ("did", "its", "synthetic_control", "panel_poisson") if k_ in m]
    if m["did"].get("buffer"):
        b = m["did"]["buffer"]
        rows.append(("Buffer ring, DiD (displacement > 0)", b.get("relative_effect"), b.get("ci_low"),
                     b.get("ci_high")))
    if m["its"].get("buffer"):
        b = m["its"]["buffer"]
        rows.append(("Buffer ring, ITS", b.get("relative_effect"), b.get("ci_low"), b.get("ci_high")))
    if m.get("panel_poisson", {}).get("buffer"):
        b = m["panel_poisson"]["buffer"]
        rows.append(("Buffer ring, panel regression", b.get("relative_effect"), b.get("ci_low"), b.get("ci_high")))
    html = page_template("evaluation.html.j2").render(
        r=result, m=m, chart=chart, chart_buffer=chart_buffer, chart_sc=chart_sc, forest=forest_svg(rows),
        pct=pct, labels=METHOD_LABELS,
        generated=datetime.now(timezone.utc).astimezone().strftime("%Y-%m-%d %H:%M"))
    html_path = out_dir / "evaluation.html"
    html_path.write_text(html, encoding="utf-8")
    return {"html": str(html_path), "json": str(out_dir / "evaluation.json"), "series_weekly_csv": str(weekly_csv),
            "series_synthetic_control_csv": str(sc_csv)}
