"""The demo's job (``hotspots demo``): a fresh folder, a new store holding a small SYNTHETIC city
with its cube, and the weekly run on it, each step recorded in the audit log.

The command shows the progress and prints where everything is (:mod:`pipelines.cli.cmd_demo`).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from analytics.privacy import key_fingerprint
from pipelines.batches import BatchResult

if TYPE_CHECKING:
    from pipelines.cube import CubeInfo
    from pipelines.weekly import WeeklyRun

#: (input kind, SYNTHETIC file) in the order the demo ingests them: the boundary first (study area).
DEMO_ORDER = (("boundary", "boundary"), ("places", "places"), ("episodes", "episodes"),
              ("reports", "location_reports"), ("disruptions", "disruptions"))


def reset_demo_folder(folder: Path) -> tuple[Path, Path]:
    """(inputs folder, store path) of a demo in ``folder``, after removing an earlier demo's store,
    its write-ahead log and snapshot, and its inputs."""
    from pipelines import store
    inputs = folder / "inputs"
    db = folder / "hotspots.duckdb"
    for stale in (db, db.with_name(db.name + ".wal"), store.snapshot_path(db)):
        if stale.exists():
            stale.unlink()
    if inputs.exists():
        shutil.rmtree(inputs)
    return inputs, db


def load_demo_store(folder: Path, db: Path, paths: dict[str, Path],
                    on_input: Callable[[str, int], None] | None = None) -> tuple[list[BatchResult], CubeInfo, Path]:
    """Make the store ``db`` (and its key file unless ``HOTSPOTS_KEY`` is set), ingest the SYNTHETIC
    files ``paths`` in :data:`DEMO_ORDER`, write the cube to ``folder/cube.parquet`` and publish the
    snapshot; recorded in the audit log. ``on_input(name, done)`` runs before each file.

    Returns (the batches, the cube's summary, the cube file).
    """
    from pipelines import cube as cube_mod, keys, store
    from pipelines.audit import AuditEntry, append
    from pipelines.ingest import ingest_file
    if os.environ.get(keys.ENV_KEY) is None:
        keys.create_key_file(keys.key_file_for(db))
    key = keys.load_key(db)
    store.init_store(db, key_fingerprint=key_fingerprint(key))
    results = []
    with store.opened(db) as st:
        for kind, name in DEMO_ORDER:
            if on_input:
                on_input(name, len(results))
            results.append(ingest_file(st, kind, paths[name], key))
        info = cube_mod.build_cube(st)
        cube_path = cube_mod.write_cube(st, folder / "cube.parquet")
        store.publish_snapshot(st)
    entry = AuditEntry("demo", {"dir": folder}, row_counts={r.file: r.read for r in results})
    entry.add_outputs([cube_path])
    append(db, entry, "ok")
    return results, info, cube_path


def run_demo_weekly(db: Path, folder: Path, progress: Callable[[str], None] | None = None) -> WeeklyRun:
    """The weekly run on the demo's store into ``folder/weekly`` (the last complete week), recorded
    in the audit log."""
    from pipelines.audit import AuditEntry, append
    from pipelines.weekly import weekly_outputs_for_demo
    week_run = weekly_outputs_for_demo(db, folder / "weekly", progress=progress)
    append(db, AuditEntry("demo weekly", {"dir": folder / "weekly"},
                          row_counts={"week": week_run.week}), "ok")
    return week_run
