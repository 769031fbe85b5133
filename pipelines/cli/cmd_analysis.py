"""The analysis commands: ``hotspots cube``, ``hotspots hotspots`` (the engine for one week) and
``hotspots weekly`` (the weekly report, maps and patrol plan)."""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Optional

import typer

from analytics.errors import HotspotError
from pipelines.cli.common import (DbOption, _check_bin_weeks, _check_rules, _formats, _print_notes_and_outputs,
                                  _progress, _reader, app, err, out)


# ------------------------------------------------------------------------------------------ cube

@app.command()
def cube(
    db: Optional[Path] = DbOption,
    out_path: Path = typer.Option(Path("cube.parquet"), "--out", help="Parquet file to write."),
    resolution: Optional[int] = typer.Option(None, "--res", help="H3 resolution (default: the store's)."),
    first_week: Optional[str] = typer.Option(None, "--from", help="First ISO week, e.g. 2025-W01."),
    last_week: Optional[str] = typer.Option(None, "--to", help="Last ISO week, e.g. 2025-W52."),
) -> None:
    """Build the cell x week cube over the study area and write it to Parquet.

    Example: hotspots cube --res 8 --out cube_res8.parquet
    """
    from pipelines import cube as cube_mod, store
    from pipelines.audit import audited
    params = {"resolution": resolution, "from": first_week, "to": last_week, "out": out_path}
    with audited(store.resolve_db_path(db), "cube", params) as entry:
        with _reader(db) as st, _progress() as progress:
            progress.add_task("Building the cube", total=None)
            info = cube_mod.build_cube(st, resolution, first_week, last_week)
            cube_mod.write_cube(st, out_path)
        entry.add_outputs([out_path])
        entry.row_counts = {"cells": info.n_cells, "weeks": info.n_weeks}
    out.print(f"Cube: {info.n_cells} cells x {info.n_weeks} weeks ({info.first_week} to {info.last_week}, "
              f"weeks in {info.time_zone}), resolution {info.resolution}, study area: {info.study_area}. "
              f"Written to {out_path}.")
    for choice in info.choices:
        out.print(f"  note: {choice}")


# -------------------------------------------------------------------------------------- hotspots

UNITS_HELP = ("cells (H3) | areas: also Gi*, trends and emerging categories per area of a stored layer (events "
              "counted by their own point; queen neighbours; area size as exposure) in area_hotspots.parquet; the "
              "plan and the scan stay on cells.")
AREA_LAYER_HELP = "With --units areas: the area layer to analyse (default: the only one stored)."


