"""The Typer app of the ``hotspots`` command line and what its commands share: the consoles,
``--db``, opening the store to read, progress bars, tables of data and the ingest table.

The commands register on :data:`app` in the ``cmd_*`` modules; :mod:`pipelines.cli` imports
them in the order ``hotspots --help`` lists them and turns errors into exit codes.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from analytics import __version__

app = typer.Typer(
    name="hotspots",
    help="Weekly hotspot intelligence from missing-from-care episodes and location reports.\n\n"
         "Example: hotspots demo",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)

DbOption = typer.Option(None, "--db", help="Store path (default $HOTSPOTS_DB or ./hotspots.duckdb).")


@contextmanager
def _reader(db: Optional[Path]):
    """Open the store read-only (or its snapshot while an ingest runs, saying so on stderr)."""
    from pipelines import store
    with store.opened(db, read_only=True) as st:
        if st.notice:
            err.print(f"Note: {st.notice}", markup=False, highlight=False, soft_wrap=True)
        yield st


def _print_notes_and_outputs(notes, outputs: dict, width: int) -> None:
    """A command's automatic choices ("note: ...") and its output files, one per line."""
    for note in notes:
        out.print(f"  note: {note}", markup=False)
    for name, path in outputs.items():
        out.print(f"  {name:{width}s} {path}", markup=False)


def _formats(fmt: Optional[str]) -> tuple[str, ...]:
    from pipelines.hotspots_run import parse_formats
    return parse_formats(fmt)


def _check_rules(rules: Optional[str]) -> None:
    """``--rules`` is a rule set name (one line naming the choices otherwise)."""
    from analytics.engine import RULE_SETS
    if rules is not None and rules not in RULE_SETS:
        from analytics.errors import InvalidInputError
        raise InvalidInputError(f"--rules {rules!r} is not a rule set; use {' or '.join(RULE_SETS)}.")


def _check_bin_weeks(bin_weeks: Optional[str]) -> Optional[int | str]:
    """``--bin-weeks`` as "auto" or 1, 2, 4 (one line naming the choices otherwise)."""
    if bin_weeks is None:
        return None
    from analytics.bins import check_bin_weeks
    from analytics.errors import InvalidInputError
    try:
        return check_bin_weeks(bin_weeks)
    except InvalidInputError as exc:
        raise InvalidInputError(f"--bin-weeks: {exc}.") from None


def _progress() -> Progress:
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                    TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                    console=err, transient=True, disable=not err.is_terminal)

def _table(title: str, columns: tuple[str, ...], numeric: tuple[str, ...] = ()) -> Table:
    """A table that fits the console (80 columns in a pipe): headers are never cut (each column is at
    least as wide as its header) and long values fold onto more lines instead of ending in "…"."""
    table = Table(title=title)
    for col in columns:
        table.add_column(col, justify="right" if col in numeric else "left", min_width=len(col),
                         overflow="fold", no_wrap=col in numeric)
    return table


_COUNTS = ("read", "accepted", "updated", "duplicate", "rejected")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _cell(value) -> Text:
    """A table cell from data (file names, ids, quarantine details): shown as written, never read as
    Rich markup ("[bold]"), and without control characters (terminal escape sequences)."""
    return Text(_CONTROL.sub("\N{REPLACEMENT CHARACTER}", "" if value is None else str(value)))


def _batch_table(results) -> Table:
    """Ingest figures per file; the top reasons follow the table (:func:`_print_batches`)."""
    table = _table("Ingest", ("file", "batch", *_COUNTS), numeric=_COUNTS)
    for r in results:
        table.add_row(_cell(r.file), r.batch_id or "-", str(r.read), str(r.accepted), str(r.updated),
                      str(r.duplicate), str(r.rejected))
    return table


def _print_batches(results) -> None:
    """The ingest table, then each file's top rejection reasons on their own line."""
    out.print(_batch_table(results))
    for r in results:
        if r.reasons:
            reasons = ", ".join(f"{k} ({v})" for k, v in list(r.reasons.items())[:3])
            out.print(f"  top reasons ({r.file}): {reasons}", markup=False, highlight=False)


@app.callback(invoke_without_command=True)
def _root(version: bool = typer.Option(False, "--version", help="Show the version and exit.")) -> None:
    if version:
        out.print(f"safeguard-hotspots {__version__}")
        raise typer.Exit()
