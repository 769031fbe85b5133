"""The ``hotspots`` command line (Typer). The only place errors become exit codes.

User mistakes (bad files, missing store, wrong key, bad options) are ``HotspotError``s:
they print one line ``Error: ...`` to stderr and exit with code 1, never a traceback.
"""

from __future__ import annotations

import json
import re
import os
from contextlib import contextmanager
from dataclasses import asdict
import shutil
import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from analytics import __version__
from analytics.errors import HotspotError, NotEnoughData, RefusedFileError
from analytics.privacy import key_fingerprint
from analytics.timezones import DEFAULT_TIMEZONE

app = typer.Typer(
    name="hotspots",
    help="Weekly hotspot intelligence from missing-from-care episodes and location reports.\n\n"
         "Example: hotspots demo",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)

DbOption = typer.Option(None, "--db", help="Store path (default $HOTSPOTS_DB or ./hotspots.duckdb).")


@contextmanager
def _reader(db: Optional[Path]):
    """Open the store read-only (or its snapshot while an ingest runs, saying so on stderr)."""
    from pipelines import store
    with store.opened(db, read_only=True) as st:
        if st.notice:
            err.print(f"Note: {st.notice}", markup=False, highlight=False, soft_wrap=True)
        yield st


def _print_notes_and_outputs(notes, outputs: dict, width: int) -> None:
    """A command's automatic choices ("note: ...") and its output files, one per line."""
    for note in notes:
        out.print(f"  note: {note}", markup=False)
    for name, path in outputs.items():
        out.print(f"  {name:{width}s} {path}", markup=False)


def _formats(fmt: Optional[str]) -> tuple[str, ...]:
    from pipelines.hotspots_run import parse_formats
    return parse_formats(fmt)


def _check_rules(rules: Optional[str]) -> None:
    """``--rules`` is a rule set name (one line naming the choices otherwise)."""
    from analytics.engine import RULE_SETS
    if rules is not None and rules not in RULE_SETS:
        from analytics.errors import InvalidInputError
        raise InvalidInputError(f"--rules {rules!r} is not a rule set; use {' or '.join(RULE_SETS)}.")


def _check_bin_weeks(bin_weeks: Optional[str]) -> Optional[int | str]:
    """``--bin-weeks`` as "auto" or 1, 2, 4 (one line naming the choices otherwise)."""
    if bin_weeks is None:
        return None
    from analytics.bins import check_bin_weeks
    from analytics.errors import InvalidInputError
    try:
        return check_bin_weeks(bin_weeks)
    except InvalidInputError as exc:
        raise InvalidInputError(f"--bin-weeks: {exc}.") from None


def _progress() -> Progress:
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                    TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                    console=err, transient=True, disable=not err.is_terminal)


# ------------------------------------------------------------------------------------------ init

@app.command()
def init(
    db: Optional[Path] = DbOption,
    resolution: Optional[int] = typer.Option(
        None, "--res", help="H3 resolution of stored cells (default 9 ~ 0.1 km2); fixed when the store is made."),
    tz: Optional[str] = typer.Option(
        None, "--tz", help="Time zone of ISO weeks, hours and naive timestamps, e.g. America/New_York "
                           f"(default {DEFAULT_TIMEZONE}); fixed when the store is made."),
) -> None:
    """Create (or migrate) the store and the pseudonymisation key.

    Example: hotspots init --db force.duckdb
    """
    from pipelines import keys, store
    path = store.resolve_db_path(db)
    created_key = False
    if os.environ.get(keys.ENV_KEY) is None:
        created_key = keys.create_key_file(keys.key_file_for(path))
    key = keys.load_key(path)
    if tz is not None:
        _check_timezone(tz)
    _, applied = store.init_store(path, resolution, tz, key_fingerprint(key))
    with store.opened(path) as st:
        keys.check_key(key, st.setting("key_fingerprint"), path)
        version = store.schema_version(st.con)
        resolution, tz = st.resolution, st.timezone
    from pipelines.audit import AuditEntry, append
    append(path, AuditEntry("init", {"resolution": resolution, "tz": tz},
                            row_counts={"migrations_applied": applied}), "ok")
    out.print(f"Store {path} ready (schema version {version}; applied {len(applied)} migration(s); "
              f"H3 resolution {resolution}; time zone {tz}).")
    if created_key:
        out.print(f"Created pseudonymisation key {keys.key_file_for(path)} (mode 0600). Keep it safe: "
                  f"without it new data cannot be linked to old.")