@app.command()
def hotspots(
    db: Optional[Path] = DbOption,
    week: Optional[str] = typer.Option(None, "--week", help="ISO week YYYY-Www (default: last complete week with data)."),
    resolution: Optional[int] = typer.Option(None, "--res", help="H3 resolution (default: the store's, 9)."),
    weeks_back: int = typer.Option(26, "--weeks-back", help="Weeks analysed, ending with --week."),
    time_step: int = typer.Option(1, "--time-step", help="Gi* neighbourhood time step in bins (0 = purely spatial)."),
    bin_weeks: str = typer.Option(
        "auto", "--bin-weeks",
        help="Weeks per time bin of Gi*, trend and categories: 1 | 2 | 4 | auto (sparse data: wider bins, and "
             "without --res a coarser grid, by the rule in README 'Sparse data')."),
    k: int = typer.Option(1, "--k", help="Gi* neighbourhood: H3 rings around each cell."),
    rules: str = typer.Option(
        "default", "--rules",
        help="Rule set: default (calibrated Poisson p, share on each week's own test, evidence for a rise) | "
             "arcgis (ESRI's published rules: normal p, FDR over the cube, share on corrected classes). "
             "--p-method, --fdr and --share-basis given explicitly win."),
    p_method: Optional[str] = typer.Option(None, "--p-method",
                                           help="poisson (default rules) | negbin | normal (arcgis rules)"),
    fdr: Optional[str] = typer.Option(None, "--fdr", help="Benjamini-Hochberg over the cube (both rule sets) | "
                                      "week | none"),
    share_basis: Optional[str] = typer.Option(
        None, "--share-basis",
        help="Weeks counted toward the '90 % of weeks' rules: uncorrected (each week's own test; default rules) | "
             "fdr (the corrected classes; arcgis rules)."),
    measure: str = typer.Option("reports", "--measure", help="Cube count analysed: reports | found_episodes | reports_sighting | ..."),
    replicates: int = typer.Option(999, "--replicates", help="Monte Carlo replicates of the space-time scan."),
    seed: int = typer.Option(0, "--seed", help="Seed of the scan's Monte Carlo."),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="Output folder (default: ./hotspots_out/<week>/)."),
    fmt: Optional[str] = typer.Option(None, "--format", help="gpkg: also write hotspots.gpkg (GeoPackage; "
                                      "hotspots.parquet is GeoParquet either way)."),
    units: str = typer.Option("cells", "--units", help=UNITS_HELP),
    area_layer: Optional[str] = typer.Option(None, "--area-layer", help=AREA_LAYER_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the run summary as JSON."),
) -> None:
    """Run the hotspot engine for one week: Gi*, trends, emerging categories, scan, clusters, convergence.

    Example: hotspots hotspots --week 2026-W20 --res 9 --weeks-back 26 --out out/

    By area: hotspots hotspots --units areas --area-layer neighbourhoods --out out/
    """
    from pipelines import store
    from analytics.engine import HotspotParams
    from pipelines.hotspots_run import run_hotspots
    _check_rules(rules)
    params = HotspotParams(week=week, resolution=resolution, weeks_back=weeks_back, time_step=time_step, k=k,
                           bin_weeks=_check_bin_weeks(bin_weeks), rules=rules, p_method=p_method, fdr=fdr,
                           share_basis=share_basis, measure=measure, scan_replicates=replicates, seed=seed, units=units, area_layer=area_layer)
    formats = _formats(fmt)
    from pipelines.audit import audited
    with audited(store.resolve_db_path(db), "hotspots", asdict(params) | {"out": out_dir}) as entry:
        with _reader(db) as st:
            with _progress() as progress:
                task = progress.add_task("Hotspot engine", total=8)

                def step(name: str) -> None:
                    progress.update(task, description=f"Hotspot engine: {name}", advance=1)

                target = out_dir or Path("hotspots_out") / (week or "latest")
                run = run_hotspots(st, params, target, progress=step, formats=formats)
            tz = st.timezone
        entry.add_outputs(run.outputs.values())
        entry.row_counts = {"week": run.week, "cells": run.summary["cells"]}
    if out_dir is None and week is None:
        final = Path("hotspots_out") / run.week
        if final.exists():
            shutil.rmtree(final)
        target.rename(final)
        run.outputs = {k: v.replace(str(target), str(final)) for k, v in run.outputs.items()}
    if as_json:
        print(json.dumps({"week": run.week, "time_zone": tz, "outputs": run.outputs, "summary": run.summary,
                          "choices": run.choices}, indent=2, default=str))
        return
    s = run.summary
    out.print(f"Week {run.week} (Monday to Sunday, {tz}): {s['cells']} cells x {s['weeks']} weeks; {s['hot_cells']} hot and "
              f"{s['cold_cells']} cold cells this week; {s['scan_clusters']} emerging scan cluster(s); "
              f"{s['st_clusters']} space-time cluster(s); {s['convergence_cells']} convergence cell(s).")
    if "areas" in s:
        a = s["areas"]
        out.print(f"Areas ({a['layer']}): {a['areas']} areas; {a['hot_areas']} hot and {a['cold_areas']} cold "
                  f"this week.", markup=False)
    _print_notes_and_outputs(run.choices, run.outputs, 21)


# ---------------------------------------------------------------------------------------- weekly

