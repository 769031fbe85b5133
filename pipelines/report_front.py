"""The report's first screen: what changed, where to go, how far to trust it — and the trend charts.

:func:`first_screen` gathers, for ``report.html``'s first screen (template
``report_first_screen.j2``):

* three sentences made from the data — :func:`change_sentence` (what changed since last week,
  by category, with the one definition of :mod:`analytics.week_change`), :func:`plan_sentence`
  (where the plan sends people first) and :func:`data_sentence` (how much data, and the main
  caveat);
* a small overview map (:func:`pipelines.report_charts.overview_map`: study outline, this
  week's shared hot cells, the plan's top entries numbered), static SVG — no script, no tiles;
* the plan's top entries (rank, priority, kind, area or places, windows, expected);
* relative links to ``patrol_map.html`` and ``analyst_map.html`` in the same folder.

:func:`trend_charts` gives the two trend figures (weekly events over the analysed weeks, and
hot spot cells by category over the weeks whose runs are saved in the output folder).
"""

from __future__ import annotations

import json
import math
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from analytics import grid
from analytics.patrol import CATEGORY_LABELS
from analytics.sufficiency import MIN_EVENTS_IN_WINDOW
from analytics.week_change import HOT_NOW, became_hot_by_category, category_counts, hot_now, week_changes
from analytics.weeks import parse_week, week_label
from pipelines import layout
from pipelines.report_charts import bar_chart, overview_map, stacked_chart

__all__ = ["change_sentence", "plan_sentence", "data_sentence", "first_screen", "trend_charts", "category_history",
           "plan_entries", "FIRST_SCREEN_ENTRIES", "MAP_LINKS"]

#: Plan entries listed (and numbered on the overview map) on the first screen.
FIRST_SCREEN_ENTRIES = 5
#: The two maps of the same week's folder, linked relatively from the first screen.
MAP_LINKS = (("patrol_map.html", "Patrol map (printable plan for commanders)"),
             ("analyst_map.html", "Analyst map (every hot spot, layers, reasons)"))
#: Late-arrival share above which the data sentence warns that recent weeks may still change.
LATE_SHARE_CAVEAT = 0.2


def _n(count: int, one: str, many: str | None = None) -> str:
    return f"{count:,} {one if count == 1 else (many or one + 's')}"


def _pattern(category: str) -> str:
    """'sporadic' from 'sporadic_hot' (the word the category labels use)."""
    return category.rsplit("_", 1)[0]


def change_sentence(changes: dict[str, list[str]], by_category: dict[str, int], n_hot_before: int,
                    week: str, previous_week: str) -> str:
    """What changed since last week, by category (counts agree with the category counts).

    ``changes`` as :func:`analytics.week_change.week_changes`; ``by_category`` as
    :func:`analytics.week_change.became_hot_by_category`.

    Examples
    --------
    >>> ch = {"new": [], "became_hot": ["a", "b"], "continuing": ["c"], "ended": [], "intensifying": []}
    >>> change_sentence(ch, {"sporadic_hot": 2}, 1, "2026-W26", "2026-W25")
    '3 cells are hot spots in 2026-W26 (last week, 2026-W25: 1): 2 became hot since last week (2 sporadic; none is a new hot spot), 1 continues and none ended.'
    """
    n_hot = len(changes["became_hot"]) + len(changes["continuing"])
    ended = len(changes["ended"])
    if n_hot == 0:
        if ended == 0:
            return f"No cell is a hot spot in {week}, as in the week before ({previous_week})."
        return (f"No cell is a hot spot in {week}: the {_n(ended, 'hot spot')} of last week ({previous_week}) "
                f"{'has' if ended == 1 else 'have all'} ended.")
    became = len(changes["became_hot"])
    n_new = len(changes["new"])
    if became:
        parts = [f"{n:,} {_pattern(c)}" for c, n in by_category.items()]
        if not n_new:
            parts[-1] += "; none is a new hot spot"
        detail = f"{became:,} became hot since last week ({', '.join(parts)})"
    else:
        detail = "none became hot since last week"
    cont = len(changes["continuing"])
    tail = f"{cont:,} continue{'s' if cont == 1 else ''} and {'none' if not ended else f'{ended:,}'} ended"
    intens = len(changes["intensifying"])
    extra = f"; {intens:,} {'is' if intens == 1 else 'are'} intensifying" if intens else ""
    verb = "is a hot spot" if n_hot == 1 else "are hot spots"
    return (f"{_n(n_hot, 'cell')} {verb} in {week} (last week, {previous_week}: {n_hot_before:,}): "
            f"{detail}, {tail}{extra}.")


def _text(value) -> str:
    """A plan text field as text: missing (None, NaN, empty) is ``""``."""
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value).strip()


def _where(entry: dict) -> str:
    """An entry's place in words: its area and its nearest named place (no coordinates)."""
    area = _text(entry.get("area_name"))
    places = _text(entry.get("places"))
    first = places.split(";")[0].split(" (")[0].strip() if places else ""
    named = " · ".join(p for p in (first, area) if p)
    return named or f"the rank-{int(entry['rank'])} cell (no named place nearby)"


