"""Default week, honest "no events" / "too few events", and every --res command at a non-default
resolution with a boundary ingested (issue 13, items 4 and 5), through the CLI's ``main`` run in-process
(:func:`in_process`; the installed entry point itself is tested in test_cli_errors)."""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import typer

from analytics.sufficiency import MIN_EVENTS_IN_WINDOW
from analytics.weeks import last_complete_week, week_label
from pipelines import cli, cube as cube_mod, store as store_mod
from pipelines.hotspots_run import default_week
from pipelines.layout import file_path
from tests.conftest import TEST_KEY, run_cli
from tests.pipelines.tiny_store import daily, tiny_store

FAST_TOML = "[hotspots]\nscan_replicates = 19\n"


def in_process(monkeypatch, capsys, folder: Path, *args: str) -> SimpleNamespace:
    """``hotspots ARGS`` in ``folder`` with the test key, as ``test_cli_errors.run`` runs the installed command, but
    in-process (:func:`tests.conftest.run_cli`): the same ``main``, exit code and output, without a new
    interpreter per call. Returns ``returncode``, ``stdout`` and ``stderr`` like a finished process."""
    for name in [k for k in os.environ if k.startswith("HOTSPOTS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("HOTSPOTS_KEY", TEST_KEY.decode())
    monkeypatch.chdir(folder)
    code, out, err = run_cli(monkeypatch, capsys, *args)
    return SimpleNamespace(returncode=code, stdout=out, stderr=err)


@pytest.fixture
def hs(monkeypatch, capsys):
    """:func:`in_process` bound to this test: ``hs(folder, *args)``."""
    return lambda folder, *args: in_process(monkeypatch, capsys, folder, *args)


@pytest.fixture(scope="module")
def enough(tmp_path_factory):
    """Two reports a day, Monday 2025-01-06 to Sunday 2025-07-27 (2025-W02..W30), boundary ingested."""
    folder = tmp_path_factory.mktemp("enough")
    db = tiny_store(folder, daily(date(2025, 1, 6), date(2025, 7, 27)), per_day=2)
    (folder / "fast.toml").write_text(FAST_TOML)
    return folder, db


# ------------------------------------------------------------------------------ default week

@pytest.mark.parametrize("last_day,today,expected", [
    (date(2026, 7, 26), date(2026, 12, 6), "2026-W30"),   # data ends on a Sunday: that week
    (date(2026, 7, 25), date(2026, 12, 6), "2026-W29"),   # ends on a Saturday: the week before
    (date(2026, 7, 21), date(2026, 12, 6), "2026-W29"),   # two days of W31 (the Memphis case)
    (date(2026, 12, 6), date(2026, 12, 6), "2026-W48"),   # today is Sunday: this week has not ended
    (date(2026, 12, 6), date(2026, 12, 7), "2026-W49"),   # ... and it has on Monday
    (date(2021, 1, 3), date(2021, 2, 1), "2020-W53"),     # ISO year end
])
def test_last_complete_week(last_day, today, expected):
    assert week_label(last_complete_week(last_day, today)) == expected


def test_default_week_needs_data_to_the_weeks_sunday(tmp_path):
    db = tiny_store(tmp_path, daily(date(2025, 6, 30), date(2025, 7, 23)), boundary=False)  # W27..Wed W30
    with store_mod.opened(db, read_only=True) as st:
        cube_mod.prepare_events(st)
        assert default_week(st, today=date(2026, 12, 6)) == "2025-W29"
        assert default_week(st, today=date(2025, 7, 14)) == "2025-W28"      # W29 not over on 07-14


def test_no_complete_week_is_an_honest_message_exit_0(tmp_path, hs):
    tiny_store(tmp_path, daily(date(2025, 7, 22), date(2025, 7, 24)), boundary=False)  # Tue..Thu of W30
    proc = hs(tmp_path, "hotspots", "--db", "store.duckdb", "--replicates", "0")
    assert proc.returncode == cli.EXIT_OK, proc.stderr
    assert "No complete ISO week of data yet: the events run to 2025-07-24" in " ".join(proc.stdout.split())


# ------------------------------------------------------------------- no events / too few events

def test_too_few_events_is_said_not_reported(tmp_path, hs):
    tiny_store(tmp_path, daily(date(2025, 7, 21), date(2025, 7, 29)))      # 9 reports, 7 of them in W30
    proc = hs(tmp_path, "weekly", "--db", "store.duckdb", "--out", "out")
    assert proc.returncode == cli.EXIT_OK, proc.stderr
    text = " ".join(proc.stdout.split())
    assert "Too few events to call hot spots: 7 in the study area from 2025-W05 to 2025-W30" in text
    assert "Error" not in proc.stderr and "Traceback" not in proc.stderr
    week_dir = tmp_path / "out" / "2025-W30"
    meta = json.loads(file_path(week_dir, "run.json").read_text())
    assert meta["status"] == "too_few_events" and meta["events_in_window"] == 7
    assert meta["sufficiency_rule"]["min_events_in_window"] == MIN_EVENTS_IN_WINDOW
    assert meta["time_zone"] == "Australia/Sydney"
    assert not (week_dir / "report.html").exists() and not file_path(week_dir, "hotspots.parquet").exists()
    audit = hs(tmp_path, "audit", "--db", "store.duckdb", "--json")
    assert json.loads(audit.stdout)[0]["outcome"].startswith("ok: Too few events")


def test_week_without_events_is_said(enough, tmp_path, hs):
    folder, db = enough
    proc = hs(folder, "hotspots", "--db", str(db), "--week", "2025-W40", "--out", str(tmp_path / "h"),
               "--replicates", "0")
    assert proc.returncode == cli.EXIT_OK, proc.stderr
    assert "No events in 2025-W40" in proc.stdout
    proc = hs(folder, "hotspots", "--db", str(db), "--week", "2025-W40", "--out", str(tmp_path / "h"),
               "--replicates", "0", "--json")
    assert proc.returncode == cli.EXIT_OK and json.loads(proc.stdout)["status"] == "no_events"
    assert json.loads(file_path(tmp_path / "h", "run.json").read_text())["status"] == "no_events"


def test_just_enough_events_runs_without_an_internal_error(tmp_path, hs):
    # 42 events in two weeks: above the rule, and the scan of the week before finds nothing
    # (the case that used to end in "current clusters need a 'cells' column")
    tiny_store(tmp_path, daily(date(2025, 7, 14), date(2025, 7, 27)), per_day=3)
    proc = hs(tmp_path, "hotspots", "--db", "store.duckdb", "--out", "h", "--replicates", "19", "--json")
    assert proc.returncode == cli.EXIT_OK, proc.stderr
    payload = json.loads(proc.stdout)
    assert payload["week"] == "2025-W30" and payload["time_zone"] == "Australia/Sydney"
    assert payload["summary"]["events_in_week"] >= MIN_EVENTS_IN_WINDOW // 2


# -------------------------------------------------------------------- every --res command, res 8

def _commands_with_res() -> set[str]:
    group = typer.main.get_command(cli.app)
    return {name for name, cmd in group.commands.items()
            if any("--res" in getattr(p, "opts", ()) for p in cmd.params)}


RES_ARGS = {
    "cube": ["--out", "c8/cube.parquet"],
    "hotspots": ["--out", "h8", "--replicates", "19"],
    "weekly": ["--out", "w8", "--config", "fast.toml"],
}


def test_the_res_commands_are_all_covered():
    assert _commands_with_res() == set(RES_ARGS) | {"init"}


@pytest.mark.parametrize("command", sorted(RES_ARGS))
def test_command_at_resolution_8_with_a_boundary(enough, command, hs):
    folder, db = enough
    proc = hs(folder, command, "--db", str(db), "--res", "8", *RES_ARGS[command])
    assert proc.returncode == cli.EXIT_OK, proc.stderr
    assert "Traceback" not in proc.stderr
    if command == "cube":
        cells = pd.read_parquet(folder / "c8" / "cube.parquet")["cell"]
        assert "resolution 8" in proc.stdout and {int(c[1], 16) for c in cells} == {8}
        assert "weeks in Australia/Sydney" in " ".join(proc.stdout.split())
    else:
        run_json = file_path(folder / "h8", "run.json") if command == "hotspots" else file_path(folder / "w8" / "2025-W30", "run.json")
        meta = json.loads(run_json.read_text())
        assert meta["parameters"]["resolution"] == 8 and meta["time_zone"] == "Australia/Sydney"
        assert "Monday to Sunday, Australia/Sydney" in " ".join(proc.stdout.split())
    if command == "weekly":  # the zone is stated wherever weeks or hours are shown
        week_dir = folder / "w8" / "2025-W30"
        plan = pd.read_csv(week_dir / "patrol_plan.csv")
        assert len(plan) and set(plan["time_zone"]) == {"Australia/Sydney"}
        assert "weeks and hours in Australia/Sydney" in (week_dir / "report.html").read_text()
        assert "times in Australia/Sydney" in (week_dir / "patrol_map.html").read_text()
        assert "times in Australia/Sydney" in file_path(week_dir, "analyst_map.html").read_text()


def test_init_at_resolution_8_then_boundary_and_cube(tmp_path, hs):
    assert hs(tmp_path, "init", "--db", "s8.duckdb", "--res", "8").returncode == 0
    tiny_store(tmp_path / "other", daily(date(2025, 1, 6), date(2025, 3, 2)))  # writes the input files there
    assert hs(tmp_path, "ingest", "boundary", "other/boundary.geojson", "--db", "s8.duckdb").returncode == 0
    assert hs(tmp_path, "ingest", "reports", "other/reports.csv", "--db", "s8.duckdb").returncode == 0
    proc = hs(tmp_path, "cube", "--db", "s8.duckdb", "--out", "c.parquet")
    assert proc.returncode == 0, proc.stderr
    assert "resolution 8" in proc.stdout
    # the store's settings stand: another --res or --tz is refused with one line naming them
    proc = hs(tmp_path, "init", "--db", "s8.duckdb", "--res", "9", "--tz", "America/New_York")
    assert proc.returncode == cli.EXIT_USER_ERROR
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "already exists with resolution 8 and time zone Australia/Sydney" in lines[0]
    assert "--res 9 and --tz America/New_York cannot change it" in lines[0]
    assert hs(tmp_path, "init", "--db", "s8.duckdb").returncode == 0                # no options: fine
    assert hs(tmp_path, "init", "--db", "s8.duckdb", "--res", "8").returncode == 0  # same value: fine

