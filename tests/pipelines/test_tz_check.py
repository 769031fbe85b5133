"""Ingest warns when a file's times do not fit the store's time zone (issue 13, item 3).

A New York file with -05:00/-04:00 offsets, naive Denver times, and excerpts of the real Denver
and Chicago files in ``../shared/data/real/`` (skipped with a reason when that folder is absent),
each into a Sydney store (warned, naming both zones and the --tz to use) and into a store of
their own zone (no warning).
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from analytics.privacy import key_fingerprint
from pipelines import store as store_mod
from pipelines.ingest import ingest_file
from tests.conftest import EPISODE_HEADER, REPORT_HEADER, TEST_KEY, episode, report, write_csv
from tests.pipelines.test_weeks_and_resolution import in_process
from tests.pipelines.tiny_store import daily, report_rows

REAL = Path(__file__).resolve().parents[3] / "shared" / "data" / "real"
if not REAL.is_dir():
    REAL = Path("/work/shared/data/real")


def _offset(d: date, tz: str) -> str:
    minutes = int(datetime(d.year, d.month, d.day, 20, tzinfo=ZoneInfo(tz)).utcoffset().total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def new_york_file(path: Path, naive: bool = False, lat: float = 40.75, lon: float = -73.99) -> Path:
    """A report a day through 2025 H1 in Manhattan, with New York's true offset on each row (or none)."""
    rows = []
    for d in daily(date(2025, 1, 6), date(2025, 6, 29)):
        off = "" if naive else _offset(d, "America/New_York")
        rows.append(report(report_id=f"NY{d:%Y%m%d}", observed_at=f"{d.isoformat()}T20:00:00{off}",
                           lat=f"{lat:.4f}", lon=f"{lon:.4f}"))
    return write_csv(path, REPORT_HEADER, rows)


def make_store(path: Path, tz: str | None = None) -> Path:
    store_mod.init_store(path, tz=tz, key_fingerprint=key_fingerprint(TEST_KEY))
    return path


def ingest(db: Path, kind: str, path: Path):
    with store_mod.opened(db) as st:
        return ingest_file(st, kind, path, TEST_KEY)


def test_offsets_from_another_zone_are_warned_through_the_cli(tmp_path, monkeypatch, capsys):
    run = lambda *args: in_process(monkeypatch, capsys, *args)  # noqa: E731  (the CLI's main, in-process)
    new_york_file(tmp_path / "ny.csv")
    assert run(tmp_path, "init", "--db", "syd.duckdb").returncode == 0
    proc = run(tmp_path, "ingest", "reports", "ny.csv", "--db", "syd.duckdb")
    assert proc.returncode == 0, proc.stderr
    warning = " ".join(proc.stderr.split())
    assert warning.startswith("Warning: ny.csv: observed_at offsets (-04:00, -05:00) do not match the store's time "
                              "zone Australia/Sydney (+10:00/+11:00 at those dates) in 175 of 175 rows")
    assert "re-create the store with --tz America/New_York" in warning
    # --json carries the same warning; the rows are accepted unchanged (instants are right)
    proc = run(tmp_path, "ingest", "reports", "ny.csv", "--db", "syd.duckdb", "--json")
    payload = json.loads(proc.stdout)[0]
    assert payload["duplicate"] == 175 and len(payload["warnings"]) == 1
    assert "America/New_York" in payload["warnings"][0]


def test_same_file_in_a_store_of_its_zone_is_silent(tmp_path):
    db = make_store(tmp_path / "ny.duckdb", "America/New_York")
    assert ingest(db, "reports", new_york_file(tmp_path / "ny.csv")).warnings == []
    assert ingest(db, "reports", new_york_file(tmp_path / "naive.csv", naive=True)).warnings == []


def test_sydney_file_in_the_default_store_is_silent(tmp_path):
    db = make_store(tmp_path / "s.duckdb")
    path = write_csv(tmp_path / "r.csv", REPORT_HEADER, report_rows(daily(date(2025, 1, 6), date(2025, 7, 27))))
    assert ingest(db, "reports", path).warnings == []
    naive = write_csv(tmp_path / "n.csv", REPORT_HEADER,
                      report_rows(daily(date(2025, 1, 6), date(2025, 2, 2)), offset=""))
    assert ingest(db, "reports", naive).warnings == []


