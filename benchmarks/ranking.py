"""The patrol plan vs simple baselines on the SYNTHETIC sample and on real public incident data.

``python -m benchmarks.ranking [--quick] [--results benchmarks/RESULTS.md] [--only NAME ...] [--rise] [--until DATE]
[--places]``

``--places`` passes place-category counts per cell and ring 1 (``ForecastParams.places``,
:mod:`analytics.forecast_places`) where the data set has places: the SYNTHETIC sample only
(``data_samples/places.geojson``); the real data sets have none.

``--rise`` adds the forecast's rise-evidence features (``ForecastParams.rise``); ``--until``
keeps events before a date only, e.g. the development weeks before the evaluation window
(``--only denver --until 2018-08-06``, ``--only chicago --until 2020-06-29``).

Each data set is read directly with pandas / geopandas (not through the store), turned into
local-time ISO weeks, indexed to H3 resolution 9 (:mod:`analytics.grid`), and given a study
area of the observed cells plus one ring. The cube is then backtested by rolling origin with
the logic of ``hotspots backtest`` (:func:`analytics.plan_backtest.backtest_plan` with the
weekly job's places, :func:`pipelines.backtest.plan_builder`): at every origin the plan is
rebuilt from the past only and scored, with the forecast's top 0.1 / 0.5 / 1 / 5 % of the
study area, against last week's counts, 26-week counts and a 13-week KDE on the same area.
Every figure is out of sample. Real data name no young person and no placement, so no cell
is withheld there; the SYNTHETIC sample is read here without its episodes (``hotspots
backtest`` on the sample store applies the safeguarding rules).

Targets (issue 14): the plan's area catches ≥ 1.1 × the events of the best baseline on the
same area (the PAI ratio), and PEI* at 1 % ≥ the best baseline's.

Data (see ``../shared/data/real/README.md``): Denver offences (Denver Open Data Catalog via
sanesedu/DataVisualizationDenver, MIT); San Francisco incidents July–December 2012 (SFPD
Crime Incident Reporting System via the GeoDa Center data-and-lab, CC0 1.0); Chicago
carjackings 2020 (Chicago Open Data Portal via the GeoDa Center data-and-lab). The
synthetic sample is ``data_samples/location_reports.csv`` (SYNTHETIC — not real young people).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from analytics import grid, synth
from analytics.forecast import ForecastParams
from analytics.forecast_places import place_covariates
from analytics.patrol import PatrolParams
from analytics.plan_backtest import METHOD_WORDS, PLAN_SIZE, backtest_plan
from benchmarks.common import replace_results_section
from pipelines.backtest import plan_builder

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "real"
SAMPLE = ROOT / "data_samples" / "location_reports.csv"
PLACES = ROOT / "data_samples" / "places.geojson"
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
SECTION = "## Forecast ranking vs simple baselines (issue 14)"
#: The README table between these markers is rewritten by a full run.
README = ROOT / "README.md"
README_BEGIN = "<!-- ranking-table:begin -->"
README_END = "<!-- ranking-table:end -->"
DENVER_CATEGORIES = ("larceny", "theft-from-motor-vehicle", "auto-theft", "burglary", "public-disorder")
SF_LAYERS = ("cartheft", "drugs", "robbery", "vandalism")
ORIGINS = 26
MIN_HISTORY = 8  # weeks before the first origin: the forecast needs past origins to learn from


@dataclass
class Events:
    """Points of one data set in local time, and what was dropped on the way."""

    name: str
    source: str
    lat: np.ndarray
    lon: np.ndarray
    local: pd.Series  # naive local timestamps
    read: int
    dropped: dict
    places: pd.DataFrame | None = None  # lat, lon, category of places of interest (the sample only)


def _clean(name, source, lat, lon, local, read, dropped, start=None) -> Events:
    lat = pd.to_numeric(pd.Series(lat), errors="coerce").to_numpy(dtype=np.float64)
    lon = pd.to_numeric(pd.Series(lon), errors="coerce").to_numpy(dtype=np.float64)
    local = pd.Series(pd.to_datetime(local)).reset_index(drop=True)
    bad_xy = ~np.isfinite(lat) | ~np.isfinite(lon) | ((np.abs(lat) < 1e-6) & (np.abs(lon) < 1e-6)) \
        | (np.abs(lat) > 90) | (np.abs(lon) > 180)
    bad_t = local.isna().to_numpy()
    dropped = dict(dropped)
    dropped["missing or 0,0 coordinates"] = int(bad_xy.sum())
    dropped["missing or unreadable time"] = int((bad_t & ~bad_xy).sum())
    keep = ~bad_xy & ~bad_t
    if start is not None:
        early = keep & (local < pd.Timestamp(start)).to_numpy()
        dropped[f"before {start} (sparse early records)"] = int(early.sum())
        keep &= ~early
    return Events(name, source, lat[keep], lon[keep], local[keep].reset_index(drop=True), read, dropped)


def _localise(naive: pd.Series, tz: str) -> pd.Series:
    """Naive local times → the same wall-clock times, checked against the zone (DST gaps shifted forward)."""
    aware = naive.dt.tz_localize(tz, ambiguous="NaT", nonexistent="shift_forward")
    return aware.dt.tz_localize(None)


def load_sample() -> list[Events]:
    d = pd.read_csv(SAMPLE, dtype=str)
    t = pd.to_datetime(d["observed_at"], utc=True, format="ISO8601", errors="coerce")
    local = t.dt.tz_convert(synth.TIMEZONE).dt.tz_localize(None)  # the SYNTHETIC city's zone
    ev = _clean("SYNTHETIC sample (all reports)", "data_samples/location_reports.csv — SYNTHETIC",
                d["lat"], d["lon"], local, len(d), {})
    feats = json.loads(PLACES.read_text(encoding="utf-8"))["features"]
    ev.places = pd.DataFrame({"lon": [f["geometry"]["coordinates"][0] for f in feats],
                              "lat": [f["geometry"]["coordinates"][1] for f in feats],
                              "category": [f["properties"]["category"] for f in feats]})
    return [ev]


def load_denver() -> list[Events]:
    d = pd.read_csv(REAL / "denver" / "denver_offenses.csv.gz", dtype=str)
    naive = pd.to_datetime(d["FIRST_OCCURRENCE_DATE"], format="%m/%d/%Y %I:%M:%S %p", errors="coerce")
    local = _localise(naive, "America/Denver")
    src = "Denver Open Data Catalog (via sanesedu/DataVisualizationDenver, MIT)"
    crime = d["IS_CRIME"].astype(str).str.strip() == "1"
    out = [_clean("Denver, all crimes", src, d["GEO_LAT"][crime], d["GEO_LON"][crime], local[crime],
                  int(crime.sum()), {}, start="2018-01-01")]
    for cat in DENVER_CATEGORIES:
        m = d["OFFENSE_CATEGORY_ID"] == cat
        out.append(_clean(f"Denver, {cat}", src, d["GEO_LAT"][m], d["GEO_LON"][m], local[m], int(m.sum()), {},
                          start="2018-01-01"))
    return out


def load_sf() -> list[Events]:
    import geopandas as gpd

    zpath = REAL / "sf2012" / "SFCrime_July_Dec2012.zip"
    out = []
    for layer in SF_LAYERS:
        g = gpd.read_file(f"zip://{zpath}!SFCrime_July_Dec2012 2/Crime Events/sf_{layer}.shp")
        read = len(g)
        empty = g.geometry.isna() | g.geometry.is_empty
        g = g[~empty]
        ll = g.to_crs(4326)  # NAD83 California State Plane III, US feet (EPSG:2227) → WGS 84
        date = pd.to_datetime(g["Date"], errors="coerce").dt.normalize()
        tod = pd.to_datetime(g["Time"], errors="coerce")
        naive = date + (tod - tod.dt.normalize()).fillna(pd.Timedelta(0))
        local = _localise(naive, "America/Los_Angeles")
        out.append(_clean(f"San Francisco 2012, {layer}", "SFPD CIRS via GeoDa Center data-and-lab (CC0 1.0)",
                          ll.geometry.y.to_numpy(), ll.geometry.x.to_numpy(), local, read,
                          {"empty geometry": int(empty.sum())}))
    return out


def load_chicago() -> list[Events]:
    import geopandas as gpd

    g = gpd.read_file(REAL / "chicago" / "chicago_carjackings_2020.geojson")
    naive = pd.to_datetime(g["Date"], format="%m/%d/%Y %I:%M:%S %p", errors="coerce")
    local = _localise(naive, "America/Chicago")
    return [_clean("Chicago 2020, carjackings", "Chicago Open Data Portal via GeoDa Center data-and-lab",
                   g["Latitude"], g["Longitude"], local, len(g), {})]


def build_cube(ev: Events, resolution: int = grid.DEFAULT_RESOLUTION):
    """(counts cells × weeks, cells, week Mondays, notes): study area = observed cells + 1 ring."""
    monday = (ev.local.dt.normalize() - pd.to_timedelta(ev.local.dt.day_of_week, unit="D"))
    first, last = monday.min(), monday.max()
    notes = []
    last_day = ev.local.max().normalize()
    if last_day < last + pd.Timedelta(days=6):
        notes.append(f"last week {last.date()} is incomplete (data end {last_day.date()}): dropped")
        last = last - pd.Timedelta(days=7)
    first_day = ev.local.min().normalize()
    if first_day > first:
        notes.append(f"first week {first.date()} is incomplete (data start {first_day.date()}): dropped")
        first = first + pd.Timedelta(days=7)
    keep = ((monday >= first) & (monday <= last)).to_numpy()
    obs = grid.latlng_to_cells(ev.lat[keep], ev.lon[keep], resolution)
    cells = grid.grid_disk_cells(np.unique(obs), 1)
    weeks = pd.date_range(first, last, freq="7D")
    col = ((monday[keep] - first).dt.days // 7).to_numpy()
    counts = np.zeros((len(cells), len(weeks)), dtype=np.float64)
    np.add.at(counts, (np.searchsorted(cells, obs), col), 1.0)
    return counts, cells, weeks, notes


def before(ev: Events, until: pd.Timestamp) -> Events:
    """The events of ``ev`` before ``until`` (local time); the rest counted as dropped."""
    keep = (ev.local < until).to_numpy()
    dropped = {**ev.dropped, f"on or after {until.date()} (--until)": int((~keep).sum())}
    return Events(ev.name, ev.source, ev.lat[keep], ev.lon[keep], ev.local[keep].reset_index(drop=True), ev.read,
                  dropped, ev.places)


DATASETS = {"chicago": load_chicago, "sf": load_sf, "denver": load_denver, "sample": load_sample}


def run_one(ev: Events, params: ForecastParams, n_origins: int, n_boot: int, seed: int) -> dict:
    """Backtest the plan on one data set's cube (the last ``n_origins`` weeks with a next week)."""
    t0 = time.perf_counter()
    counts, cells, weeks, notes = build_cube(ev)
    T = counts.shape[1]
    need = MIN_HISTORY + params.min_train_origins
    last_origin = T - 2
    first_origin = max(last_origin - n_origins + 1, need)
    origins = list(range(first_origin, last_origin + 1))
    if len(origins) < n_origins:
        notes.append(f"only {len(origins)} origins fit in {T} weeks (≥ {need} weeks of history first)")

    def progress(i, n):
        if i % 5 == 0 or i == n:
            print(f"  {ev.name}: origin {i}/{n} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)

    rings = (grid.neighbour_matrix(cells, 1), grid.neighbour_matrix(cells, 2))
    builder, _ = plan_builder(cells, rings, PatrolParams())
    covariates = None
    if params.places and ev.places is not None:
        covariates = place_covariates(ev.places["lat"], ev.places["lon"], ev.places["category"], cells)
    bt = backtest_plan(counts, cells, origins, params=params, plan_builder=builder, rings=rings, progress=progress,
                       covariates=covariates)
    summary = bt.summary(n_boot=n_boot, seed=seed)
    vs = bt.versus(n_boot=n_boot, seed=seed + 1)
    models = pd.Series([c["model"] for c in bt.choices]).value_counts().to_dict()
    sigmas = pd.Series([c["kde_sigma_rings"] for c in bt.choices]).value_counts().to_dict()
    memories = pd.Series([c["kde_memory"] for c in bt.choices]).value_counts().to_dict()
    return {"name": ev.name, "source": ev.source, "read": ev.read, "dropped": ev.dropped, "events": int(counts.sum()),
            "cells": len(cells), "weeks": T, "first_week": weeks[0].date(), "last_week": weeks[-1].date(),
            "origins": len(origins), "scored_first": weeks[origins[0] + 1].date(),
            "scored_last": weeks[origins[-1] + 1].date(), "notes": notes, "summary": summary, "vs": vs,
            "plans": bt.plans, "covariates": list(covariates.columns) if covariates is not None else [],
            "models": models, "sigmas": sigmas, "memories": memories,
            "seconds": time.perf_counter() - t0}


def targets(r: dict) -> dict:
    """The two targets of issue 14 for one result: plan-area ratio and PEI* at 1 %."""
    vs = r["vs"].set_index("size")
    plan, one = vs.loc[PLAN_SIZE], vs.loc["1 %"]
    return {"ratio": float(plan["ratio"]), "ratio_low": float(plan["ratio_low"]),
            "ratio_high": float(plan["ratio_high"]), "best": plan["best_baseline"],
            "pei": float(one["forecast_pei_star"]), "pei_best": float(one["best_pei_star"]),
            "pei_baseline": one["best_pei_baseline"],
            "ratio_met": bool(plan["ratio"] >= 1.1), "pei_met": bool(one["forecast_pei_star"] >= one["best_pei_star"])}


def _ci(v, lo, hi, fmt="{:.2f}") -> str:
    if not np.isfinite(v):
        return "–"
    return f"{fmt.format(v)} ({fmt.format(lo)}–{fmt.format(hi)})"


def compact_table(results: list[dict]) -> str:
    """The README's table: plan-area PAI ratio vs the best baseline and PEI* at 1 %, per data set."""
    lines = ["| data set | plan-area PAI ratio vs best baseline (95 % CI) | PEI* at 1 %: forecast / best baseline | "
             "targets met? |", "|---|---|---|---|"]
    for r in results:
        t = targets(r)
        met = "yes" if t["ratio_met"] and t["pei_met"] else \
            "no (" + ", ".join(x for x, ok in (("ratio", t["ratio_met"]), ("PEI*", t["pei_met"])) if not ok) + ")"
        lines.append(f"| {r['name']} | {t['ratio']:.2f} ({t['ratio_low']:.2f}–{t['ratio_high']:.2f}) vs "
                     f"{METHOD_WORDS[t['best']]} | {t['pei']:.3f} / {t['pei_best']:.3f} "
                     f"({METHOD_WORDS[t['pei_baseline']]}) "
                     f"| {met} |")
    return "\n".join(lines)


def _markdown(results: list[dict], header: str) -> str:
    lines = [SECTION, "", header, ""]
    lines += ["Headline per data set: events caught next week in the plan's own area (its entries' cells, rebuilt "
              "at every origin from the past only) ÷ by the best of the three baselines (last week's counts, "
              "26-week counts, 13-week KDE σ = 1 ring) on the same number of cells (= the PAI ratio), with a 95 % "
              "bootstrap interval over origins; and PEI* at 1 % of the study area (the forecast's top cells). "
              "Targets (issue 14): ratio ≥ 1.1 and PEI*(forecast) ≥ PEI*(best baseline) at 1 %.", "",
              "| data set | origins | events scored | plan cells (mean) | plan area: ratio vs best baseline | "
              "ratio at 0.1 % | ratio at 1 % | ratio at 5 % | PEI* 1 % forecast / best baseline | targets met? |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        vs = r["vs"].set_index("size")

        def rat(s):
            x = vs.loc[s]
            return f"{x['ratio']:.2f} ({x['ratio_low']:.2f}–{x['ratio_high']:.2f}) vs {x['best_baseline']}"

        t = targets(r)
        ev = int(r["summary"]["events"].iloc[0])
        lines.append(f"| {r['name']} | {r['origins']} | {ev:,} | {r['plans']['cells'].mean():.0f} | {rat(PLAN_SIZE)} | "
                     f"{rat('0.1 %')} | {rat('1 %')} | {rat('5 %')} | {t['pei']:.3f} / {t['pei_best']:.3f} "
                     f"({t['pei_baseline']}) | {'yes' if t['ratio_met'] and t['pei_met'] else 'no'} |")
    lines += ["", "### Per data set, area and method (means over origins, 95 % bootstrap intervals)", ""]
    for r in results:
        pl = r["plans"]
        lines += [f"#### {r['name']}", "",
                  f"Source: {r['source']}. Rows read {r['read']:,}; dropped: "
                  + (", ".join(f"{k} {v:,}" for k, v in r["dropped"].items() if v) or "none")
                  + f". Study area {r['cells']:,} H3 res-9 cells (observed + 1 ring); weeks {r['first_week']} to "
                  f"{r['last_week']} ({r['weeks']}); {r['origins']} origins, scored weeks {r['scored_first']} to "
                  f"{r['scored_last']}. Plan: {pl['entries'].mean():.1f} entries, {pl['cells'].mean():.1f} cells, "
                  f"{pl['entries_with_event'].mean():.1f} entries with an event next week on average; expected "
                  f"{pl['expected'].sum():.0f} events in its cells, {pl['caught'].sum():.0f} happened. "
                  f"Models chosen: {r['models']}; KDE σ (rings): {r['sigmas']}; KDE memory: {r['memories']}. "
                  + ("; ".join(r["notes"]) + ". " if r["notes"] else "") + f"{r['seconds']:.0f} s.", "",
                  "| area | cells | method | events caught | hit rate | PAI | PEI* |", "|---|---|---|---|---|---|---|"]
        for _, s in r["summary"].iterrows():
            lines.append(f"| {s['size']} | {s['n_cells']} | {s['method']} | {s['events_caught']:.1f} / "
                         f"{s['events']:.0f} | {_ci(s['hit_rate'], s['hit_rate_low'], s['hit_rate_high'], '{:.3f}')} | "
                         f"{_ci(s['pai'], s['pai_low'], s['pai_high'], '{:.1f}')} | "
                         f"{_ci(s['pei_star'], s['pei_star_low'], s['pei_star_high'], '{:.3f}')} |")
        lines.append("")
    return "\n".join(lines) + "\n"


def write_readme_table(table: str, path: Path = README) -> bool:
    """Replace the README's table between :data:`README_BEGIN` and :data:`README_END`; False when absent."""
    text = path.read_text(encoding="utf-8")
    if README_BEGIN not in text or README_END not in text:
        return False
    head, rest = text.split(README_BEGIN, 1)
    _, tail = rest.split(README_END, 1)
    path.write_text(f"{head}{README_BEGIN}\n{table}\n{README_END}{tail}", encoding="utf-8")
    return True


def write_results(text: str, path: Path) -> None:
    """Replace (or append) this benchmark's section of RESULTS.md, leaving the rest as it is."""
    replace_results_section(text, path, SECTION)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.ranking", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="8 origins, fewer trees, 200 bootstrap draws (smoke run)")
    ap.add_argument("--origins", type=int, default=ORIGINS, help=f"rolling origins per data set (default {ORIGINS})")
    ap.add_argument("--only", nargs="*", choices=sorted(DATASETS), help="some data sets only")
    ap.add_argument("--results", type=Path, default=None,
                    help="write the table into this RESULTS.md section "
                         "(default: benchmarks/RESULTS.md unless --quick, --rise or --until)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rise", action="store_true", help="add the rise-evidence features to the forecast")
    ap.add_argument("--places", action="store_true",
                    help="add place-category covariates where the data set has places (the SYNTHETIC sample)")
    ap.add_argument("--until", type=pd.Timestamp, default=None,
                    help="keep events before this date only (e.g. development weeks)")
    args = ap.parse_args(argv)
    params = ForecastParams(seed=args.seed, rise=args.rise, places=args.places)
    n_origins, n_boot = args.origins, 2000
    if args.quick:
        params = replace(params, max_iter=60, train_origins=16, validation_origins=4)
        n_origins, n_boot = min(8, n_origins), 200
    names = args.only or list(DATASETS)
    results, t0 = [], time.perf_counter()
    for name in names:
        if name != "sample" and not REAL.exists():
            print(f"skipped {name}: {REAL} is absent", file=sys.stderr)
            continue
        for ev in DATASETS[name]():
            if args.until is not None:
                ev = before(ev, args.until)
            r = run_one(ev, params, n_origins, n_boot, args.seed)
            t = targets(r)
            print(f"{r['name']}: {r['origins']} origins, {r['cells']:,} cells, {r['seconds']:.0f} s; plan area "
                  f"ratio {t['ratio']:.2f} ({t['ratio_low']:.2f}–{t['ratio_high']:.2f}) vs {t['best']}; PEI* 1 % "
                  f"{t['pei']:.3f} vs {t['pei_best']:.3f} ({t['pei_baseline']})", flush=True)
            results.append(r)
    header = (f"Written by `python -m benchmarks.ranking{' --quick' if args.quick else ''}` on "
              f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC ({time.perf_counter() - t0:.0f} s; seed {args.seed}; "
              f"forecast: {params.model} model, {params.train_origins} training origins, {params.max_iter} trees"
              f"{', rise features' if params.rise else ''}{', place covariates' if params.places else ''}"
              f"{f', events before {args.until.date()} only' if args.until is not None else ''}). "
              "Real data are police-recorded incidents used as location reports; the sample is SYNTHETIC. "
              "Ties in a ranking count in expectation (random order among tied cells).")
    text = _markdown(results, header)
    print(text)
    # not the product's figures: not written by default
    variant = args.quick or args.rise or args.places or args.until is not None
    path = args.results or (None if variant else RESULTS)
    if path is not None:
        write_results(text, path)
        print(f"written to {path}")
        if args.only is None and not variant and write_readme_table(compact_table(results)):
            print(f"README table written to {README}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
