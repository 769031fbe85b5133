"""CLI contract: exit codes, one-line errors (asserted text), help with examples, --json shape."""

from __future__ import annotations

import json
import os
import stat

import pytest
import typer.main

from pipelines import cli
from tests.conftest import REPORT_HEADER, report, write_csv
from tests.conftest import run_cli as run




#: Every command of the Typer app (derived, so a new command is checked without editing this file).
COMMANDS = sorted(typer.main.get_command(cli.app).commands)


def test_the_command_list_is_the_apps():
    # the design card's commands are all there (a derived list that came back empty would check nothing)
    assert {"init", "synth", "ingest", "quarantine", "demo", "hotspots", "weekly", "evaluate", "backtest",
            "audit"} <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(monkeypatch, capsys, command):
    code, out, _ = run(monkeypatch, capsys, command, "--help")
    assert code == 0
    assert "Example: hotspots " + command in " ".join(out.split())


def test_init_creates_store_and_private_key_file(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("HOTSPOTS_KEY", raising=False)
    monkeypatch.delenv("HOTSPOTS_KEY_FILE", raising=False)
    db = tmp_path / "s.duckdb"
    code, out, err = run(monkeypatch, capsys, "init", "--db", str(db))
    assert code == 0, err
    assert "ready (schema version" in out
    key_file = tmp_path / "s.duckdb.key"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert key_file.read_text().strip() not in out  # the key itself is never printed


def test_db_from_environment(monkeypatch, capsys, tmp_path, key_env):
    db = tmp_path / "env.duckdb"
    monkeypatch.setenv("HOTSPOTS_DB", str(db))
    assert run(monkeypatch, capsys, "init")[0] == 0
    assert db.exists()


def test_ingest_json_shape_and_accounting(monkeypatch, capsys, tmp_path, key_env):
    db = tmp_path / "s.duckdb"
    run(monkeypatch, capsys, "init", "--db", str(db))
    path = write_csv(tmp_path / "r.csv", REPORT_HEADER, [report(), report(report_id="R2", lat="0", lon="0")])
    code, out, err = run(monkeypatch, capsys, "ingest", "reports", str(path), "--db", str(db), "--json")
    assert code == 0, err
    payload = json.loads(out)
    assert payload == [{"file": "r.csv", "batch_id": "B000001", "read": 2, "accepted": 1, "updated": 0,
                        "duplicate": 0, "rejected": 1, "reasons": {"null_island": 1}, "recoded": {}, "flagged": {},
                        "warnings": [], "hints": [],
                        "status": "committed"}]


def test_quarantine_lists_rejected_rows(monkeypatch, capsys, tmp_path, key_env):
    db = tmp_path / "s.duckdb"
    run(monkeypatch, capsys, "init", "--db", str(db))
    path = write_csv(tmp_path / "r.csv", REPORT_HEADER, [report(), report(report_id="R2", lat="0", lon="0")])
    run(monkeypatch, capsys, "ingest", "reports", str(path), "--db", str(db))
    code, out, _ = run(monkeypatch, capsys, "quarantine", "--db", str(db), "--reason", "null_island", "--json")
    assert code == 0
    assert [(r["record_id"], r["reason"], r["row_number"]) for r in json.loads(out)] == [("R2", "null_island", 2)]


def test_refused_file_is_one_line_exit_1(monkeypatch, capsys, tmp_path, key_env):
    db = tmp_path / "s.duckdb"
    run(monkeypatch, capsys, "init", "--db", str(db))
    path = write_csv(tmp_path / "people.csv", REPORT_HEADER + ["email"], [list(report().values()) + ["a@b.c"]])
    code, out, err = run(monkeypatch, capsys, "ingest", "reports", str(path), "--db", str(db))
    assert code == 1
    assert err.strip() == (
        "Error: people.csv: refused, it has identifying columns email; remove them, or re-run with "
        "--drop-identifying-columns to drop them before anything is stored.")
    assert "Traceback" not in err + out


def test_user_mistakes_exit_1_with_clear_text(monkeypatch, capsys, tmp_path, key_env):
    code, _, err = run(monkeypatch, capsys, "ingest", "reports", "x.csv", "--db", str(tmp_path / "none.duckdb"))
    assert (code, err.strip()) == (1, f"Error: No store at {tmp_path / 'none.duckdb'}; create one with: "
                                      f"hotspots init --db {tmp_path / 'none.duckdb'}")
    code, _, err = run(monkeypatch, capsys, "ingest", "sightings", "x.csv")
    assert (code, err.strip()) == (1, "Error: Unknown input kind 'sightings'; use one of: episodes, reports, "
                                      "places, disruptions, boundary, placements, areas.")
    code, _, err = run(monkeypatch, capsys, "init", "--db", str(tmp_path / "a.duckdb"), "--tz", "Mars/Olympus")
    assert (code, err.strip()) == (1, "Error: Unknown time zone 'Mars/Olympus'; use an IANA name like Australia/Sydney.")
    code, _, err = run(monkeypatch, capsys, "hotspots", "--db", str(tmp_path / "a.duckdb"), "--share-basis", "bh")
    assert code == 1 and "share_basis must be one of uncorrected, fdr; received 'bh'" in err


def test_wrong_key_is_refused_before_ingest(monkeypatch, capsys, tmp_path, key_env):
    db = tmp_path / "s.duckdb"
    run(monkeypatch, capsys, "init", "--db", str(db))
    monkeypatch.setenv("HOTSPOTS_KEY", "another-key-" + "x" * 40)
    path = write_csv(tmp_path / "r.csv", REPORT_HEADER, [report()])
    code, _, err = run(monkeypatch, capsys, "ingest", "reports", str(path), "--db", str(db))
    assert code == 1
    assert "does not match the one store" in err


def test_missing_key_is_a_clear_error(monkeypatch, capsys, tmp_path, key_env):
    db = tmp_path / "s.duckdb"
    run(monkeypatch, capsys, "init", "--db", str(db))
    monkeypatch.delenv("HOTSPOTS_KEY")
    monkeypatch.delenv("HOTSPOTS_KEY_FILE", raising=False)
    path = write_csv(tmp_path / "r.csv", REPORT_HEADER, [report()])
    code, _, err = run(monkeypatch, capsys, "ingest", "reports", str(path), "--db", str(db))
    assert code == 1
    assert err.strip().startswith("Error: No pseudonymisation key: set HOTSPOTS_KEY or create the key file")


def test_every_command_is_audited_with_its_outcome(monkeypatch, capsys, tmp_path, key_env):
    db = tmp_path / "s.duckdb"
    run(monkeypatch, capsys, "init", "--db", str(db))
    good = write_csv(tmp_path / "r.csv", REPORT_HEADER, [report()])
    bad = write_csv(tmp_path / "bad.csv", ["report_id"], [["R1"]])
    run(monkeypatch, capsys, "ingest", "reports", str(good), "--db", str(db))
    assert run(monkeypatch, capsys, "ingest", "reports", str(bad), "--db", str(db))[0] == 1
    run(monkeypatch, capsys, "quarantine", "--db", str(db))
    code, out, _ = run(monkeypatch, capsys, "audit", "--db", str(db), "--json")
    assert code == 0
    rows = json.loads(out)
    assert [r["command"] for r in rows] == ["quarantine", "ingest", "ingest", "init"]
    assert rows[1]["outcome"].startswith("error: bad.csv: missing required column(s)")
    assert rows[2]["outcome"] == "ok" and json.loads(rows[2]["row_counts"])["r.csv"]["accepted"] == 1
    assert os.environ["HOTSPOTS_KEY"] not in out  # the key is never logged


def test_quarantine_table_shows_data_as_written_never_as_markup_or_escapes(monkeypatch, capsys, tmp_path, key_env):
    db = tmp_path / "s.duckdb"
    run(monkeypatch, capsys, "init", "--db", str(db))
    path = write_csv(tmp_path / "r.csv", REPORT_HEADER, [
        report(report_id="[bold]R2[/bold]", lat="0", lon="0"), report(report_id="R\x1b[31m3", lat="0", lon="0")])
    run(monkeypatch, capsys, "ingest", "reports", str(path), "--db", str(db))
    monkeypatch.setenv("COLUMNS", "200")
    code, out, _ = run(monkeypatch, capsys, "quarantine", "--db", str(db))
    assert code == 0
    assert "[bold]R2[/bold]" in out      # Rich markup in data is shown, not applied
    assert "\x1b" not in out             # no terminal escape sequence from data reaches the terminal
