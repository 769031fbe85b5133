"""The bad-input corpus (tests/data/bad/cases.json): every case's exact reasons or exact refusal.

Each case ingests one file into a fresh store. An accepted file must match the expected
accounting (read/accepted/updated/duplicate/rejected), reasons, hints, ignored columns and,
where given, the stored values; its batch is recorded and the store checks pass. A refused
file must raise RefusedFileError with exactly the expected message and leave the store
unchanged.
"""

from __future__ import annotations

import importlib.util
import json
from datetime import datetime
from pathlib import Path

import pytest

from analytics.errors import InvalidInputError, RefusedFileError
from pipelines import store as store_mod
from pipelines.checks import run_checks
from pipelines.ingest import ingest_file
from tests.conftest import TEST_KEY, new_store

BAD = Path(__file__).resolve().parents[1] / "data" / "bad"
CORPUS = json.loads((BAD / "cases.json").read_text(encoding="utf-8"))
NOW = datetime.fromisoformat(CORPUS["now"])
CASES = CORPUS["cases"]
TABLES = ("batches", "quarantine", "location_reports", "episodes", "places", "disruptions")


def _make_corpus_module():
    spec = importlib.util.spec_from_file_location("make_corpus", BAD / "make_corpus.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_corpus_is_complete():
    assert len(CASES) >= 40
    assert len({c["id"] for c in CASES}) == len(CASES)
    for case in CASES:
        assert case.get("generated") or (BAD / case["file"]).is_file(), case["file"]
        assert ("expect" in case) != ("refused" in case), case["id"]


def _counts(st) -> dict:
    return {t: st.con.execute(f"select count(*) from {t}").fetchone()[0] for t in TABLES}


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_bad_input_case(case, tmp_path):
    path = BAD / case["file"]
    if case.get("generated"):
        _make_corpus_module().write_large(tmp_path)  # every generated file; each case reads its own
        path = tmp_path / case["file"]
    db = new_store(tmp_path / "store.duckdb")
    with store_mod.opened(db) as st:
        if case.get("boundary"):
            ingest_file(st, "boundary", BAD / case["boundary"], TEST_KEY)
        before = _counts(st)
        options = case.get("options", {})
        if "refused" in case:
            with pytest.raises(RefusedFileError) as info:
                ingest_file(st, case["kind"], path, TEST_KEY, now=NOW, **options)
            assert str(info.value) == case["refused"]
            assert _counts(st) == before
            return
        result = ingest_file(st, case["kind"], path, TEST_KEY, now=NOW, **options)
        expect = case["expect"]
        got = {k: getattr(result, k) for k in ("read", "accepted", "updated", "duplicate", "rejected")}
        assert got == {k: expect[k] for k in got}
        assert result.reasons == expect["reasons"]
        assert result.hints == expect.get("hints", [])
        assert result.recoded == expect.get("recoded", {})
        assert result.flagged == expect.get("flagged", {})
        if "ignored_columns" in expect:
            assert result.ignored_columns == expect["ignored_columns"]
        if "stored" in expect:
            rows = [list(r) for r in st.con.execute(expect["stored"]["sql"]).fetchall()]
            assert rows == expect["stored"]["rows"]
        assert _counts(st)["batches"] == before["batches"] + 1
        assert [c.name for c in run_checks(st.con, cube=False) if c.failures] == []


def test_unknown_date_order_is_a_clear_error(store, key):
    with pytest.raises(InvalidInputError) as info:
        ingest_file(store, "reports", BAD / "slash_dates.csv", key, date_order="european")
    assert str(info.value) == (
        "Unknown date order 'european'; use ymd (ISO 8601, the default), dmy (day first: 03/04/2025 = "
        "3 April) or mdy (month first: 03/04/2025 = March 4).")


def test_the_swap_rule_needs_every_located_row(store, key, tmp_path):
    """One correct row among swapped ones: no refusal, the swapped rows are judged one by one."""
    lines = (BAD / "swapped_latlon.csv").read_text().splitlines()
    lines.append("R9,2025-03-01T22:15:00+11:00,-33.8700,151.2070,police,sighting,E1,CHILD-REF-0001,B2")
    path = tmp_path / "mostly_swapped.csv"
    path.write_text("\n".join(lines) + "\n")
    result = ingest_file(store, "reports", path, key, now=NOW)
    assert (result.accepted, result.reasons) == (1, {"lat_out_of_range": 3})
