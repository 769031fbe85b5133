"""Tiny stores for CLI tests: a small boundary and a few location reports (plain CSV, Sydney CBD).

``tiny_store(folder, days=..., per_day=...)`` writes the inputs and ingests them into
``folder/store.duckdb`` with the test key, so each test controls exactly how much data there is
and on which local days it falls.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from analytics.privacy import key_fingerprint
from pipelines import store as store_mod
from pipelines.ingest import ingest_file
from tests.conftest import REPORT_HEADER, TEST_KEY, new_store, report, write_csv

#: A ~2.5 km square over the Sydney CBD (lon, lat).
SQUARE = [[151.19, -33.89], [151.22, -33.89], [151.22, -33.86], [151.19, -33.86], [151.19, -33.89]]
#: Report locations inside the square: a busy corner and two quieter ones.
SPOTS = [(-33.8700, 151.2070), (-33.8705, 151.2075), (-33.8800, 151.2000), (-33.8650, 151.1950)]


def write_boundary(path: Path) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "Tiny CBD"},
         "geometry": {"type": "Polygon", "coordinates": [SQUARE]}}]}))
    return path


def sydney_offset(d: date) -> str:
    """Australia/Sydney's UTC offset at 20:00 on local day ``d`` ('+11:00' in summer, '+10:00' in winter)."""
    minutes = int(datetime(d.year, d.month, d.day, 20, tzinfo=ZoneInfo("Australia/Sydney")).utcoffset()
                  .total_seconds() // 60)
    return f"+{minutes // 60:02d}:{minutes % 60:02d}"


def report_rows(days: list[date], per_day: int = 1, offset: str | None = None) -> list[dict]:
    """``per_day`` reports on each local day at 20:00, with ``offset`` written on every row
    (default: Sydney's offset on that day; '' for naive times)."""
    rows = []
    for d in days:
        off = sydney_offset(d) if offset is None else offset
        for i in range(per_day):
            lat, lon = SPOTS[(d.toordinal() + i) % len(SPOTS)] if i else SPOTS[0]
            rows.append(report(report_id=f"R{d:%Y%m%d}-{i}", observed_at=f"{d.isoformat()}T20:{i % 60:02d}:00{off}",
                               lat=f"{lat:.4f}", lon=f"{lon:.4f}", person_ref=f"CHILD-{i % 7}"))
    return rows


def daily(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def tiny_store(folder: Path, days: list[date], per_day: int = 1, boundary: bool = True, tz: str | None = None,
               resolution: int | None = None) -> Path:
    """Create ``folder/store.duckdb`` with the test key and ingest a boundary and the reports."""
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "store.duckdb"
    kwargs = {k: v for k, v in (("tz", tz), ("resolution", resolution)) if v is not None}
    if kwargs:
        store_mod.init_store(db, key_fingerprint=key_fingerprint(TEST_KEY), **kwargs)
    else:
        new_store(db)  # the same new store, copied
    reports = write_csv(folder / "reports.csv", REPORT_HEADER, report_rows(days, per_day))
    with store_mod.opened(db) as st:
        if boundary:
            ingest_file(st, "boundary", write_boundary(folder / "boundary.geojson"), TEST_KEY)
        ingest_file(st, "reports", reports, TEST_KEY)
    return db
