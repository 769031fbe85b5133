"""The CLI and ingest packages after their split by job (issue 17, item 1): the commands register in
the order the README lists them, and the multi-file ingest the CLI runs through reports each file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer.main

from analytics.errors import RefusedFileError
from pipelines import cli
from pipelines.ingest import ingest_files
from tests.conftest import REPORT_HEADER, report, write_csv

README = Path(__file__).resolve().parents[2] / "README.md"


def _readme_commands() -> list[str]:
    """The commands of the README's "Commands" table, in its order."""
    section = README.read_text(encoding="utf-8").split("\n## Commands", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `hotspots (\w+)", section, flags=re.MULTILINE)


def test_help_lists_the_commands_in_the_readme_order():
    # pipelines.cli imports its cmd_* modules in this order: a reordered import would reorder --help
    listed = list(typer.main.get_command(cli.app).list_commands(None))
    documented = _readme_commands()
    assert len(documented) >= 10 and sorted(documented) == sorted(listed)
    assert listed == documented


def test_ingest_files_reports_each_file_started_committed_and_refused(store, key, tmp_path):
    a = write_csv(tmp_path / "a.csv", REPORT_HEADER, [report()])
    b = write_csv(tmp_path / "b.csv", REPORT_HEADER + ["email"], [list(report().values()) + ["x@y.z"]])
    c = write_csv(tmp_path / "c.csv", REPORT_HEADER, [report(report_id="R3")])
    started, committed = [], []
    with pytest.raises(RefusedFileError) as info:
        ingest_files(store, "reports", [a, b, c], key, on_start=started.append,
                     on_file=lambda r: committed.append(r.file))
    assert started == [a, b] and committed == ["a.csv"]
    error = info.value
    assert error.failed_path == b and isinstance(error.file_error, RefusedFileError)
    assert str(error.file_error).startswith("b.csv: refused") and "Committed before it" not in str(error.file_error)
    assert error.__cause__ is error.file_error and error.not_read == [c]


def test_a_single_refused_file_is_its_own_error(store, key, tmp_path):
    b = write_csv(tmp_path / "b.csv", REPORT_HEADER + ["email"], [list(report().values()) + ["x@y.z"]])
    with pytest.raises(RefusedFileError) as info:
        ingest_files(store, "reports", [b], key)
    assert info.value.file_error is info.value and info.value.failed_path == b
    assert info.value.committed == [] and info.value.not_read == []