def test_utc_times_say_nothing_about_the_place(tmp_path):
    db = make_store(tmp_path / "s.duckdb")
    path = write_csv(tmp_path / "z.csv", REPORT_HEADER,
                     report_rows(daily(date(2025, 1, 6), date(2025, 2, 2)), offset="Z"))
    assert ingest(db, "reports", path).warnings == []


def test_naive_times_far_from_the_coordinates_are_warned(tmp_path):
    db = make_store(tmp_path / "s.duckdb")
    result = ingest(db, "reports", new_york_file(tmp_path / "den.csv", naive=True, lat=39.74, lon=-104.99))
    assert len(result.warnings) == 1
    text = result.warnings[0]
    assert "observed_at has no UTC offset" in text and "Australia/Sydney (+10:00/+11:00)" in text
    assert "median longitude -105.0°, about UTC-07:00" in text and "--tz America/Denver" in text
    assert result.accepted == result.read  # a warning, never a change


def test_episodes_are_checked_on_missing_from(tmp_path):
    db = make_store(tmp_path / "s.duckdb")
    rows = [episode(episode_id=f"E{i}", missing_from=f"2025-01-{i + 5:02d}T21:00:00-05:00",
                    returned_at=f"2025-01-{i + 6:02d}T09:00:00-05:00", reported_at="", found_lat="40.75",
                    found_lon="-73.99", last_seen_lat="40.76", last_seen_lon="-73.98") for i in range(10)]
    result = ingest(db, "episodes", write_csv(tmp_path / "e.csv", EPISODE_HEADER, rows))
    assert len(result.warnings) == 1 and result.warnings[0].startswith("Warning: e.csv: missing_from offsets (-05:00)")


def test_typed_parquet_times_are_not_misread(tmp_path):
    db = make_store(tmp_path / "s.duckdb")
    rows = report_rows(daily(date(2025, 1, 6), date(2025, 3, 2)))
    frame = pd.DataFrame(rows)
    frame["observed_at"] = pd.to_datetime(frame["observed_at"], utc=True)
    frame["lat"], frame["lon"] = frame["lat"].astype(float), frame["lon"].astype(float)
    frame.to_parquet(tmp_path / "r.parquet", index=False)
    assert ingest(db, "reports", tmp_path / "r.parquet").warnings == []


# ------------------------------------------------------------------------------ real files

needs_real = pytest.mark.skipif(not REAL.is_dir(), reason=f"real data folder {REAL} not present (see README)")


def _real_excerpt(tmp_path: Path, city: str) -> Path:
    """500 located rows of a real file, mapped to the report contract as published: local times, no offset."""
    if city == "denver":
        raw = pd.read_csv(REAL / "denver" / "denver_offenses.csv.gz", nrows=3000, dtype=str)
        raw = raw[pd.to_numeric(raw["GEO_LAT"], errors="coerce").fillna(0) > 1].head(500)
        when, lat, lon, ids = raw["FIRST_OCCURRENCE_DATE"], raw["GEO_LAT"], raw["GEO_LON"], raw["OFFENSE_ID"]
    else:
        import geopandas as gpd
        raw = gpd.read_file(REAL / "chicago" / "chicago_carjackings_2020.geojson").dropna(subset=["Latitude"]).head(500)
        when, lat, lon, ids = raw["Date"], raw["Latitude"].astype(str), raw["Longitude"].astype(str), raw["ID"].astype(str)
    local = pd.to_datetime(when, format="%m/%d/%Y %I:%M:%S %p").dt.strftime("%Y-%m-%dT%H:%M:%S")
    frame = pd.DataFrame({"report_id": ids.to_numpy(), "observed_at": local.to_numpy(), "lat": lat.to_numpy(),
                          "lon": lon.to_numpy(), "source": "police", "kind": "other"})
    path = tmp_path / f"{city}.csv"
    frame.to_csv(path, index=False)
    return path


@needs_real
@pytest.mark.parametrize("city,zone", [("denver", "America/Denver"), ("chicago", "America/Chicago")])
def test_real_city_files_in_a_sydney_store_are_warned(tmp_path, city, zone):
    path = _real_excerpt(tmp_path, city)
    result = ingest(make_store(tmp_path / "syd.duckdb"), "reports", path)
    assert len(result.warnings) == 1, result.warnings
    assert "Australia/Sydney" in result.warnings[0] and f"--tz {zone}" in result.warnings[0]
    assert ingest(make_store(tmp_path / "own.duckdb", zone), "reports", path).warnings == []
