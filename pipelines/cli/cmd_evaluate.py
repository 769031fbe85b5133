"""The commands that measure: ``hotspots evaluate`` (a disruption's effect) and ``hotspots
backtest`` (the patrol plan scored on past weeks)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from analytics.verdict import VERDICT_METHODS
from pipelines.cli.common import DbOption, _print_notes_and_outputs, _progress, _reader, app, err, out


# --------------------------------------------------------------------------------------- evaluate

@app.command()
def evaluate(
    target: Optional[str] = typer.Option(None, "--target", help="PLACE_ID | comma list of H3 cells | boundary.geojson "
                                         "(default with --activity-kind: the cells where that activity concentrated)."),
    start: Optional[str] = typer.Option(None, "--start", help="First day (YYYY-MM-DD) or ISO week (YYYY-Www) of the "
                                        "disruption; default with --activity-kind: its first activity."),
    end: Optional[str] = typer.Option(None, "--end", help="Last day or ISO week (default: last activity, or the last "
                                      "week with data)."),
    outcome: Optional[str] = typer.Option(
        None, "--outcome", help="reports_non_police (default; not inflated by presence; reports when every report "
                                "is police-sourced, said in the output) | reports | found | episodes_started"),
    buffer_rings: int = typer.Option(1, "--buffer-rings", help="H3 rings around the target watched for displacement."),
    activity_kind: Optional[str] = typer.Option(None, "--activity-kind", help="Take the target and/or dates from "
                                                "ingested disruptions of this kind, e.g. presence_patrol."),
    out_dir: Path = typer.Option(Path("evaluation"), "--out", help="Output folder."),
    seed: int = typer.Option(0, "--seed", help="Seed of the matching tie-breaks and bootstrap."),
    power_fall: float = typer.Option(20.0, "--power-fall", help="A fall (%) for the power section: the weeks "
                                     "needed after the start to detect it with 80 % power."),
    before_weeks: Optional[str] = typer.Option(None, "--before-weeks", help="Weeks before the start used as the before "
                                               "period (8-520, or 'all'); default: the weeks the weekly plan chooses "
                                               "places on (26)."),
    db: Optional[Path] = DbOption,
    as_json: bool = typer.Option(False, "--json", help="Print evaluation.json to stdout."),
) -> None:
    """Evaluate a disruption: DiD vs matched controls, ITS, WDD, WDQ, synthetic control, panel regression, power (HTML + JSON + CSV).

    Example: hotspots evaluate --target SYN-PL0018 --start 2025-08-04 --end 2025-11-23 --buffer-rings 2
    """
    from pipelines import store
    from pipelines.audit import audited
    from pipelines.evaluate import EVALUATE_STEPS, parse_before_weeks, run_evaluation
    params = {"target": target, "start": start, "end": end, "outcome": outcome, "buffer_rings": buffer_rings,
              "activity_kind": activity_kind, "out": out_dir, "seed": seed, "power_fall": power_fall,
              "before_weeks": before_weeks}
    with audited(store.resolve_db_path(db), "evaluate", params) as entry:
        weeks_before = parse_before_weeks(before_weeks)
        with _reader(db) as st, _progress() as progress:
            task = progress.add_task("Evaluation", total=len(EVALUATE_STEPS))

            def step(name: str) -> None:
                progress.update(task, description=f"Evaluation: {name}", advance=1)

            result = run_evaluation(st, target, start, end, outcome, buffer_rings, out_dir,
                                    activity_kind=activity_kind, seed=seed, power_effect=-power_fall / 100,
                                    before_weeks=weeks_before, progress=step)
        entry.add_outputs(result["outputs"].values())
        entry.row_counts = {"target_cells": result["target"]["n_cells"], **result["periods"]}
    if as_json:
        print(json.dumps(result, indent=2, default=str))
        return
    m = result["methods"]
    out.print(f"{'SYNTHETIC — ' if result['synthetic'] else ''}{result['verdict']['headline']}", markup=False)
    sparse = result["verdict"].get("effect") == "too_sparse"
    if sparse:
        out.print("  (no effect size claimed; the estimates are in the page and evaluation.json for reference only)",
                  markup=False)
    for name in () if sparse else VERDICT_METHODS:  # every method's estimate, admitted or not (warnings say which)
        e = m[name]
        if e.get("relative_effect") is not None:
            def num(v, fmt):
                return "—" if v is None else format(v, fmt)
            out.print(f"  {name:18s} {num(e['relative_effect'], '+.3f')} [{num(e.get('ci_low'), '+.3f')}, "
                      f"{num(e.get('ci_high'), '+.3f')}] p={num(e.get('p'), '.3f')}", markup=False)
    for line in result["verdict"]["displacement"]:
        out.print(f"  {line}", markup=False)
    for warning in result["warnings"]:
        err.print(f"  warning: {warning}", markup=False, highlight=False)
    _print_notes_and_outputs(result["choices"], result["outputs"], 30)


# --------------------------------------------------------------------------------------- backtest

@app.command()
def backtest(
    weeks: int = typer.Option(26, "--weeks", help="Origin weeks, each scored against the week after it."),
    coverage: str = typer.Option("0.1,0.5,1,5", "--coverage",
                                 help="Shares of the study area (%) to score at, besides the plan's own area."),
    out_dir: Path = typer.Option(Path("backtest"), "--out", help="Output folder (files in its analyst/ subfolder)."),
    config: Optional[Path] = typer.Option(None, "--config", help="hotspots.toml (plan size, measure); "
                                          "default ./hotspots.toml when it exists."),
    db: Optional[Path] = DbOption,
    as_json: bool = typer.Option(False, "--json", help="Print backtest.json to stdout."),
) -> None:
    """Rolling-origin backtest of the patrol plan vs last week's counts, 26-week counts and a 13-week KDE.

    Scores the plan the weekly job would have issued at each origin (its entries and area) and
    0.1/0.5/1/5 % of the study area: events caught, hit rate, PAI, PEI* with bootstrap intervals.

    Example: hotspots backtest --weeks 26 --coverage 0.1,0.5,1,5 --out backtest/
    """
    from analytics.errors import InvalidInputError
    from pipelines import store
    from pipelines.audit import audited
    from pipelines.backtest import run_backtest, terminal_table
    from pipelines.weekly import load_config
    try:
        shares = tuple(float(c) for c in coverage.split(",") if c.strip())
    except ValueError as exc:
        raise InvalidInputError(f"--coverage must be numbers like 0.1,0.5,1,5; received {coverage!r}.") from exc
    if config is None and Path("hotspots.toml").is_file():
        config = Path("hotspots.toml")
    cfg = load_config(config)
    params = {"weeks": weeks, "coverage": coverage, "out": out_dir, "config": config}
    with audited(store.resolve_db_path(db), "backtest", params) as entry:
        with _reader(db) as st, _progress() as progress:
            task = progress.add_task("Backtest", total=weeks)

            def step(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total, description=f"Backtest: origin {done}/{total}")

            result = run_backtest(st, weeks, shares, out_dir, config=cfg, progress=step)
        entry.add_outputs(result["outputs"].values())
        entry.row_counts = {"origins": result["origins"]["n"]}
    if as_json:
        print(json.dumps(result, indent=2, default=str))
        return
    out.print(f"{'SYNTHETIC — ' if result['synthetic'] else ''}{result['headline']}", markup=False)
    out.print(result["pei_line"], markup=False)
    for line in terminal_table(result):
        out.print("  " + line, markup=False)
    _print_notes_and_outputs([], result["outputs"], 12)