def _check_timezone(tz: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise HotspotError(f"Unknown time zone {tz!r}; use an IANA name like Australia/Sydney.") from exc


# ----------------------------------------------------------------------------------------- synth

@app.command()
def synth(
    out_dir: Path = typer.Option(..., "--out", help="Folder to write the SYNTHETIC inputs to."),
    seed: int = typer.Option(7, "--seed", help="Random seed (same seed -> identical bytes)."),
    weeks: int = typer.Option(104, "--weeks", help="Number of ISO weeks from 2024-W27."),
    scale: str = typer.Option("small", "--scale", help="small | medium | large | a number of location reports."),
    fmt: str = typer.Option("csv", "--format", help="csv | parquet"),
    plant_repeat_home: bool = typer.Option(
        False, "--plant-repeat-home",
        help="Also plant one young person missing from, and found at, their own residential placement every "
             "second day (must never reach a shared output as a place to patrol)."),
) -> None:
    """Write a SYNTHETIC city (episodes, reports, places, boundary, ground truth).

    Example: hotspots synth --out synthetic/ --seed 7 --scale small
    """
    from pipelines.synthesize import write_synthetic_city
    scale_value: str | int = int(scale) if scale.isdigit() else scale
    with _progress() as progress:
        task = progress.add_task("Generating SYNTHETIC city", total=None)

        def on_progress(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        paths = write_synthetic_city(out_dir, seed=seed, weeks=weeks, scale=scale_value, fmt=fmt,
                                     progress=on_progress, plant_repeat_home=plant_repeat_home)
    out.print(f"SYNTHETIC data written to {out_dir}:")
    for name, path in paths.items():
        out.print(f"  {name:17s} {path}")


# ---------------------------------------------------------------------------------------- ingest

def _open_for_write(db: Optional[Path]):
    from pipelines import keys, store
    path = store.resolve_db_path(db)
    st = store.open_store(path)
    try:
        key = keys.load_key(path)
        keys.check_key(key, st.setting("key_fingerprint"), path, st.setting("key_chain"))
    except BaseException:
        st.close()
        raise
    return st, key


def _table(title: str, columns: tuple[str, ...], numeric: tuple[str, ...] = ()) -> Table:
    """A table that fits the console (80 columns in a pipe): headers are never cut (each column is at
    least as wide as its header) and long values fold onto more lines instead of ending in "…"."""
    table = Table(title=title)
    for col in columns:
        table.add_column(col, justify="right" if col in numeric else "left", min_width=len(col),
                         overflow="fold", no_wrap=col in numeric)
    return table


_COUNTS = ("read", "accepted", "updated", "duplicate", "rejected")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _cell(value) -> Text:
    """A table cell from data (file names, ids, quarantine details): shown as written, never read as
    Rich markup ("[bold]"), and without control characters (terminal escape sequences)."""
    return Text(_CONTROL.sub("\N{REPLACEMENT CHARACTER}", "" if value is None else str(value)))


def _batch_table(results) -> Table:
    """Ingest figures per file; the top reasons follow the table (:func:`_print_batches`)."""
    table = _table("Ingest", ("file", "batch", *_COUNTS), numeric=_COUNTS)
    for r in results:
        table.add_row(_cell(r.file), r.batch_id or "-", str(r.read), str(r.accepted), str(r.updated),
                      str(r.duplicate), str(r.rejected))
    return table


def _print_batches(results) -> None:
    """The ingest table, then each file's top rejection reasons on their own line."""
    out.print(_batch_table(results))
    for r in results:
        if r.reasons:
            reasons = ", ".join(f"{k} ({v})" for k, v in list(r.reasons.items())[:3])
            out.print(f"  top reasons ({r.file}): {reasons}", markup=False, highlight=False)


@app.command()
def ingest(
    kind: str = typer.Argument(..., help="episodes | reports | places | disruptions | boundary | placements "
                                         "(care homes: pseudonymised, never shown; keep homes out of shared outputs) "
                                         "| areas (beats, wards, neighbourhoods: polygons with names; --layer-name)"),
    files: List[Path] = typer.Argument(..., help="CSV (also .csv.gz) or Parquet files; GeoJSON, GeoPackage or zipped "
                                                 "shapefiles for boundary and places, and as points for the others."),
    db: Optional[Path] = DbOption,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object per file."),
    drop_identifying: bool = typer.Option(
        False, "--drop-identifying-columns",
        help="Drop columns that identify a person (name, dob, address, phone, email, notes) instead of refusing the file."),
    date_order: str = typer.Option(
        "ymd", "--date-order",
        help="How d/m/y dates like 03/04/2025 are read: ymd (ISO 8601 only; such rows are rejected as "
             "ambiguous_date), dmy (day first) or mdy (month first)."),
    excel_dates: bool = typer.Option(
        False, "--excel-dates",
        help="Convert spreadsheet day numbers (45717.5) to local time instead of rejecting them as excel_serial_date."),
    columns: Optional[str] = typer.Option(
        None, "--columns",
        help="The file's own column names: CONTRACT=FILE_COLUMN,... e.g. report_id=OFFENSE_ID,lat=GEO_LAT; "
             "observed_at=DATE_COL+TIME_COL joins a date and a time column."),
    date_format: Optional[str] = typer.Option(
        None, "--date-format",
        help="strptime format of the file's timestamps, e.g. \"%m/%d/%Y %I:%M:%S %p\"; rows that do not match "
             "are rejected as bad_timestamp."),
    set_values: Optional[List[str]] = typer.Option(
        None, "--set", help="One value for a column in every row, e.g. --set source=police (repeatable)."),
    layer: Optional[str] = typer.Option(
        None, "--layer", help="Layer to read from a GeoPackage or a zip holding several shapefiles."),
    layer_name: Optional[str] = typer.Option(
        None, "--layer-name", help="areas: the name the layer is stored and shown under (e.g. beats, wards; never "
                                   "the file name); ingesting the same name again replaces that layer."),
    name_column: Optional[str] = typer.Option(
        None, "--name-column", help="areas: the column holding the area names (default: guessed, and reported)."),
    id_column: Optional[str] = typer.Option(
        None, "--id-column", help="areas: the column holding the area ids (default: guessed and reported, else the "
                                  "feature order 1, 2, ...)."),
    config: Optional[Path] = typer.Option(
        None, "--config", help="hotspots.toml whose ingest.KIND table gives columns, date_format, set and layer "
                               "(default ./hotspots.toml when present; options given here win)."),
) -> None:
    """Validate and load input files, one batch (one transaction) per file.

    Example: hotspots ingest reports denver_offenses.csv.gz --columns
    report_id=OFFENSE_ID,observed_at=FIRST_OCCURRENCE_DATE,lat=GEO_LAT,lon=GEO_LON
    --date-format "%m/%d/%Y %I:%M:%S %p" --set source=police --db denver.duckdb

    Areas: hotspots ingest areas statistical_neighborhoods.geojson --layer-name neighbourhoods --db denver.duckdb
    """
    from pipelines import column_mapping
    from pipelines.audit import audited
    from pipelines.ingest import ingest_file, resolve_kind
    from pipelines.store import resolve_db_path
    from pipelines.weekly import load_config
    kind = resolve_kind(kind)
    area_options = _area_options(kind, files, layer_name, name_column, id_column)
    if config is None and Path("hotspots.toml").is_file():
        config = Path("hotspots.toml")
    configured = column_mapping.from_config(load_config(config)["ingest"].get(kind)) if config else None
    mapping = column_mapping.combine(column_mapping.from_options(columns, date_format, set_values, layer), configured)
    results = []
    failed: tuple[Path, HotspotError] | None = None
    snapshot_warning = None
    params = {"kind": kind, "files": [str(f) for f in files], "drop_identifying_columns": drop_identifying,
              "date_order": date_order, "excel_dates": excel_dates, "columns": columns,
              "date_format": date_format, "set": set_values, "layer": layer,
              "config": str(config) if config else None, **(area_options or {})}
    with audited(resolve_db_path(db), "ingest", params) as entry:
        st, key = _open_for_write(db)
        try:
            with _progress() as progress:
                task = progress.add_task(f"Ingesting {kind}", total=len(files))
                for path in files:
                    progress.update(task, description=f"Ingesting {path.name}")
                    entry.add_input(path)
                    try:
                        results.append(ingest_file(st, kind, path, key, drop_identifying,
                                                   date_order=date_order, excel_dates=excel_dates, mapping=mapping,
                                                   area_options=area_options))
                    except HotspotError as exc:  # the files before it stay committed: say so below
                        failed = (path, exc)
                        break
                    entry.row_counts[path.name] = {k: v for k, v in results[-1].as_json().items()
                                                   if k in ("batch_id", "read", "accepted", "updated",
                                                            "duplicate", "rejected")}
                    progress.advance(task)
            if results:  # the batches are committed: a snapshot that cannot be written is a warning
                from pipelines.store import refresh_snapshot
                snapshot_warning = refresh_snapshot(st)
                if snapshot_warning:
                    entry.warnings.append(snapshot_warning)
        finally:
            st.close()
        not_read = list(files[len(results) + 1:]) if failed else []
        _print_ingest(results, failed, not_read, as_json)
        if snapshot_warning:
            err.print(f"Warning: {snapshot_warning}", markup=False, highlight=False, soft_wrap=True)
        if failed:
            from pipelines.ingest import partial_ingest_error
            error = partial_ingest_error(results, failed[0], failed[1], not_read)
            if error is failed[1]:
                raise error
            raise error from failed[1]


def _area_options(kind: str, files: List[Path], layer_name: Optional[str], name_column: Optional[str],
                  id_column: Optional[str]) -> Optional[dict]:
    """``--layer-name`` / ``--name-column`` / ``--id-column`` for ``ingest areas`` (one file per layer);
    refused with any other kind."""
    from analytics.errors import InvalidInputError
    given = [o for o, v in (("--layer-name", layer_name), ("--name-column", name_column),
                            ("--id-column", id_column)) if v is not None]
    if kind != "areas":
        if given:
            raise InvalidInputError(f"{', '.join(given)}: for ingest areas only.")
        return None
    from pipelines.areas import check_layer_name
    layer_name = check_layer_name(layer_name)
    if len(files) != 1:
        raise InvalidInputError(f"ingest areas takes one file per layer; received {len(files)}. Ingest each file "
                                "with its own --layer-name.")
    return {"layer_name": layer_name, "name_column": name_column, "id_column": id_column}


#: Keys of one committed file in ``ingest --json`` (README "Commands").
INGEST_JSON_KEYS = ("file", "batch_id", "read", "accepted", "updated", "duplicate", "rejected", "reasons",
                    "recoded", "flagged", "warnings", "hints")  # hints: e.g. the columns ingest areas guessed


def _print_ingest(results, failed, not_read: list[Path], as_json: bool) -> None:
    """The committed files' accounting; after a refused file, also that file's error and the files not read."""
    if as_json:
        rows = [{**{k: r.as_json()[k] for k in INGEST_JSON_KEYS}, "status": "committed"} for r in results]
        if failed:
            status = "refused" if isinstance(failed[1], RefusedFileError) else "failed"
            rows.append({"file": failed[0].name, "status": status, "error": str(failed[1])})
            rows += [{"file": p.name, "status": "not_read"} for p in not_read]
        print(json.dumps(rows, indent=2))
        return
    if results:
        _print_batches(results)
    for r in results:
        for what, counts, why in (("recoded", r.recoded, "values outside the closed vocabulary, not shown"),
                                  ("flagged", r.flagged, "accepted, see README")):
            if counts:
                listed = ", ".join(f"{k} ({v})" for k, v in counts.items())
                out.print(f"  {what} ({r.file}): {listed} ({why})", markup=False)
        for hint in r.hints:
            out.print(f"  hint ({r.file}): {hint}", markup=False)
        for warning in r.warnings:
            err.print(warning, markup=False, highlight=False, soft_wrap=True)
    if any(r.rejected for r in results):
        out.print("See rejected rows with: hotspots quarantine --batch <batch>")


# ------------------------------------------------------------------------------------ quarantine

@app.command()
def quarantine(
    db: Optional[Path] = DbOption,
    batch: Optional[str] = typer.Option(None, "--batch", help="Only this batch (e.g. B000003)."),
    reason: Optional[str] = typer.Option(None, "--reason", help="Only this reason (e.g. null_island)."),
    limit: int = typer.Option(50, "--limit", help="Rows to show (0 = all)."),
    as_json: bool = typer.Option(False, "--json", help="Print rows as JSON."),
) -> None:
    """List rejected rows with their reasons.

    Example: hotspots quarantine --batch B000002 --reason lat_out_of_range
    """
    from pipelines import store
    from pipelines.audit import audited
    with audited(store.resolve_db_path(db), "quarantine", {"batch": batch, "reason": reason}) as entry, \
            _reader(db) as st:
        rows = st.con.execute(
            "select batch_id, kind, row_number, record_id, reason, detail from quarantine "
            "where ($b is null or batch_id = $b) and ($r is null or reason = $r) "
            "order by batch_id, row_number", {"b": batch, "r": reason}).fetchall()
        entry.row_counts = {"rows": len(rows)}
    shown = rows if limit == 0 else rows[:limit]
    if as_json:
        names = ("batch_id", "kind", "row_number", "record_id", "reason", "detail")
        print(json.dumps([dict(zip(names, r)) for r in shown], indent=2, default=str))
        return
    table = _table(f"Quarantine: {len(rows)} row(s)", ("batch", "kind", "row", "id", "reason", "detail"),
                   numeric=("row",))
    for r in shown:
        table.add_row(*[_cell(v) for v in r])
    out.print(table)
    if len(shown) < len(rows):
        out.print(f"... {len(rows) - len(shown)} more; use --limit 0 to see all.")


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
    db: Optional[Path] = DbOption,
    as_json: bool = typer.Option(False, "--json", help="Print evaluation.json to stdout."),
) -> None:
    """Evaluate a disruption: DiD vs matched controls, ITS, WDD, WDQ, synthetic control, power (HTML + JSON + CSV).

    Example: hotspots evaluate --target SYN-PL0018 --start 2025-08-04 --end 2025-11-23 --buffer-rings 2
    """
    from pipelines import store
    from pipelines.audit import audited
    from pipelines.evaluate import EVALUATE_STEPS, run_evaluation
    params = {"target": target, "start": start, "end": end, "outcome": outcome, "buffer_rings": buffer_rings,
              "activity_kind": activity_kind, "out": out_dir, "seed": seed, "power_fall": power_fall}
    with audited(store.resolve_db_path(db), "evaluate", params) as entry:
        with _reader(db) as st, _progress() as progress:
            task = progress.add_task("Evaluation", total=len(EVALUATE_STEPS))

            def step(name: str) -> None:
                progress.update(task, description=f"Evaluation: {name}", advance=1)

            result = run_evaluation(st, target, start, end, outcome, buffer_rings, out_dir,
                                    activity_kind=activity_kind, seed=seed, power_effect=-power_fall / 100,
                                    progress=step)
        entry.add_outputs(result["outputs"].values())
        entry.row_counts = {"target_cells": result["target"]["n_cells"], **result["periods"]}
    if as_json:
        print(json.dumps(result, indent=2, default=str))
        return
    m = result["methods"]
    out.print(f"{'SYNTHETIC — ' if result['synthetic'] else ''}{result['verdict']['headline']}", markup=False)
    for name in ("did", "its", "synthetic_control"):
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


# ------------------------------------------------------------------------------------------ rekey

@app.command()
def rekey(
    new_key_file: Path = typer.Option(
        ..., "--new-key-file",
        help="File holding ONE new random key, mode 0600 (e.g. python -c \"import secrets; "
             "print(secrets.token_hex(32))\" > new.key; chmod 600 new.key)."),
    db: Optional[Path] = DbOption,
) -> None:
    """Re-pseudonymise the store under a new key (one transaction, then a fresh file); the key file becomes the chain old+new.

    Example: hotspots rekey --new-key-file new.key
    """
    from pipelines import store
    from pipelines.audit import audited
    from pipelines.rekey import rekey_store
    path = store.resolve_db_path(db)
    with audited(path, "rekey", {"new": str(new_key_file)}) as entry:
        result, key_file = rekey_store(path, new_key_file)
        entry.row_counts = {"pseudonyms": result.pseudonyms, "chain_length": result.chain_length}
        if result.warning:
            entry.warnings.append(result.warning)
    out.print(f"Store {path} re-pseudonymised: {result.pseudonyms} pseudonym(s) mapped and the store rewritten into "
              f"a fresh file; key chain of {result.chain_length} key(s) written to {key_file} (mode 0600). Keep it "
              f"safe; {new_key_file} may now be deleted.")
    if result.warning:
        err.print(f"Warning: {result.warning}", markup=False, highlight=False, soft_wrap=True)


# ------------------------------------------------------------------------------------------ purge

@app.command()
def purge(
    before: Optional[str] = typer.Option(
        None, "--before", help="Remove records dated before this day (YYYY-MM-DD, store time zone): episodes by "
                               "missing_from, reports by observed_at, and their history and quarantined rows."),
    person_ref: Optional[str] = typer.Option(
        None, "--person-ref", help="Remove everything about one young person (the reference as in your exports; "
                                   "it is pseudonymised with the store's key before matching and never recorded)."),
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation (needed when not at a terminal)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only count what would be removed."),
    db: Optional[Path] = DbOption,
    as_json: bool = typer.Option(False, "--json", help="Print the counts as JSON."),
) -> None:
    """Delete records for retention or on request, then rewrite the store so nothing removed remains in any byte.

    Example: hotspots purge --before 2019-07-01 --db force.duckdb --yes
    """
    from pipelines import store
    from pipelines.audit import audited
    import dataclasses
    from pipelines.purge import purge_store
    path = store.resolve_db_path(db)
    if before is None and person_ref is None:
        raise HotspotError("Say what to purge: --before DATE and/or --person-ref REF (see hotspots purge --help).")
    what = " and ".join(w for w in ((f"dated before {before}" if before else ""),
                                    ("about the given young person" if person_ref is not None else "")) if w)
    preview = purge_store(path, before, person_ref, dry_run=True)
    if not dry_run and preview.total and not yes:
        if as_json or not sys.stdin.isatty():
            raise HotspotError(f"purge would remove {preview.total} row(s) {what} for good; re-run with --yes to "
                               f"confirm, or --dry-run to see the counts.")
        out.print(f"Records {what} in {path}:", markup=False)
        for table, n in preview.rows.items():
            out.print(f"  {table:26s} {n}", markup=False)
        if not typer.confirm(f"Remove these {preview.total} row(s) for good?", default=False):
            raise HotspotError("purge cancelled; nothing was removed.")
    params = {"before": before, "person_ref": "given" if person_ref is not None else None, "dry_run": dry_run}
    with audited(path, "purge", params) as entry:  # counts only: never the reference
        if dry_run or not preview.total:
            result = dataclasses.replace(preview, dry_run=dry_run)
        else:
            result = purge_store(path, before, person_ref)
        entry.row_counts = dict(result.rows)
        if result.warning:
            entry.warnings.append(result.warning)
    if as_json:
        print(json.dumps(result.as_json(), indent=2))
        return
    if not result.total:
        out.print(f"purge: no record {what}; nothing was removed.", markup=False)
    else:
        verb = "would remove" if dry_run else "removed"
        out.print(f"purge {verb} {result.total} row(s) {what}: " + ", ".join(
            f"{table} {n}" for table, n in result.rows.items() if n)
            + ("." if dry_run else "; the store was rewritten into a fresh file and its snapshot rebuilt, so "
                                   "nothing removed remains in their bytes."), markup=False)
    if result.warning:
        err.print(f"Warning: {result.warning}", markup=False, highlight=False, soft_wrap=True)


# ----------------------------------------------------------------------------------------- audit

@app.command()
def audit(
    db: Optional[Path] = DbOption,
    limit: int = typer.Option(50, "--limit", help="Newest rows to show."),
    as_json: bool = typer.Option(False, "--json", help="Print rows as JSON."),
) -> None:
    """List the audit log: every command run against the store, by whom, with what outcome.

    Example: hotspots audit --limit 20
    """
    from pipelines import store
    from pipelines.audit import entries
    with _reader(db) as st:
        rows = entries(st.con, limit)
    names = ("run_at", "os_user", "command", "parameters", "outcome", "row_counts")
    if as_json:
        print(json.dumps([dict(zip(names, r)) for r in rows], indent=2, default=str))
        return
    table = _table(f"Audit log (newest {len(rows)})", names)
    for r in rows:
        table.add_row(*[_cell(v) for v in r])
    out.print(table)


# ------------------------------------------------------------------------------------------ demo

DEMO_ORDER = (("boundary", "boundary"), ("places", "places"), ("episodes", "episodes"),
              ("reports", "location_reports"), ("disruptions", "disruptions"))


@app.command()
def demo(
    folder: Path = typer.Option(Path("demo"), "--dir", help="Folder for the demo's inputs, store and outputs."),
) -> None:
    """Run the whole pipeline on a small SYNTHETIC city and show where everything is.

    Example: hotspots demo --dir /tmp/hotspots-demo
    """
    from pipelines import cube as cube_mod, keys, store
    from pipelines.ingest import ingest_file
    from pipelines.synthesize import write_synthetic_city

    inputs = folder / "inputs"
    db = folder / "hotspots.duckdb"
    for stale in (db, db.with_name(db.name + ".wal"), store.snapshot_path(db)):
        if stale.exists():
            stale.unlink()
    if inputs.exists():
        shutil.rmtree(inputs)
    out.print(f"[bold]safeguard-hotspots demo[/bold] — SYNTHETIC data, seed 7, in {folder}/")
    with _progress() as progress:
        task = progress.add_task("Generating SYNTHETIC city", total=None)
        paths = write_synthetic_city(inputs, seed=7, scale="small", fmt="csv",
                                     progress=lambda d, t: progress.update(task, completed=d, total=t))
    if os.environ.get(keys.ENV_KEY) is None:
        keys.create_key_file(keys.key_file_for(db))
    key = keys.load_key(db)
    store.init_store(db, key_fingerprint=key_fingerprint(key))
    results = []
    with store.opened(db) as st:
        with _progress() as progress:
            task = progress.add_task("Ingesting", total=len(DEMO_ORDER))
            for kind, name in DEMO_ORDER:
                progress.update(task, description=f"Ingesting {name}")
                results.append(ingest_file(st, kind, paths[name], key))
                progress.advance(task)
        info = cube_mod.build_cube(st)
        cube_path = cube_mod.write_cube(st, folder / "cube.parquet")
        store.publish_snapshot(st)
    from pipelines.audit import AuditEntry, append
    entry = AuditEntry("demo", {"dir": folder}, row_counts={r.file: r.read for r in results})
    entry.add_outputs([cube_path])
    append(db, entry, "ok")
    _print_batches(results)
    out.print(f"Cube: {info.n_cells} cells x {info.n_weeks} weeks ({info.first_week} to {info.last_week}), "
              f"study area: {info.study_area}; {info.n_events} events.")
    from pipelines.weekly import WEEKLY_STEPS, weekly_outputs_for_demo
    with _progress() as progress:
        task = progress.add_task("Weekly run", total=len(WEEKLY_STEPS))
        week_run = weekly_outputs_for_demo(db, folder / "weekly", progress=lambda name: progress.update(
            task, description=f"Weekly run: {name.replace('_', ' ')}", advance=1))
    append(db, AuditEntry("demo weekly", {"dir": folder / "weekly"},
                          row_counts={"week": week_run.week}), "ok")
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


# ------------------------------------------------------------------------------------------ main

@app.callback(invoke_without_command=True)
def _root(version: bool = typer.Option(False, "--version", help="Show the version and exit.")) -> None:
    if version:
        out.print(f"safeguard-hotspots {__version__}")
        raise typer.Exit()


#: The exit codes, one home (the README's exit-code table shows the same; tests check both).
EXIT_OK, EXIT_USER_ERROR, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 70
EXIT_CODES = {
    EXIT_OK: "success (including \"too few events\" / \"no events\", with the output saying so)",
    EXIT_USER_ERROR: "user error, refused file or privacy failure (one line starting Error:)",
    EXIT_USAGE: "usage error: unknown command or option, missing or malformed argument (usage line + Error:)",
    EXIT_INTERNAL: "internal error: one line naming <store>.errors.log, which holds the traceback",
}


def main(argv: Optional[List[str]] = None) -> None:
    """Console entry point: run the app and turn every outcome into one exit code (:data:`EXIT_CODES`).

    ``HotspotError`` -> one ``Error:`` line, exit 1; a usage mistake -> the usage line and one
    ``Error:`` line, exit 2; anything unexpected -> one line naming the error log (the traceback
    goes there, never to the terminal), exit 70.
    """
    from pipelines import cli_errors
    args = list(sys.argv[1:] if argv is None else argv)
    click_exception, click_abort = cli_errors.click_exception_types()
    try:
        code = app(args=args, prog_name="hotspots", standalone_mode=False)
        sys.exit(code if isinstance(code, int) else EXIT_OK)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except NotEnoughData as exc:  # an honest outcome, not an error
        if "--json" in args:
            print(json.dumps({"status": exc.status, "message": str(exc)}, indent=2))
        else:
            out.print(str(exc), markup=False, highlight=False, soft_wrap=True)
        sys.exit(EXIT_OK)
    except HotspotError as exc:
        err.print(f"Error: {exc}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(EXIT_USER_ERROR)
    except KeyboardInterrupt:
        err.print("Interrupted; the store is unchanged for the file being processed.")
        sys.exit(130)
    except click_exception as exc:
        text, code = cli_errors.usage_outcome(exc, app, args)
        if text:
            print(text, file=sys.stderr)
        sys.exit(code)
    except click_abort:
        err.print("Error: aborted.")
        sys.exit(EXIT_USER_ERROR)
    except Exception:  # noqa: BLE001 - the one place an unexpected error becomes a line and a log
        print(cli_errors.report_internal_error(args), file=sys.stderr)
        sys.exit(EXIT_INTERNAL)
