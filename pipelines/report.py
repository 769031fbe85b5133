"""The weekly analyst report (``report.html``): one self-contained, printable page.

Built by :func:`build_report` from the weekly run's figures and a few read-only store
queries (data quality and the equity breakdown), rendered with the Jinja2 template
``pipelines/templates/report.html.j2`` (shipped inside the package). The page has no
external asset: CSS is inline, sparklines are inline SVG, and no URL is written.

The first screen (three sentences, overview map, the plan's first entries, links to both maps)
comes from :mod:`pipelines.report_front` (template ``report_first_screen.j2``); the SVG charts'
geometry from :mod:`pipelines.report_charts`, drawn by the Jinja macros of ``report_charts.j2``.

The report is a *shared* output (see :mod:`pipelines.privacy_scan`): it names cells and
places, never young people; counts of distinct young people below ``k`` show as ``"<k"``,
with secondary suppression inside each breakdown so a hidden count cannot be recovered by
subtracting the others from the total.
"""

from __future__ import annotations

import math
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from markupsafe import Markup

from analytics import contracts, grid
from pipelines.render.html import escape_text, page_template
from analytics.patrol import CATEGORY_LABELS, CELLS_SEPARATOR, SEVERITY_ORDER
from analytics.privacy import suppress_count, suppress_table
from analytics.weeks import week_label

__all__ = ["build_report", "render_report", "sparkline_svg", "suppress_breakdown", "AGE_BANDS", "TEMPLATE_DIR",
           "POLICE_SHARE_FLAG"]

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
#: Age bands of the equity section (years, inclusive).
AGE_BANDS = (("0–11", 0, 11), ("12–13", 12, 13), ("14–15", 14, 15), ("16–17", 16, 17))
EQUITY_FLAGS = (("disability", "Disability"), ("first_nations", "First Nations"), ("cald", "CALD"),
                ("lgbtqia", "LGBTQIA+"))
#: A top hotspot is flagged when more than this share of its reports came from police.
POLICE_SHARE_FLAG = 0.60
SOURCES = ("police", "child_protection", "care_provider", "education", "health", "youth_service", "community",
           "return_interview")
LATE_DAYS = 7

_HOT_ORDER = {f"{s}_hot": i for i, s in enumerate(SEVERITY_ORDER)}


# --------------------------------------------------------------------------- small pieces
def sparkline_svg(values, labels: list[str] | None = None, width: int = 120, height: int = 26) -> Markup:
    """A tiny inline SVG line of a weekly series (last week marked with a dot).

    Examples
    --------
    >>> str(sparkline_svg([0, 2, 1]))[:4]
    '<svg'
    """
    v = np.asarray(values, dtype=float)
    n = len(v)
    top = float(v.max()) if n and v.max() > 0 else 1.0
    pad = 2.0
    xs = [pad + (width - 2 * pad) * (i / max(n - 1, 1)) for i in range(n)]
    ys = [height - pad - (height - 2 * pad) * (x / top) for x in v]
    pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys))
    title = f"Weekly series, {labels[0]} to {labels[-1]}: " if labels else "Weekly series: "
    title += ", ".join(str(int(x)) if float(x).is_integer() else f"{x:.1f}" for x in v)
    last = (f'<circle cx="{xs[-1]:.1f}" cy="{ys[-1]:.1f}" r="2.2" fill="#b2182b"/>' if n else "")
    return Markup(
        f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape_text(title)}"><title>{escape_text(title)}</title>'
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="#bbb" '
        f'stroke-width="0.6"/><polyline fill="none" stroke="#333" stroke-width="1.3" points="{pts}"/>{last}</svg>')


def suppress_breakdown(counts: list[int], k: int, total: int | None = None) -> list[str]:
    """Suppressed display values for one partition (e.g. the age bands of one column).

    :func:`analytics.privacy.suppress_table`: 0 < n < k shows as ``"<k"``, and more counts
    are hidden as ``"*"`` until the shown total pins no hidden count below what its label
    says (the 22 = 10 + 9 + three "<5" case would show each hidden count is 1).

    Examples
    --------
    >>> suppress_breakdown([12, 3, 7], 5, total=22)
    ['12', '<5', '*']
    >>> suppress_breakdown([10, 9, 1, 1, 1], 5, total=22)
    ['10', '*', '<5', '<5', '<5']
    >>> suppress_breakdown([0, 0, 9], 5, total=9)
    ['0', '0', '9']
    """
    return suppress_table(counts, k, total)


