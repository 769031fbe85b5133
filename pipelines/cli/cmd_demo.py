"""``hotspots demo``: the whole pipeline on a small SYNTHETIC city, and what to run next."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import typer

from pipelines.cli.common import _print_batches, _progress, app, out


@app.command()
def demo(
    folder: Path = typer.Option(Path("demo"), "--dir", help="Folder for the demo's inputs, store and outputs."),
) -> None:
    """Run the whole pipeline on a small SYNTHETIC city and show where everything is.

    Example: hotspots demo --dir /tmp/hotspots-demo
    """
    from pipelines.demo import DEMO_ORDER, load_demo_store, reset_demo_folder, run_demo_weekly
    from pipelines.synthesize import write_synthetic_city

    inputs, db = reset_demo_folder(folder)
    out.print(f"[bold]safeguard-hotspots demo[/bold] — SYNTHETIC data, seed 7, in {folder}/")
    with _progress() as progress:
        task = progress.add_task("Generating SYNTHETIC city", total=None)
        paths = write_synthetic_city(inputs, seed=7, scale="small", fmt="csv",
                                     progress=lambda d, t: progress.update(task, completed=d, total=t))
    with _progress() as progress:
        task = progress.add_task("Ingesting", total=len(DEMO_ORDER))
        results, info, cube_path = load_demo_store(folder, db, paths, on_input=lambda name, done: progress.update(
            task, description=f"Ingesting {name}", completed=done))
    _print_batches(results)
    out.print(f"Cube: {info.n_cells} cells x {info.n_weeks} weeks ({info.first_week} to {info.last_week}), "
              f"study area: {info.study_area}; {info.n_events} events.")
    from pipelines.weekly import WEEKLY_STEPS
    with _progress() as progress:
        task = progress.add_task("Weekly run", total=len(WEEKLY_STEPS))
        week_run = run_demo_weekly(db, folder, progress=lambda name: progress.update(
            task, description=f"Weekly run: {name.replace('_', ' ')}", advance=1))
    hl = week_run.summary["headline"]
    out.print(f"Weekly run {week_run.week} (SYNTHETIC): {hl['became_hot'] + hl['continuing']} hot spot cell(s), "
              f"{hl['became_hot']} became hot since last week ({hl['new']} new hot spots); "
              f"patrol plan of {week_run.summary['plan_cells']} cell(s); "
              f"privacy check: {len(week_run.privacy_findings)} finding(s).")
    out.print("\n[bold]Where everything is[/bold]")
    out.print(f"  SYNTHETIC inputs   {inputs}/ (ground truth: {paths['ground_truth']})")
    out.print(f"  store              {db}")
    out.print(f"  cube               {cube_path}")
    out.print("\n[bold]Open these[/bold] (offline; SYNTHETIC)")
    for label, key in (("report", "report"), ("analyst map", "analyst_map"), ("patrol map", "patrol_map"),
                       ("patrol plan", "patrol_plan_csv")):
        out.print(f"  {label:18s} {week_run.outputs[key]}")
    out.print("\n[bold]What next[/bold] (each line runs as printed, from this folder)")
    for command, why in demo_next_commands(folder, db, week_run.week, paths["location_reports"]):
        out.print(f"  # {why}", markup=False, highlight=False)
        out.print(f"  {command}", markup=False, highlight=False, soft_wrap=True)  # one line: pasteable


def _self_command() -> str:
    """How to run this program again from a fresh shell: ``hotspots`` when that is on the PATH and is
    this program, else the path it was started by (``.venv/bin/hotspots``), else ``python -m pipelines``."""
    import shlex
    on_path = shutil.which("hotspots")
    argv0 = Path(sys.argv[0])
    if argv0.name == "hotspots" and argv0.exists():
        if on_path and Path(on_path).resolve() == argv0.resolve():
            return "hotspots"
        return shlex.quote(str(argv0))
    return "hotspots" if on_path else f"{shlex.quote(sys.executable)} -m pipelines"


def demo_next_commands(folder: Path, db: Path, week: str, reports_file: Path) -> list[tuple[str, str]]:
    """The demo's "what next" commands (each runs as printed in a fresh shell) and what each shows."""
    import shlex
    exe, q = _self_command(), lambda p: shlex.quote(str(p))
    return [
        (f"{exe} weekly --db {q(db)} --week {week} --out {q(folder / 'weekly')} --format gpkg",
         "the weekly run again, plus GeoPackage files"),
        (f"{exe} hotspots --db {q(db)} --week {week} --rules arcgis --out {q(folder / 'arcgis')}",
         "ESRI's published rules, to compare"),
        (f"{exe} quarantine --db {q(db)}", "rows the demo data planted as bad"),
        (f"{exe} cube --db {q(db)} --res 8 --out {q(folder / 'cube_res8.parquet')}", "a coarser grid"),
        (f"{exe} ingest reports {q(reports_file)} --db {q(db)}",
         "put your own file here; this one again is all duplicates"),
    ]
