"""``hotspots ingest`` (files into the store, one batch each) and ``hotspots quarantine`` (the
rows it rejected)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from analytics.errors import HotspotError, RefusedFileError
from pipelines.cli.common import DbOption, _cell, _print_batches, _progress, _reader, _table, app, err, out


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
    from pipelines.ingest import ingest_files, resolve_kind
    from pipelines.store import resolve_db_path
    from pipelines.weekly import load_config
    kind = resolve_kind(kind)
    area_options = _area_options(kind, files, layer_name, name_column, id_column)
    if config is None and Path("hotspots.toml").is_file():
        config = Path("hotspots.toml")
    configured = column_mapping.from_config(load_config(config)["ingest"].get(kind)) if config else None
    mapping = column_mapping.combine(column_mapping.from_options(columns, date_format, set_values, layer), configured)
    failed: HotspotError | None = None
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

                def start(path: Path) -> None:
                    progress.update(task, description=f"Ingesting {path.name}")
                    entry.add_input(path)

                def done(result) -> None:
                    entry.row_counts[result.file] = {k: v for k, v in result.as_json().items()
                                                     if k in ("batch_id", "read", "accepted", "updated",
                                                              "duplicate", "rejected")}
                    progress.advance(task)

                try:
                    results = ingest_files(st, kind, files, key, drop_identifying, on_file=done,
                                           date_order=date_order, excel_dates=excel_dates, mapping=mapping,
                                           area_options=area_options, on_start=start)
                except HotspotError as exc:  # the files before it stay committed: say so below
                    failed, results = exc, exc.committed
            if results:  # the batches are committed: a snapshot that cannot be written is a warning
                from pipelines.store import refresh_snapshot
                snapshot_warning = refresh_snapshot(st)
                if snapshot_warning:
                    entry.warnings.append(snapshot_warning)
        finally:
            st.close()
        _print_ingest(results, (failed.failed_path, failed.file_error) if failed else None,
                      failed.not_read if failed else [], as_json)
        if snapshot_warning:
            err.print(f"Warning: {snapshot_warning}", markup=False, highlight=False, soft_wrap=True)
        if failed:
            raise failed


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
