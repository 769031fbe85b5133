"""Exit codes and error lines through the INSTALLED ``hotspots`` entry point (a subprocess).

Usage mistakes give the usage line and one ``Error:`` line (exit 2), user errors one ``Error:``
line (exit 1), an unexpected exception one line naming ``<store>.errors.log`` (exit 70, the
traceback only in that owner-only file). The README's exit-code table is checked against
``pipelines.cli.EXIT_CODES``.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from pipelines import cli
from tests.conftest import TEST_KEY

README = Path(__file__).resolve().parents[2] / "README.md"


def hotspots_bin() -> str:
    """The console script installed beside this interpreter (the venv's ``bin/hotspots``)."""
    found = shutil.which("hotspots", path=str(Path(sys.executable).parent))
    assert found, f"the hotspots entry point is not installed beside {sys.executable} (run make install)"
    return found


def run(tmp_path: Path, *args: str, extra_path: Path | None = None, umask: int = 0o022):
    """Run the installed ``hotspots ARGS`` in ``tmp_path`` with the test key; return the process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTSPOTS_")}
    env.update(HOTSPOTS_KEY=TEST_KEY.decode(), COLUMNS="200")
    if extra_path is not None:
        env["PYTHONPATH"] = str(extra_path)
    return subprocess.run([hotspots_bin(), *args], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300, umask=umask)


def command_names() -> list[str]:
    """Every command of the app, read from the app itself (a new command is covered unasked)."""
    return sorted(typer.main.get_command(cli.app).commands)


# ------------------------------------------------------------------------------- usage errors

MISTAKES = [
    (["weekly", "--bogus"], "No such option: --bogus", "Usage: hotspots weekly"),
    (["weeklyy"], "No such command 'weeklyy'. Did you mean 'weekly'?", "Usage: hotspots "),
    (["ingest"], "Missing argument", "Usage: hotspots ingest"),
    (["ingest", "reports"], "Missing argument", "Usage: hotspots ingest"),
    (["cube", "--res", "abc"], "'--res'", "Usage: hotspots cube"),
    (["hotspots", "--weeks-back"], "requires an argument", "Usage: hotspots hotspots"),
]


@pytest.mark.parametrize("args,message,usage", MISTAKES, ids=[" ".join(m[0]) for m in MISTAKES])
def test_usage_mistake_is_usage_line_and_one_error_line_exit_2(tmp_path, args, message, usage):
    proc = run(tmp_path, *args)
    assert proc.returncode == cli.EXIT_USAGE, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert "Traceback" not in proc.stderr and "click" not in proc.stderr.lower()
    assert len(lines) == 2, lines
    assert lines[0].startswith(usage)
    assert lines[1].startswith("Error: ") and message in lines[1]
    assert proc.stdout == ""


@pytest.mark.parametrize("command", command_names())
def test_every_command_help_through_the_entry_point(tmp_path, command):
    proc = run(tmp_path, command, "--help")
    assert proc.returncode == cli.EXIT_OK, proc.stderr
    assert f"Example: hotspots {command}" in " ".join(proc.stdout.split())
    assert proc.stderr == ""


def test_bare_command_shows_help_exit_0(tmp_path):
    proc = run(tmp_path)
    assert proc.returncode == cli.EXIT_OK
    assert "Usage: hotspots" in proc.stdout and "Error" not in proc.stderr


# ------------------------------------------------------------------------------- user errors

def test_user_error_is_one_line_exit_1(tmp_path):
    proc = run(tmp_path, "cube", "--db", "missing.duckdb")
    assert proc.returncode == cli.EXIT_USER_ERROR
    assert proc.stderr.strip().splitlines() == [
        "Error: No store at missing.duckdb; create one with: hotspots init --db missing.duckdb"]


def test_bad_week_value_is_a_user_error(tmp_path):
    assert run(tmp_path, "init", "--db", "s.duckdb").returncode == 0
    proc = run(tmp_path, "weekly", "--db", "s.duckdb", "--week", "2026-W99")
    assert proc.returncode == cli.EXIT_USER_ERROR
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: Week '2026-W99' does not exist")


# ---------------------------------------------------------------------------- internal errors

FORCED = "forced failure for the exit-code test"


def _hook(tmp_path: Path) -> Path:
    """A ``sitecustomize`` that makes the cube builder raise, loaded by the real entry point."""
    folder = tmp_path / "hook"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(
        "import pipelines.cube as cube\n"
        "def _boom(*args, **kwargs):\n"
        f"    raise RuntimeError({FORCED!r})\n"
        "cube.build_cube = _boom\n")
    return folder


def _assert_one_internal_line(proc, log: Path, cwd: Path) -> None:
    assert proc.returncode == cli.EXIT_INTERNAL, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("Error: internal error (RuntimeError") and str(log) in lines[0]
    assert "Traceback" not in proc.stderr + proc.stdout
    assert stat.S_IMODE(os.stat(cwd / log).st_mode) == 0o600
    text = (cwd / log).read_text()
    assert "Traceback (most recent call last)" in text and FORCED in text


def test_internal_error_is_one_line_and_a_private_log_beside_the_store(tmp_path):
    assert run(tmp_path, "init", "--db", "s.duckdb").returncode == 0
    hook = _hook(tmp_path)
    # umask 0: the log is owner-only because the code makes it so, not because of the umask
    proc = run(tmp_path, "cube", "--db", "s.duckdb", "--out", "out/cube.parquet", extra_path=hook, umask=0)
    log = Path("s.duckdb.errors.log")
    _assert_one_internal_line(proc, log, tmp_path)
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("*.log"))
    # a second failure appends to the same log
    run(tmp_path, "cube", "--db", "s.duckdb", extra_path=hook)
    assert (tmp_path / log).read_text().count("Traceback (most recent call last)") == 2


def test_internal_error_log_is_never_under_out(tmp_path):
    out = tmp_path / "shared"
    out.mkdir()
    assert run(tmp_path, "init", "--db", "shared/s.duckdb").returncode == 0
    proc = run(tmp_path, "cube", "--db", "shared/s.duckdb", "--out", "shared", extra_path=_hook(tmp_path))
    _assert_one_internal_line(proc, Path("hotspots.errors.log"), tmp_path)
    assert not list(out.glob("*.errors.log"))


def test_error_log_location_follows_db_env_and_default(tmp_path, monkeypatch):
    from pipelines.cli_errors import error_log_candidates
    monkeypatch.delenv("HOTSPOTS_DB", raising=False)
    assert error_log_candidates(["cube"])[0] == Path("hotspots.duckdb.errors.log")
    assert error_log_candidates(["cube", "--db=x/y.duckdb"])[0] == Path("x/y.duckdb.errors.log")
    monkeypatch.setenv("HOTSPOTS_DB", str(tmp_path / "env.duckdb"))
    assert error_log_candidates(["weekly"])[0] == tmp_path / "env.duckdb.errors.log"
    assert error_log_candidates(["demo", "--dir", "d"])[0] == Path("d/hotspots.duckdb.errors.log")


# ------------------------------------------------------------------------------- the table

def test_readme_exit_code_table_matches_the_code():
    text = README.read_text(encoding="utf-8")
    rows = re.findall(r"^\| (\d+) \| ([^|]+)\|", text, flags=re.M)
    documented = {int(code) for code, _ in rows}
    assert documented == set(cli.EXIT_CODES)
    assert cli.EXIT_CODES[cli.EXIT_USAGE].startswith("usage error")