def _fmt(v, digits: int = 2) -> str:
    if v is None or (isinstance(v, float) and (math.isnan(v) or math.isinf(v))):
        return "—"
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    return f"{float(v):,.{digits}f}"


def _pct(part: float, whole: float) -> str:
    return "—" if not whole else f"{100.0 * part / whole:.0f} %"


# --------------------------------------------------------------------------- sections
def _top_hotspots(hotspots: pd.DataFrame, top_n: int) -> pd.DataFrame:
    hot = hotspots[hotspots["category"].isin(list(_HOT_ORDER)) & (hotspots["category"] != "historical_hot")].copy()
    hot["_order"] = hot["category"].map(_HOT_ORDER)
    hot = hot.sort_values(["_order", "z", "cell"], ascending=[True, False, True], kind="mergesort").head(top_n)
    return hot.drop(columns="_order").reset_index(drop=True)


def _text_or_empty(value) -> str:
    """A text cell of the plan ('' for a missing value: None or NaN)."""
    return value if isinstance(value, str) else ""


def _top_places(plan: pd.DataFrame, hotspots: pd.DataFrame, top_n: int) -> pd.DataFrame:
    """The top list follows the plan (issue 14): one row per plan entry, in plan order, as :func:`_top_hotspots`'
    columns plus ``cells`` (the entry's H3 ids): ``cell`` is its first cell (z), counts are summed over its cells,
    the pattern is the most urgent among them and the reason is the plan's."""
    by_cell = hotspots.set_index("cell")
    rows = []
    for entry in plan.head(top_n).itertuples(index=False):
        members = [c for c in str(entry.cells).split(CELLS_SEPARATOR) if c in by_cell.index]
        if not members:
            continue
        sub = by_cell.loc[members]
        cats = sorted(sub["category"], key=lambda c: _HOT_ORDER.get(c, len(_HOT_ORDER)))
        rows.append({"cell": members[0], "cells": members, "places": entry.places or "", "category": cats[0],
                     "count": float(sub["count"].sum()), "expected": float(sub["expected"].sum()),
                     "z": float(sub["z"].iloc[0]), "reason": entry.reason,
                     "area_name": _text_or_empty(getattr(entry, "area_name", ""))})
    return pd.DataFrame(rows, columns=["cell", "cells", "places", "category", "count", "expected", "z", "reason",
                                       "area_name"])


def _cell_series(cube: pd.DataFrame, cells_hex: list[str], measure: str) -> dict[str, np.ndarray]:
    ints = grid.hex_to_cells(cells_hex)
    sub = cube[cube["cell"].isin(ints)]
    out = {}
    for hx, c in zip(cells_hex, ints):
        out[hx] = sub.loc[sub["cell"] == c].sort_values("week_start")[measure].to_numpy()
    return out


def _source_share(cube: pd.DataFrame, mask=None) -> dict:
    sub = cube if mask is None else cube[mask]
    total = int(sub["reports"].sum())
    rows = []
    known = 0
    for s in SOURCES:
        n = int(sub[f"reports_{s}"].sum())
        known += n
        rows.append({"source": s.replace("_", " "), "n": n, "share": _pct(n, total)})
    if total - known:
        rows.append({"source": "not recorded", "n": total - known, "share": _pct(total - known, total)})
    return {"total": total, "rows": rows}


def _age_band(age) -> str:
    if age is None or (isinstance(age, float) and math.isnan(age)) or pd.isna(age):
        return "Not recorded"
    for label, lo, hi in AGE_BANDS:
        if lo <= int(age) <= hi:
            return label
    return "Not recorded"


