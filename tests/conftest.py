"""Shared fixtures: a fresh store with a known key, and small CSV writers."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from analytics.privacy import key_fingerprint
from pipelines import store as store_mod

TEST_KEY = b"test-key-0123456789abcdef0123456789abcdef"

REPORT_HEADER = ["report_id", "observed_at", "lat", "lon", "source", "kind", "episode_id", "person_ref", "grading"]
EPISODE_HEADER = [
    "episode_id", "person_ref", "missing_from", "returned_at", "reported_at", "placement_ref",
    "placement_type", "last_seen_lat", "last_seen_lon", "found_lat", "found_lon", "risk_level",
    "cse_concern", "rhi_completed", "age_years", "gender", "disability", "first_nations", "cald", "lgbtqia",
]


def write_csv(path: Path, header: list[str], rows: list[dict | list]) -> Path:
    """Write rows (dicts keyed by header, or lists) to a CSV file."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for row in rows:
            writer.writerow([row.get(h, "") for h in header] if isinstance(row, dict) else row)
    return path


def report(**overrides) -> dict:
    """A valid location report row (Sydney CBD), with overrides."""
    row = {"report_id": "R1", "observed_at": "2025-03-01T22:15:00+11:00", "lat": "-33.8700",
           "lon": "151.2070", "source": "police", "kind": "sighting", "episode_id": "E1",
           "person_ref": "CHILD-REF-0001", "grading": "B2"}
    row.update(overrides)
    return row


def episode(**overrides) -> dict:
    """A valid episode row, with overrides."""
    row = {"episode_id": "E1", "person_ref": "CHILD-REF-0001", "missing_from": "2025-03-01T21:00:00+11:00",
           "returned_at": "2025-03-02T09:00:00+11:00", "reported_at": "2025-03-01T23:00:00+11:00",
           "placement_ref": "HOME-REF-0042", "placement_type": "residential", "last_seen_lat": "-33.8800",
           "last_seen_lon": "151.2000", "found_lat": "-33.8700", "found_lon": "151.2070",
           "risk_level": "high", "cse_concern": "true", "rhi_completed": "false", "age_years": "14",
           "gender": "female", "disability": "false", "first_nations": "false", "cald": "false", "lgbtqia": ""}
    row.update(overrides)
    return row


@pytest.fixture
def key() -> bytes:
    return TEST_KEY


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    path = tmp_path / "store.duckdb"
    store_mod.init_store(path, key_fingerprint=key_fingerprint(TEST_KEY))
    return path


@pytest.fixture
def store(db_path: Path):
    st = store_mod.open_store(db_path)
    yield st
    st.close()


@pytest.fixture
def key_env(monkeypatch):
    """Use the test key through $HOTSPOTS_KEY (as the CLI reads it)."""
    monkeypatch.setenv("HOTSPOTS_KEY", TEST_KEY.decode())
    return TEST_KEY
