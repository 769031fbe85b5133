"""Property: for ANY generated CSV, ingest either balances its books or refuses the file cleanly.

read == accepted + updated + duplicate + rejected, and the only exceptions are the clean
refusals (RefusedFileError / InvalidInputError) -- never a DuckDB error, a StoreError or a
crash. One store serves every example, so later examples also meet duplicates and updates.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings, strategies as st

from analytics import contracts
from analytics.errors import InvalidInputError, RefusedFileError
from analytics.privacy import key_fingerprint
from pipelines import store as store_mod
from pipelines.checks import run_checks
from pipelines.ingest import ingest_file
from tests.conftest import TEST_KEY

NOW = datetime(2025, 6, 1, tzinfo=timezone.utc)
JUNK_COLUMNS = ["notes_2", "x", "Lat ", "REPORT ID", "", "über", "col;umn", "a,b", 'q"uote']

cells = st.one_of(
    st.just(""),
    st.text(max_size=12),                                                   # any unicode, incl. control chars
    st.sampled_from(["police", " Police ", "SIGHTING", "found", "Child Protection", "martians", "nan", "inf",
                     "-inf", "0", "1e308", "-33.87", "151.2", "91", "-181", "true", "no", "14", "N/A", "NULL",
                     "2025-03-01T22:15:00+11:00", "2025-03-01 10:00", "03/04/2025", "31/02/2025", "45717.5",
                     "2099-01-01", "1899-12-31", "2025-02-30", "\ufeff", "\x00", '"', "'", ",", "\n", "\r\n"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-10**12, max_value=10**12).map(str),
    st.datetimes(min_value=datetime(1800, 1, 1), max_value=datetime(2200, 1, 1)).map(lambda d: d.isoformat()),
)


#: A valid value per contract column, so that many generated rows pass (then mutate some cells).
VALID = {
    "report_id": "R1", "episode_id": "E1", "activity_id": "A1", "place_id": "P1", "observed_at": "2025-03-01T22:15:00+11:00",
    "missing_from": "2025-03-01T21:00:00+11:00", "returned_at": "2025-03-02T09:00:00+11:00",
    "reported_at": "2025-03-01T23:00:00+11:00", "start": "2025-03-01T20:00:00+11:00", "end": "2025-03-01T22:00:00+11:00",
    "lat": "-33.87", "lon": "151.207", "last_seen_lat": "-33.88", "last_seen_lon": "151.2", "found_lat": "-33.87",
    "found_lon": "151.207", "source": "police", "kind": "sighting", "person_ref": "CHILD-1", "placement_ref": "HOME-1",
    "placement_type": "residential", "risk_level": "high", "cse_concern": "true", "rhi_completed": "no",
    "age_years": "14", "gender": "female", "grading": "B2", "name": "Station", "category": "park",
}
KIND_VALUES = {"reports": "sighting", "disruptions": "presence_patrol"}


@st.composite
def csv_files(draw):
    kind = draw(st.sampled_from(["reports", "episodes", "disruptions", "places"]))
    contract = contracts.CONTRACTS[kind]
    # usually the required columns; sometimes one is missing (a refusal)
    required = list(contract.required) if draw(st.integers(0, 4)) else list(contract.required)[1:]
    extra = draw(st.lists(st.sampled_from(list(contract.columns) + JUNK_COLUMNS), max_size=6))
    header = list(dict.fromkeys(required + extra)) or ["only"]
    header = draw(st.permutations(header))
    n_rows = draw(st.integers(min_value=0, max_value=8))
    ids = st.sampled_from(["1", "2", "3", "X", "é", ""])
    rows = []
    for _ in range(n_rows):
        mutate = draw(st.sampled_from([0.0, 0.2, 0.5, 1.0]))
        row = []
        for col in header:
            valid = KIND_VALUES.get(kind, "") if col == "kind" else VALID.get(col, "")
            if col == contract.id_column:
                valid = valid + draw(ids)
            row.append(draw(cells) if draw(st.floats(0, 1)) < mutate else valid)
        rows.append(row)
    if rows and draw(st.booleans()):
        rows.append(list(draw(st.sampled_from(rows))))  # an exact repeat -> duplicate
    buf = io.StringIO()
    csv.writer(buf, lineterminator=draw(st.sampled_from(["\n", "\r\n"]))).writerows([header, *rows])
    text = buf.getvalue()
    if draw(st.integers(min_value=0, max_value=9)) == 9:
        text = text[: draw(st.integers(min_value=0, max_value=len(text)))]  # cut anywhere
    return kind, text.encode("utf-8")


@pytest.fixture(scope="module")
def prop_store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("props")
    db = folder / "store.duckdb"
    store_mod.init_store(db, key_fingerprint=key_fingerprint(TEST_KEY))
    st_ = store_mod.open_store(db)
    yield st_, folder
    st_.close()


@settings(max_examples=int(__import__("os").environ.get("PROP_EXAMPLES", "50")), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=csv_files(), date_order=st.sampled_from(contracts.DATE_ORDERS), excel=st.booleans())
def test_any_csv_balances_or_is_refused_cleanly(prop_store, data, date_order, excel):
    store, folder = prop_store
    kind, payload = data
    path = Path(folder) / f"{kind}.csv"
    path.write_bytes(payload)
    batches_before = store.con.execute("select count(*) from batches").fetchone()[0]
    try:
        result = ingest_file(store, kind, path, TEST_KEY, now=NOW, date_order=date_order, excel_dates=excel)
    except (RefusedFileError, InvalidInputError) as exc:
        event(f"refused: {str(exc).split(':')[1].strip()[:40]}")
        assert store.con.execute("select count(*) from batches").fetchone()[0] == batches_before
        return
    event("ingested, some rows accepted" if result.accepted else "ingested, nothing accepted")
    assert result.read == result.accepted + result.updated + result.duplicate + result.rejected
    assert sum(result.reasons.values()) == result.rejected
    failed = [c.name for c in run_checks(store.con, cube=False) if c.failures]
    assert failed == []