def _equity_counts(people: pd.DataFrame, genders: list[str]) -> dict[str, dict[str, int]]:
    """Distinct young people per group: {partition: {group: n}} from rows (person_key, age, gender, flags).

    One profile per young person (the last row's age and gender, any row's flags), so the age
    bands and the genders are each an exact partition of the total: the margin the
    suppression is checked against (:func:`analytics.privacy.suppress_table`) is the true one.
    """
    flags = [f for f, _ in EQUITY_FLAGS]
    if people.empty:
        people = pd.DataFrame(columns=["person_key", "age_years", "gender", *flags])
    p = people.copy()
    if len(p):
        for f in flags:  # true only when recorded true (missing or "not stated" is not true)
            p[f] = [v is True or (isinstance(v, (bool, np.bool_)) and bool(v))
                    or (isinstance(v, str) and v.strip().lower() == "true") for v in p[f]]
        p[flags] = p.groupby("person_key", sort=False)[flags].transform("max")
        p = p.drop_duplicates("person_key", keep="last")
    p["band"] = [_age_band(a) for a in p["age_years"]]
    p["gender_g"] = p["gender"].fillna("").astype(str).replace({"": "not recorded"})
    res: dict[str, dict[str, int]] = {"total": {"All young people": int(p["person_key"].nunique())}}
    res["age"] = {label: int(p.loc[p["band"] == label, "person_key"].nunique())
                  for label in [b[0] for b in AGE_BANDS] + ["Not recorded"]}
    res["gender"] = {g: int(p.loc[p["gender_g"] == g, "person_key"].nunique()) for g in genders}
    res["flags"] = {label: int(p.loc[p[f].astype(bool), "person_key"].nunique()) if len(p) else 0
                    for f, label in EQUITY_FLAGS}
    return res


def _equity(store, weeks: list[date], top_cells: list[str], k: int, equity_weeks: int) -> dict:
    con = store.con
    tz = store.timezone
    week_start = weeks[-1]
    week_end = week_start + timedelta(days=7)
    episodes = con.execute(
        "select person_key, age_years, gender, disability, first_nations, cald, lgbtqia from episodes "
        "where iso_week_start(missing_from, $tz) = $w order by missing_from, episode_id",
        {"tz": tz, "w": week_start}).df()
    first = weeks[max(0, len(weeks) - equity_weeks)]
    con.register("report_top_cells", pd.DataFrame({"cell": grid.hex_to_cells(top_cells)}))
    try:
        linked = con.execute(
            "with profiles as (select person_key, arg_max(age_years, missing_from) as age_years, "
            "arg_max(gender, missing_from) as gender, bool_or(disability) as disability, "
            "bool_or(first_nations) as first_nations, bool_or(cald) as cald, bool_or(lgbtqia) as lgbtqia "
            "from episodes where iso_week_start(missing_from, $tz) <= $w group by person_key), "
            "hits as (select distinct cell, person_key from int_cell_events where event <> 'episode_started' "
            "and person_key is not null and week_start between $a and $w "
            "and cell in (select cast(cell as ubigint) from report_top_cells)) "
            "select h.cell, h.person_key, p.* exclude (person_key) from hits h "
            "left join profiles p on p.person_key = h.person_key",
            {"tz": tz, "w": week_start, "a": first}).df()
    finally:
        con.unregister("report_top_cells")
    genders = sorted((set(episodes["gender"].dropna().astype(str)) | set(linked["gender"].dropna().astype(str)))
                     & set(contracts.GENDERS))  # row labels only from the closed vocabulary (issue 12)
    genders = [g for g in genders if g] + ["not recorded"]
    columns = [("This week's episodes", _equity_counts(episodes, genders))]
    ints = grid.hex_to_cells(top_cells)
    for i, c in enumerate(ints):
        columns.append((f"#{i + 1}", _equity_counts(linked[linked["cell"] == c], genders)))
    # suppress per column, partition by partition
    rows: list[dict] = []
    shown: dict[str, dict[str, str]] = {}
    for name, counts in columns:
        total = counts["total"]["All young people"]
        col = {"All young people": suppress_count(total, k)}
        for part in ("age", "gender"):
            groups = list(counts[part])
            for g, v in zip(groups, suppress_breakdown([counts[part][g] for g in groups], k, total)):
                col[f"{part}:{g}"] = v
        for g, v in counts["flags"].items():
            col[f"flags:{g}"] = suppress_count(v, k)
        shown[name] = col
    order = ([("All young people", "All young people", "total")]
             + [(f"age:{b[0]}", f"Age {b[0]}", "age") for b in AGE_BANDS] + [("age:Not recorded", "Age not recorded", "age")]
             + [(f"gender:{g}", f"Gender: {g.replace('_', ' ')}", "gender") for g in genders]
             + [(f"flags:{label}", label, "flag") for _, label in EQUITY_FLAGS])
    for key, label, part in order:
        rows.append({"label": label, "part": part, "values": [shown[name][key] for name, _ in columns]})
    return {"columns": [name for name, _ in columns], "rows": rows, "week_start": week_start,
            "week_end": week_end - timedelta(days=1), "first_week": week_label(first), "equity_weeks": equity_weeks}