@app.command()
def weekly(
    week: Optional[str] = typer.Option(None, "--week", help="ISO week YYYY-Www (default: the last complete ISO week with data)."),
    db: Optional[Path] = DbOption,
    out_root: Path = typer.Option(Path("out"), "--out", help="Output folder; the week's files go to <out>/<week>/."),
    resolution: Optional[int] = typer.Option(None, "--res", help="H3 resolution (default: the store's, 9)."),
    config: Optional[Path] = typer.Option(None, "--config", help="hotspots.toml (tiles, k_suppression, patrol.n_cells, "
                                          "hotspots.scan_replicates ...); default ./hotspots.toml when it exists."),
    as_json: bool = typer.Option(False, "--json", help="Print the run summary as JSON."),
    analyst_detail: bool = typer.Option(
        False, "--analyst-detail",
        help="Also write report_analyst_detail.html with UNSUPPRESSED counts (analyst only; recorded in the audit log)."),
    rules: Optional[str] = typer.Option(
        None, "--rules", help="Rule set: default | arcgis (ESRI's published rules); default: [hotspots] rules in "
                              "hotspots.toml, else default."),
    fmt: Optional[str] = typer.Option(None, "--format", help="gpkg: also write hotspots.gpkg (analyst only) and "
                                      "patrol_plan.gpkg (shared) for GIS."),
    bin_weeks: Optional[str] = typer.Option(
        None, "--bin-weeks", help="Weeks per time bin: 1 | 2 | 4 | auto; default: [hotspots] bin_weeks in "
                                  "hotspots.toml, else auto (README 'Sparse data')."),
    units: Optional[str] = typer.Option(None, "--units", help=UNITS_HELP + " Default: [hotspots] units in "
                                        "hotspots.toml, else cells."),
    area_layer: Optional[str] = typer.Option(None, "--area-layer", help=AREA_LAYER_HELP),
) -> None:
    """Weekly report, analyst map, patrol map and patrol plan for one ISO week (offline HTML, no personal detail).

    Example: hotspots weekly --week 2026-W20
    """
    from pipelines import store
    from pipelines.audit import audited
    from pipelines.weekly import WEEKLY_STEPS, load_config, run_weekly
    if config is None and Path("hotspots.toml").is_file():
        config = Path("hotspots.toml")
    cfg = load_config(config)
    _check_rules(rules)
    if rules is not None:
        from pipelines.weekly import validate_config
        cfg = validate_config({**cfg, "hotspots": {**cfg["hotspots"], "rules": rules}}, source="--rules")
    bins = _check_bin_weeks(bin_weeks)
    if bins is not None:
        from pipelines.weekly import validate_config
        cfg = validate_config({**cfg, "hotspots": {**cfg["hotspots"], "bin_weeks": bins}}, source="--bin-weeks")
    if units is not None or area_layer is not None:
        from pipelines.weekly import validate_config
        given = {k: v for k, v in (("units", units), ("area_layer", area_layer)) if v is not None}
        cfg = validate_config({**cfg, "hotspots": {**cfg["hotspots"], **given}}, source="--units/--area-layer")
    formats = _formats(fmt)
    params = {"week": week, "out": out_root, "resolution": resolution, "config": config,
              "analyst_detail": analyst_detail, "rules": rules, "format": fmt, "bin_weeks": bin_weeks,
              "units": units, "area_layer": area_layer}
    with audited(store.resolve_db_path(db), "weekly", params) as entry:
        with _reader(db) as st:
            with _progress() as progress:
                task = progress.add_task("Weekly run", total=len(WEEKLY_STEPS))

                def step(name: str) -> None:
                    progress.update(task, description=f"Weekly run: {name.replace('_', ' ')}", advance=1)

                run = run_weekly(st, week, out_root, resolution=resolution, config=cfg, progress=step,
                                 analyst_detail=analyst_detail, formats=formats)
            tz = st.timezone
        entry.add_outputs(run.outputs.values())
        entry.row_counts = {"week": run.week, "plan_cells": run.summary["plan_cells"],
                            "privacy_findings": len(run.privacy_findings)}
        _print_weekly(run, config, as_json, tz)
        if run.privacy_findings:
            for f in run.privacy_findings:
                err.print(f"  privacy: {f}", markup=False, highlight=False)
            raise HotspotError(f"Privacy check found {len(run.privacy_findings)} leak(s); nothing was published to "
                               f"{Path(out_root) / run.week}. The run is kept owner-only in {run.out_dir} for "
                               "inspection (details in analyst/run.json, weekly.privacy.findings); do not share it.")


def _print_weekly(run, config: Optional[Path], as_json: bool, tz: str) -> None:
    s, bt = run.summary, run.summary["backtest"]
    if as_json:
        print(json.dumps({"week": run.week, "time_zone": tz, "synthetic": run.synthetic, "outputs": run.outputs,
                          "summary": s,
                          "choices": run.choices, "privacy_findings": [f.as_dict() for f in run.privacy_findings]},
                         indent=2, default=str))
        return
    hl = s["headline"]
    pct = "—" if bt["hit_rate"] is None else f"{100 * bt['hit_rate']:.1f} %"
    out.print(f"Week {run.week} (Monday to Sunday, {tz}){' (SYNTHETIC)' if run.synthetic else ''}: "
              f"{hl['became_hot'] + hl['continuing']} hot spot "
              f"cell(s); {hl['became_hot']} became hot since last week ({hl['new']} of them new hot spots), "
              f"{hl['intensifying']} intensifying, {hl['ended']} ended; "
              f"patrol plan of {s['plan_cells']} cell(s).")
    pai = "—" if bt["pai"] is None else f"{bt['pai']:.1f}"
    pei = "—" if bt["pei_star"] is None else f"{bt['pei_star']:.2f}"
    out.print(f"Last week's plan ({bt['plan_week']}) against this week: hit rate {pct}, PAI {pai}, PEI* {pei}.")
    if config is not None:
        out.print(f"  note: configuration read from {config}")
    for choice in run.choices:
        out.print(f"  note: {choice}")
    out.print("[bold]Open[/bold] (work offline):")
    for label, key in (("report", "report"), ("analyst map", "analyst_map"), ("patrol map", "patrol_map"),
                       ("patrol plan", "patrol_plan_csv"), ("patrol plan GIS", "patrol_plan_geojson"),
                       ("patrol plan GPKG", "patrol_plan_gpkg"), ("hotspots GPKG", "hotspots_gpkg"),
                       ("area hotspots", "area_hotspots_parquet"), ("run record", "run")):
        if key in run.outputs:
            out.print(f"  {label:16s} {run.outputs[key]}", markup=False, soft_wrap=True)
