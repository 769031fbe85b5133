"""Where each output of a week's folder lives: the one home of output paths (issue 12 §7).

A week's folder keeps the *shared* files at its top (``report.html``, ``patrol_map.html``,
``patrol_plan.csv``, ``patrol_plan.geojson``: :data:`pipelines.privacy_scan.SHARED_FILES`;
they follow the user's umask) and everything else -- analyst-only detail, clusters,
convergence, the engine's Parquet/GeoJSON, the cube, ``run.json`` -- in an ``analyst/``
subfolder that is owner-only (0700, its files 0600). A file not on the shared list goes to
``analyst/`` (the safe side).

``run.json`` is analyst-only: it lists the input files by name (a file name may name a
child), the privacy check's findings with snippets of what leaked, and the exact plan
and hotspot cells with counts; the privacy scan already treats it as analyst-only.

Code never spells a path: it asks :func:`output_path` (by output key, as in
``run.json``'s ``outputs``) or :func:`relative_path` (by file name).
"""

from __future__ import annotations

from pathlib import Path

from analytics.errors import InvalidInputError
from pipelines.private_files import ensure_private_dir, make_private
from pipelines.privacy_scan import SHARED_FILES

#: The owner-only subfolder of a week's folder.
ANALYST_DIR = "analyst"

#: Output key (``run.json`` ``outputs``) -> file name.
OUTPUT_FILES: dict[str, str] = {
    "cube": "cube.parquet",
    "hotspots_parquet": "hotspots.parquet",
    "hotspots_geojson": "hotspots.geojson",
    "scan_clusters": "scan_clusters.geojson",
    "clusters": "clusters.geojson",
    "convergence": "convergence.parquet",
    "run": "run.json",
    "analyst_map": "analyst_map.html",
    "report_analyst_detail": "report_analyst_detail.html",
    "report": "report.html",
    "patrol_map": "patrol_map.html",
    "patrol_plan_csv": "patrol_plan.csv",
    "patrol_plan_geojson": "patrol_plan.geojson",
    "patrol_plan_gpkg": "patrol_plan.gpkg",
    "hotspots_gpkg": "hotspots.gpkg",
    "withheld": "withheld.csv",
    "area_hotspots_parquet": "area_hotspots.parquet",   # --units areas (pipelines.area_hotspots)
    "area_hotspots_geojson": "area_hotspots.geojson",
}

#: Output key -> file name of ``hotspots backtest`` (its own ``--out`` folder, not a week's; scores
#: and counts per origin week, no cell: kept in ``analyst/`` all the same, the safe side).
BACKTEST_FILES: dict[str, str] = {
    "backtest_html": "backtest.html",
    "backtest_json": "backtest.json",
    "backtest_summary_csv": "backtest_summary.csv",
    "backtest_origins_csv": "backtest_origins.csv",
    "backtest_plans_csv": "backtest_plans.csv",
}


def is_shared(name: str) -> bool:
    """True for a file meant for commanders, partners and researchers (kept at the folder's top)."""
    return name in SHARED_FILES


def relative_path(name: str) -> str:
    """A file's path inside a week's folder: ``name`` when shared, else ``analyst/<name>``."""
    return name if is_shared(name) else f"{ANALYST_DIR}/{name}"


def output_path(folder: Path, key: str) -> Path:
    """Path of output ``key`` (e.g. ``"hotspots_parquet"``, ``"report"``) inside ``folder``."""
    return Path(folder) / relative_path(OUTPUT_FILES[key] if key in OUTPUT_FILES else BACKTEST_FILES[key])


def file_path(folder: Path, name: str) -> Path:
    """Path of the file called ``name`` inside ``folder``."""
    return Path(folder) / relative_path(name)


def analyst_dir(folder: Path) -> Path:
    """The owner-only subfolder of ``folder``."""
    return Path(folder) / ANALYST_DIR


def prepare_folder(folder: Path) -> Path:
    """Create ``folder`` (following the umask) and its owner-only ``analyst/`` subfolder; return ``folder``."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise InvalidInputError(f"--out {folder} is a file, not a folder; give a folder for the outputs.")
    folder.mkdir(parents=True, exist_ok=True)
    ensure_private_dir(analyst_dir(folder))
    return folder


def seal_analyst_files(folder: Path) -> None:
    """Make every file under ``folder/analyst/`` owner-only (0600) and the subfolder 0700."""
    sub = analyst_dir(folder)
    if not sub.is_dir():
        return
    ensure_private_dir(sub)
    for path in sub.rglob("*"):
        make_private(path)
