"""``hotspots purge``: retention (--before) and erasure (--person-ref) leave nothing in any byte (issue 12 §13)."""

from __future__ import annotations

import json
import os

import pytest

from analytics.errors import InvalidInputError
from pipelines import keys, purge as purge_mod, store as store_mod
from pipelines.checks import run_checks
from tests.pipelines.test_cli import run
from tests.pipelines.test_store_rewrite import OLD, PEOPLE, keyed_store, pseudonyms_in_bytes  # noqa: F401


def _counts(db) -> dict:
    with store_mod.opened(db, read_only=True) as st:
        return {t: st.con.execute(f"select count(*) from {t}").fetchone()[0]
                for t in ("episodes", "episodes_history", "location_reports", "location_reports_history",
                          "quarantine", "batches", "audit")}


def _pk(ref: str) -> bytes:
    return keys.pseudonymise_chain([ref], OLD.encode())[0].encode()


def test_purge_has_help_with_an_example(monkeypatch, capsys):
    code, out, _ = run(monkeypatch, capsys, "purge", "--help")
    assert code == 0 and "Example: hotspots purge" in " ".join(out.split())


def test_purge_person_removes_every_trace_in_every_byte(keyed_store, monkeypatch, capsys):
    db, folder, _ = keyed_store
    person = PEOPLE[0]  # has an episode, its history version and a report
    assert _pk(person) in set().union(*pseudonyms_in_bytes(folder).values())  # control
    before = _counts(db)
    code, stdout, stderr = run(monkeypatch, capsys, "purge", "--db", str(db), "--person-ref", f"  {person} ",
                               "--yes", "--json")
    assert code == 0, stderr
    got = json.loads(stdout)
    assert got["rows"] == {"episodes": 1, "episodes_history": 1, "location_reports": 1,
                           "location_reports_history": 0, "quarantine": 0}
    assert got["person_ref"] == "given" and person not in stdout + stderr
    after = _counts(db)
    assert after["episodes"] == before["episodes"] - 1 and after["location_reports"] == before["location_reports"] - 1
    assert after["batches"] == before["batches"]
    found = set().union(*pseudonyms_in_bytes(folder).values())
    assert _pk(person) not in found and _pk(PEOPLE[1]) in found  # gone from every file; the others stay
    with store_mod.opened(db, read_only=True) as st:
        assert [c.name for c in run_checks(st.con, cube=False) if c.failures] == []
        row = st.con.execute("select command, parameters, row_counts, outcome from audit "
                             "where command = 'purge'").fetchall()
    assert len(row) == 1 and row[0][3] == "ok"
    assert person not in str(row) and _pk(person).decode() not in str(row)   # counts only
    assert json.loads(row[0][2])["episodes"] == 1


def test_purge_person_removes_quarantined_rows_naming_them(keyed_store):
    db, folder, _ = keyed_store
    bad = "CHILD-REF-9999"   # only in a quarantined episode row
    assert _pk(bad) in set().union(*pseudonyms_in_bytes(folder).values())
    result = purge_mod.purge_store(db, None, bad)
    assert result.rows["quarantine"] == 1 and result.total == 1
    assert _pk(bad) not in set().union(*pseudonyms_in_bytes(folder).values())
    with store_mod.opened(db, read_only=True) as st:
        assert [c.name for c in run_checks(st.con, cube=False) if c.failures] == []
        assert st.con.execute("select sum(n_rows) from purged_quarantine").fetchone()[0] == 1


def test_purge_before_a_date_removes_older_records_and_their_quarantine(keyed_store):
    db, folder, _ = keyed_store
    with store_mod.opened(db, read_only=True) as st:
        expected_eps = st.con.execute(
            "select count(*) from episodes where missing_from < timestamptz '2025-03-10 00:00:00+11:00'").fetchone()[0]
        old_people = [r[0] for r in st.con.execute(
            "select person_key from episodes where missing_from < timestamptz '2025-03-10 00:00:00+11:00'").fetchall()]
    assert 0 < expected_eps < len(PEOPLE)
    result = purge_mod.purge_store(db, "2025-03-10", None)   # midnight in the store's zone (Sydney, +11:00)
    assert result.rows["episodes"] == expected_eps
    # both quarantined rows are dated 2025-03-01 (ingested today): removed by their own date
    assert result.rows["quarantine"] == 2
    with store_mod.opened(db, read_only=True) as st:
        assert st.con.execute("select min(missing_from) >= timestamptz '2025-03-10 00:00:00+11:00' "
                              "from episodes").fetchone()[0]
        assert st.con.execute("select min(observed_at) >= timestamptz '2025-03-10 00:00:00+11:00' "
                              "from location_reports").fetchone()[0]
        assert [c.name for c in run_checks(st.con, cube=False) if c.failures] == []
    found = set().union(*pseudonyms_in_bytes(folder).values())
    # a young person whose only records were before the cut-off is gone from every byte
    assert not {p.encode() for p in old_people} & found


def test_dry_run_changes_nothing(keyed_store, monkeypatch, capsys):
    db, _, _ = keyed_store
    before = _counts(db)
    code, stdout, stderr = run(monkeypatch, capsys, "purge", "--db", str(db), "--before", "2025-03-10", "--dry-run",
                               "--json")
    assert code == 0, stderr
    assert json.loads(stdout)["dry_run"] is True and json.loads(stdout)["total"] > 0
    after = _counts(db)
    assert after.pop("audit") == before.pop("audit") + 1   # the dry run is audited (counts only) ...
    assert after == before                                   # ... and nothing else changed


def test_purge_without_yes_off_a_terminal_is_refused_in_one_line(keyed_store, monkeypatch, capsys):
    db, _, _ = keyed_store
    before = _counts(db)
    code, _, stderr = run(monkeypatch, capsys, "purge", "--db", str(db), "--before", "2025-03-10")
    assert code == 1
    assert stderr.startswith("Error: purge would remove ") and "--yes" in stderr
    assert len(stderr.strip().splitlines()) == 1
    assert _counts(db) == before


@pytest.mark.parametrize("args, message", [
    ([], "Say what to purge: --before DATE and/or --person-ref REF"),
    (["--before", "01/07/2019"], "--before must be a date like 2024-07-01; received '01/07/2019'."),
])
def test_purge_usage_errors_are_one_line(keyed_store, args, message, monkeypatch, capsys):
    db, _, _ = keyed_store
    code, _, stderr = run(monkeypatch, capsys, "purge", "--db", str(db), "--yes", *args)
    assert code == 1 and "Traceback" not in stderr
    assert message in " ".join(stderr.split()) and len(stderr.strip().splitlines()) == 1


def test_purge_with_a_wrong_key_changes_nothing(keyed_store, monkeypatch, capsys):
    db, _, _ = keyed_store
    before = _counts(db)
    monkeypatch.setenv("HOTSPOTS_KEY", "e" * 64)
    code, _, stderr = run(monkeypatch, capsys, "purge", "--db", str(db), "--person-ref", PEOPLE[0], "--yes")
    assert code == 1 and stderr.startswith("Error: The pseudonymisation key does not match")
    assert _counts(db)["episodes"] == before["episodes"]


def test_nothing_matched_reports_zero_and_keeps_the_file(keyed_store):
    db, _, _ = keyed_store
    stamp = os.stat(db).st_ino
    result = purge_mod.purge_store(db, "2000-01-01", None)
    assert result.total == 0 and os.stat(db).st_ino == stamp


def test_parse_cutoff_refuses_garbage():
    with pytest.raises(InvalidInputError):
        purge_mod.parse_cutoff("yesterday", "Australia/Sydney")
