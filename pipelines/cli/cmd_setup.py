"""``hotspots init`` (the store and its key) and ``hotspots synth`` (SYNTHETIC inputs)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer

from analytics.errors import HotspotError
from analytics.privacy import key_fingerprint
from analytics.timezones import DEFAULT_TIMEZONE
from pipelines.cli.common import DbOption, _progress, app, out


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