def _windows(entry: dict, n: int = 2) -> str:
    w = [x.strip() for x in _text(entry.get("windows")).split(";") if x.strip()]
    return " and ".join(w[:n]) if w else "at any time (no hour pattern)"


def plan_sentence(entries: list[dict], plan_dates: str, n_entries: int) -> str:
    """Where the plan sends people first (``entries``: the plan's first rows, rank order).

    Examples
    --------
    >>> plan_sentence([], "Mon 29 Jun – Sun 5 Jul 2026", 0)[:68]
    'The plan for next week (Mon 29 Jun – Sun 5 Jul 2026) has no entries:'
    """
    if not entries:
        return (f"The plan for next week ({plan_dates}) has no entries: no cell scored above zero, so no "
                "targeted presence is proposed.")
    first = entries[0]
    text = (f"The plan for next week ({plan_dates}) sends presence first to {_where(first)} "
            f"(priority {int(first['priority'])}{', ' + first['kind'] if first['kind'] else ''}) on {_windows(first)}")
    rest = [_where(e) for e in entries[1:3]]
    if rest:
        text += ", then to " + " and ".join(rest)
    n_top = sum(1 for e in entries if int(e["priority"]) == 1)
    return text + f"; {_n(n_entries, 'entry', 'entries')} in all" + (
        f", {n_top:,} of the first {len(entries)} at priority 1." if len(entries) < n_entries else ".")


def data_sentence(events_week: int, events_window: int, n_weeks: int, first_week: str, last_week: str,
                  measure: str, single_source: str | None, late_share: float | None, bulk_load: bool,
                  synthetic: bool) -> str:
    """How much data the week rests on, and the one caveat that matters most.

    Examples
    --------
    >>> data_sentence(12, 400, 26, "2026-W01", "2026-W26", "reports", "police", None, False, False)[:70]
    'Based on 12 reports in 2026-W26 and 400 over the 26 weeks analysed (20'
    """
    head = (f"Based on {events_week:,} {measure} in {last_week} and {events_window:,} over the {n_weeks} weeks "
            f"analysed ({first_week} to {last_week}), {'above' if events_window >= MIN_EVENTS_IN_WINDOW else 'below'} "
            f"the {MIN_EVENTS_IN_WINDOW} needed to call hot spots")
    if single_source == "police":
        caveat = "but every report came from police, so hot spots may partly show where police already are"
    elif single_source == "not recorded":
        caveat = "but no report records its source, so hot spots cannot be checked for who reported them"
    elif single_source:
        caveat = f"but every report came from one source ({single_source})"
    elif late_share is not None and late_share > LATE_SHARE_CAVEAT and not bulk_load:
        caveat = (f"but {100 * late_share:.0f} % of reports arrive more than a week late, so this week's counts "
                  "may still rise")
    elif events_window < 3 * MIN_EVENTS_IN_WINDOW:
        caveat = "but that is little data: read the hot spots as leads to check, not findings"
    else:
        caveat = "hot spots are statistical flags to check against local knowledge before acting"
    tail = " These are SYNTHETIC data, not real young people." if synthetic else ""
    return f"{head}; {caveat}.{tail}"


def _fmt_expected(entry: dict) -> str:
    v = entry.get("expected")
    if v is None or (isinstance(v, float) and math.isnan(v)) or v == "":
        return "—"
    lo, hi = entry.get("expected_low"), entry.get("expected_high")
    txt = f"{float(v):.1f}"
    if lo is not None and hi is not None and not (isinstance(lo, float) and math.isnan(lo)) \
            and not (isinstance(hi, float) and math.isnan(hi)) and lo != "" and hi != "":
        txt += f" ({float(lo):.1f}–{float(hi):.1f})"
    return txt


def plan_entries(plan: pd.DataFrame, n: int = FIRST_SCREEN_ENTRIES) -> list[dict]:
    """The plan's first ``n`` entries for the first screen (columns of the fixed plan schema)."""
    rows = []
    for e in plan.head(n).to_dict("records"):
        rows.append({"rank": int(e["rank"]), "priority": int(e["priority"]), "kind": _text(e.get("kind")),
                     "where": _where(e), "places": _text(e.get("places")), "area_name": _text(e.get("area_name")),
                     "windows": _text(e.get("windows")), "expected": _fmt_expected(e),
                     "lat": e.get("lat"), "lon": e.get("lon")})
    return rows