def _data_quality(store, cube: pd.DataFrame, weeks: list[date], top: pd.DataFrame) -> dict:
    con = store.con
    batches = con.execute(
        "select batch_id, kind, n_read, n_accepted, n_updated, n_duplicate, n_rejected, "
        "strftime(finished_at, '%Y-%m-%d %H:%M') as finished from batches order by batch_id").df()
    quarantine = con.execute(
        "select kind, reason, count(*) as n from quarantine group by kind, reason order by n desc, kind, reason").df()
    late = con.execute(
        f"select count(*) as n, count(*) filter (where b.finished_at > r.observed_at + interval {LATE_DAYS} day) as late, "
        f"count(*) filter (where iso_week_start(r.observed_at, $tz) = $w) as n_week, "
        f"count(*) filter (where iso_week_start(r.observed_at, $tz) = $w "
        f"and b.finished_at > r.observed_at + interval {LATE_DAYS} day) as late_week "
        "from location_reports r join batches b on b.batch_id = r.batch_id",
        {"tz": store.timezone, "w": weeks[-1]}).fetchone()
    week_mask = pd.to_datetime(cube["week_start"]) == pd.Timestamp(weeks[-1])
    flags = []
    for i, (hx, members) in enumerate(zip(top["cell"].tolist(), top["cells"].tolist())):
        sub = cube[cube["cell"].isin(grid.hex_to_cells(members))]  # a plan entry: all its cells
        total, police = int(sub["reports"].sum()), int(sub["reports_police"].sum())
        share = police / total if total else 0.0
        flags.append({"rank": i + 1, "cell": hx, "places": top["places"].iloc[i] or "—", "reports": total,
                      "police": police, "share": _pct(police, total), "flag": share > POLICE_SHARE_FLAG})
    return {
        "batches": batches.to_dict("records"), "quarantine": quarantine.to_dict("records"),
        "quarantine_total": int(quarantine["n"].sum()) if len(quarantine) else 0,
        "late": {"n": late[0], "late": late[1], "share": _pct(late[1], late[0]), "n_week": late[2],
                 "late_week": late[3], "share_week": _pct(late[3], late[2]),
                 "bulk": bool(late[0]) and late[1] / late[0] > 0.9},
        "sources_week": _source_share(cube, week_mask), "sources_window": _source_share(cube),
        "police_flags": flags, "n_flagged": sum(f["flag"] for f in flags),
    }


#: Said at the top of the report when a section is left out for lack of data.
NO_EPISODES_LINE = "No episodes were ingested: equity and young-people sections are omitted."


def _only_source(sources: dict) -> str | None:
    """The one source every report in the window came from (``"not recorded"`` included), else None."""
    used = [r for r in sources["rows"] if r["n"] > 0]
    return used[0]["source"] if sources["total"] and len(used) == 1 else None


def _single_source(sources: dict) -> str | None:
    """One line for the top of the report when every report in the window came from one source, else None.

    Then a per-hot-spot police share says nothing new (every cell would be flagged, or none), so the
    report says it once instead.
    """
    used = [r for r in sources["rows"] if r["n"] > 0]
    if sources["total"] == 0 or len(used) != 1:
        return None
    name = used[0]["source"]
    if name == "police":
        return (f"All {sources['total']:,} reports in the weeks analysed came from police, so every hot spot is "
                "police-sourced: it may partly reflect where police already are, and more presence there would "
                "produce more police reports (a feedback loop). Hot spots are not flagged one by one.")
    who = "have no recorded source" if name == "not recorded" else f"came from one source ({name})"
    return (f"All {sources['total']:,} reports in the weeks analysed {who}: hot spots show where that source "
            "reported, and are not compared by source one by one.")


def _rules_text(rules: dict | None) -> str:
    """The rule set in one sentence (run.json ``rules``)."""
    rules = rules or {}
    used = ", ".join(f"{k.replace('_', ' ')} {v['value']} ({v['from']})" for k, v in rules.items()
                     if isinstance(v, dict))
    if rules.get("set") == "arcgis":
        head = ("arcgis — ESRI's published Emerging Hot Spot Analysis rules (no evidence for a rise; the 90 % "
                "share on the corrected classes); the description above is of the default rules")
    else:
        head = "default — as described above"
    return f"{head}. Used: {used}." if used else f"{head}."


