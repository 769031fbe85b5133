"""Locate files shipped with the package (SQL, data samples), in a checkout or a wheel.

In a wheel, ``sql/`` and ``data_samples/`` are copied into ``pipelines/_shipped/``;
in a checkout (or an editable install) they sit at the repository root.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def shipped_dir(name: str) -> Path:
    """Path of a shipped top-level folder (``"sql"`` or ``"data_samples"``)."""
    for candidate in (_PACKAGE_DIR / "_shipped" / name, _PACKAGE_DIR.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        f"Shipped folder {name!r} not found next to {_PACKAGE_DIR}; the installation is incomplete."
    )


def sql_path(relative: str) -> Path:
    """Path of one SQL file, e.g. ``sql_path("marts/mart_cell_week_counts.sql")``."""
    path = shipped_dir("sql") / relative
    if not path.is_file():
        raise FileNotFoundError(f"SQL file {relative!r} is not shipped with this installation.")
    return path