def first_screen(*, hotspots: pd.DataFrame, previous: pd.DataFrame, plan: pd.DataFrame, outline: dict | None,
                 week: str, plan_dates: str, events_week: int, events_window: int, summary: dict, measure: str,
                 single_source: str | None, late: dict, synthetic: bool) -> dict:
    """Context of the first screen (see the module doc). ``hotspots``/``previous`` are the shared frames."""
    changes = week_changes(hotspots, previous)
    by_cat = became_hot_by_category(hotspots, changes)
    prev_week = week_label(parse_week(week) - timedelta(weeks=1))
    n_before = int(hot_now(previous["category"]).sum())
    entries = plan_entries(plan)
    late_share = (late["late"] / late["n"]) if late.get("n") else None
    sentences = [
        change_sentence(changes, by_cat, n_before, week, prev_week),
        plan_sentence(entries, plan_dates, len(plan)),
        data_sentence(events_week, events_window, int(summary.get("weeks", 0) or 0), summary.get("first_week", week),
                      week, measure, single_source, late_share, bool(late.get("bulk")), synthetic),
    ]
    hot = hotspots[hot_now(hotspots["category"])]
    points = [{"rank": e["rank"], "priority": e["priority"], "lat": e["lat"], "lon": e["lon"]} for e in entries
              if e["lat"] is not None and not pd.isna(e["lat"])]
    omap = overview_map(outline, list(zip(hot["cell"], hot["category"])), points)
    return {"sentences": sentences, "map": omap, "entries": entries, "n_plan": int(len(plan)),
            "links": [{"href": h, "label": t} for h, t in MAP_LINKS], "plan_dates": plan_dates,
            "counts": {"hot": int(len(hot)), "before": n_before, **{k: len(v) for k, v in changes.items()}},
            "categories_now": {CATEGORY_LABELS[c]: n for c, n in category_counts(hotspots["category"]).items()}}


# ------------------------------------------------------------------------------------ trends
def _saved_categories(folder: Path, shared: bool) -> dict[str, int] | None:
    """Hot-now category counts of a saved weekly run (withheld cells left out for shared outputs)."""
    path = layout.output_path(folder, "hotspots_parquet")
    if not path.is_file():
        return None
    try:
        frame = pd.read_parquet(path, columns=["cell", "category"])
        if shared:
            run = json.loads(layout.output_path(folder, "run").read_text(encoding="utf-8"))
            withheld = set(run.get("weekly", {}).get("safeguarding", {}).get("withheld", []))
            frame = frame[~frame["cell"].isin(withheld)]
    except (OSError, ValueError, KeyError):
        return None
    return category_counts(frame["category"])


def category_history(out_root: Path | None, weeks: list[date], hotspots: pd.DataFrame, previous: pd.DataFrame,
                     shared: bool = True) -> list[dict[str, int] | None]:
    """Hot spot cells by category for each of ``weeks``: this week and last week from this run, earlier
    weeks from the runs saved under ``out_root`` (None where no run was saved)."""
    out: list[dict[str, int] | None] = []
    for i, w in enumerate(weeks):
        if i == len(weeks) - 1:
            out.append(category_counts(hotspots["category"]))
        elif i == len(weeks) - 2:
            out.append(category_counts(previous["category"]))
        else:
            out.append(_saved_categories(Path(out_root) / week_label(w), shared) if out_root else None)
    return out


def _young_people_per_week(store, weeks: list[date], cells: np.ndarray) -> list[int]:
    """Distinct young people seen or found in the study area per week (episode starts left out)."""
    store.con.register("report_trend_cells", pd.DataFrame({"cell": cells.astype(np.uint64)}))
    try:
        got = store.con.execute(
            "select week_start, count(distinct person_key) as n from int_cell_events "
            "where event <> 'episode_started' and person_key is not null and week_start between $a and $b "
            "and cell in (select cast(cell as ubigint) from report_trend_cells) group by week_start",
            {"a": weeks[0], "b": weeks[-1]}).df()
    finally:
        store.con.unregister("report_trend_cells")
    by_week = {pd.Timestamp(w).date(): int(n) for w, n in zip(got["week_start"], got["n"])}
    return [by_week.get(w, 0) for w in weeks]


def trend_charts(store, cube: pd.DataFrame, weeks: list[date], measure: str, k: int, out_root: Path | None,
                 hotspots: pd.DataFrame, previous: pd.DataFrame, time_zone: str, shared: bool = True) -> dict:
    """The report's trend figures (geometry for ``report_charts.j2``)."""
    labels = [week_label(w) for w in weeks]
    per_week = cube.groupby(pd.to_datetime(cube["week_start"]).dt.date)[measure].sum()
    values = [int(per_week.get(w, 0)) for w in weeks]
    x_unit = f"ISO week (Monday to Sunday, {time_zone})"
    charts = {"events": bar_chart(labels, values, y_unit=f"{measure} per week", x_unit=x_unit,
                                  title=f"{measure.capitalize().replace('_', ' ')} per week in the study area, "
                                        f"{labels[0]} to {labels[-1]}")}
    people = _young_people_per_week(store, weeks, grid.hex_to_cells(hotspots["cell"].tolist()))
    if any(people):
        charts["people"] = bar_chart(labels, people, y_unit="distinct young people per week", x_unit=x_unit,
                                     title=f"Distinct young people seen or found per week (below {k} shown as "
                                           f"\u201c<{k}\u201d)", k=k)
    history = category_history(out_root, weeks, hotspots, previous, shared)
    saved = sum(1 for h in history[:-2] if h is not None)
    charts["categories"] = stacked_chart(labels, history, y_unit="hot spot cells", x_unit=x_unit,
                                         title=f"Hot spot cells by category, {labels[0]} to {labels[-1]}")
    charts["categories"]["saved_weeks"] = saved
    return charts