def _flatten(prefix: str, value, out: list[tuple[str, str]]) -> None:
    if isinstance(value, dict):
        for k_, v in value.items():
            _flatten(f"{prefix}.{k_}" if prefix else str(k_), v, out)
    else:
        out.append((prefix, "none" if value is None else
                    ", ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)))


# --------------------------------------------------------------------------- build
def build_report(store, *, meta: dict, hotspots: pd.DataFrame, cube: pd.DataFrame, weeks: list[date],
                 measure: str, previous: pd.DataFrame, plan: pd.DataFrame, k: int, top_n: int,
                 equity_weeks: int, generated: str, analyst_detail: bool = False, outline: dict | None = None,
                 out_root: Path | None = None, area_results: pd.DataFrame | None = None) -> str:
    """Gather every section of the weekly report and render it (returns the HTML text).

    ``area_results`` (``--units areas``: :func:`pipelines.area_hotspots.read_area_hotspots`) adds the
    hot spots by area under section 2.

    ``outline`` (the study-area outline shared with the patrol sheet) is drawn on the first
    screen's overview map; ``out_root`` (the weeks' parent folder) gives the saved earlier runs
    behind the hot-spots-by-category chart.
    """
    week = meta["week"]
    top = _top_places(plan, hotspots, top_n) if len(plan) else _top_hotspots(hotspots, top_n)
    if "cells" not in top.columns:
        top["cells"] = [[c] for c in top["cell"]]
    series = _cell_series(cube, [c for cs in top["cells"] for c in cs], measure)
    labels = [week_label(w) for w in weeks]
    places = dict(zip(hotspots["cell"], hotspots["places"].fillna("")))
    area_of = (dict(zip(hotspots["cell"], hotspots["area_name"].map(_text_or_empty)))
               if "area_name" in hotspots.columns else {})
    prev_cat = dict(zip(previous["cell"], previous["category"]))
    weekly = meta["weekly"]
    dq = _data_quality(store, cube, weeks, top)
    flag_by_cell = {f["cell"]: f for f in dq["police_flags"]}
    top_rows = []
    for i, r in enumerate(top.itertuples()):
        top_rows.append({
            "rank": i + 1, "cell": r.cell, "places": r.places or "—", "area": _text_or_empty(getattr(r, "area_name", "")),
            "category": CATEGORY_LABELS.get(r.category, r.category), "category_key": r.category,
            "previous": CATEGORY_LABELS.get(prev_cat.get(r.cell, "no_pattern"), "—"),
            "reason": r.reason, "count": int(r.count), "expected": _fmt(float(r.expected), 1), "z": _fmt(float(r.z)),
            "spark": sparkline_svg(sum(series[c] for c in r.cells), labels), "police": flag_by_cell.get(r.cell),
            "cells": r.cells,
        })
    headline = {}
    # one dict lookup per headline cell (a frame filter per cell was quadratic on busy weeks)
    category = dict(zip(hotspots["cell"], hotspots["category"]))
    for key, cells in weekly["headline"].items():
        headline[key] = [{"cell": c, "places": places.get(c, "") or "no named place nearby",
                          "area": area_of.get(c, ""),
                          "category": CATEGORY_LABELS.get(
                              category[c] if key != "ended" else prev_cat.get(c, "no_pattern"), "")}
                         for c in cells]
    bt = dict(weekly["backtest"])
    bt_view = {**bt, "hit_rate_txt": "—" if bt["hit_rate"] is None else f"{100 * bt['hit_rate']:.1f} %",
               "pai_txt": _fmt(bt["pai"], 1), "pei_txt": _fmt(bt["pei_star"], 2)}
    params: list[tuple[str, str]] = []
    _flatten("engine", meta.get("parameters", {}), params)
    _flatten("patrol", weekly["parameters"]["patrol"], params)
    for key in ("k_suppression", "top_n", "equity_weeks", "harm_weeks", "tiles", "previous_week_scan_replicates"):
        params.append((f"weekly.{key}", "none" if weekly["parameters"][key] is None else str(weekly["parameters"][key])))
    monday = weeks[-1]
    plan_rows = plan.to_dict("records")
    has_episodes = store.con.execute("select count(*) from episodes").fetchall()[0][0] > 0
    omitted = [] if has_episodes else [NO_EPISODES_LINE]
    sec = {"dq": 6 if has_episodes else 5, "methods": 7 if has_episodes else 6}
    context = {
        "week": week, "monday": monday, "sunday": monday + timedelta(days=6), "generated": generated,
        "synthetic": bool(meta.get("synthetic")), "summary": meta.get("summary", {}), "measure": measure,
        "headline": headline, "n_hot": int(hotspots["category"].isin(
            [c for c in _HOT_ORDER if c != "historical_hot"]).sum()),
        "events_week": int(meta.get("summary", {}).get("events_in_week", 0)),
        "top": top_rows, "top_n": top_n, "plan": plan_rows, "backtest": bt_view,
        "plan_note": (weekly.get("plan") or {}).get("note"),
        "equity": _equity(store, weeks, [c for cs in top["cells"] for c in cs], k, equity_weeks) if has_episodes
        else None,
        "omitted": omitted, "sec": sec, "single_source": _single_source(dq["sources_window"]),
        "rules_text": _rules_text(meta.get("rules")),
        "dq": dq, "late_days": LATE_DAYS, "police_share_flag": int(POLICE_SHARE_FLAG * 100),
        "params": params, "choices": meta.get("choices", []), "versions": meta.get("versions", {}),
        "inputs": [{k_: i.get(k_) for k_ in ("batch_id", "kind", "sha256")} for i in meta.get("inputs", [])],
        "timings": meta.get("timings_s", {}), "k": k,
        "resolution": meta.get("parameters", {}).get("resolution"),
        "study_area": meta.get("summary", {}).get("study_area", ""),
        "analyst_detail": analyst_detail, "time_zone": store.timezone,
        "areas": _area_rows(area_results, top_n),
    }
    context.update(_front_and_trends(store, meta=meta, hotspots=hotspots, previous=previous, plan=plan,
                                     cube=cube, weeks=weeks, measure=measure, k=k, dq=dq, outline=outline,
                                     out_root=out_root, shared=not analyst_detail))
    return render_report(context)


def _area_rows(area_results: pd.DataFrame | None, top_n: int) -> dict | None:
    """The hot areas (hot-now categories, by Gi* z) of an ``--units areas`` run, or None without one."""
    from analytics.week_change import HOT_NOW

    if area_results is None:
        return None
    hot = area_results[area_results["category"].isin(HOT_NOW)].sort_values("z", ascending=False, kind="stable")
    rows = [{"area_name": r.area_name, "category": CATEGORY_LABELS.get(r.category, r.category),
             "z": _fmt(float(r.z)), "reason": r.reason} for r in hot.head(top_n).itertuples()]
    layer = str(area_results["layer"].iloc[0]) if len(area_results) else ""
    return {"layer": layer, "rows": rows, "n_areas": int(len(area_results))}


def _front_and_trends(store, *, meta: dict, hotspots: pd.DataFrame, previous: pd.DataFrame, plan: pd.DataFrame,
                      cube: pd.DataFrame, weeks: list[date], measure: str, k: int, dq: dict, outline: dict | None,
                      out_root: Path | None, shared: bool) -> dict:
    """The first screen (:mod:`pipelines.report_front`), the category table and the trend charts."""
    from analytics.week_change import category_counts, hot_now
    from pipelines.patrol_sheet import plan_week_dates
    from pipelines.report_front import first_screen, trend_charts

    week = meta["week"]
    summary = meta.get("summary", {})
    fs = first_screen(hotspots=hotspots, previous=previous, plan=plan, outline=outline, week=week,
                      plan_dates=plan_week_dates(week), events_week=int(summary.get("events_in_week", 0)),
                      events_window=int(cube[measure].sum()), summary=summary, measure=measure,
                      single_source=_only_source(dq["sources_window"]),
                      late=dq["late"], synthetic=bool(meta.get("synthetic")))
    now, before = category_counts(hotspots["category"]), category_counts(previous["category"])
    became = dict.fromkeys(now, 0)
    cat = dict(zip(hotspots["cell"], hotspots["category"]))
    for c in meta["weekly"]["headline"].get("became_hot", []):
        if c in cat:
            became[cat[c]] += 1
    table = [{"label": CATEGORY_LABELS[c], "now": now[c], "before": before[c], "became": became[c]}
             for c in now if now[c] or before[c]]
    trends = trend_charts(store, cube, weeks, measure, k, out_root, hotspots, previous, store.timezone, shared)
    return {"fs": fs, "change_table": table, "n_hot_before": int(hot_now(previous["category"]).sum()),
            "trends": trends}


def render_report(context: dict) -> str:
    """Render ``report.html.j2`` with a prepared context (autoescaped)."""
    return page_template("report.html.j2", trim_blocks=True).render(**context)
