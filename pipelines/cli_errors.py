"""How the command line reports what went wrong: usage mistakes and internal errors.

``pipelines.cli.main`` is the only caller. Usage mistakes (unknown command or option, a
missing or malformed argument) print the usage line and one ``Error:`` line. Anything
unexpected prints one line naming ``<store>.errors.log`` (owner-only, mode 0600), which
holds the traceback; the terminal never shows one.
"""

from __future__ import annotations

import os
import sys
import tempfile
import traceback
from datetime import datetime, timezone
from pathlib import Path

import typer

from analytics import __version__

ERROR_LOG_SUFFIX = ".errors.log"


def click_exception_types() -> tuple[type, type]:
    """(ClickException, Abort) of the click that typer runs on.

    typer >= 0.25 bundles its own click (``typer._click``) and the real ``click`` may not be
    installed; older typer uses ``click``. ``typer.BadParameter`` derives from the right
    ``ClickException`` either way, so it is found there rather than imported by name.
    """
    by_name = {cls.__name__: cls for cls in typer.BadParameter.__mro__}
    return by_name["ClickException"], typer.Abort


def _context_for(app: typer.Typer, args: list[str]):
    """A click context for the command named first in ``args`` (or the app): its usage line,
    for the errors click raises before it has made one (an option missing its value)."""
    group = typer.main.get_command(app)
    ctx = group.context_class(group, info_name="hotspots")
    command = group.commands.get(args[0]) if args and hasattr(group, "commands") else None
    return command.context_class(command, info_name=args[0], parent=ctx) if command else ctx


def usage_outcome(exc: Exception, app: typer.Typer | None = None, args: list[str] | None = None) -> tuple[str, int]:
    """(text for stderr, exit code) of a click exception.

    A usage mistake gives the usage line and one ``Error:`` line naming where help is, exit 2.
    ``hotspots`` alone shows the help (already printed by typer) and exits 0.
    """
    if type(exc).__name__ == "NoArgsIsHelpError":
        text = exc.format_message() if hasattr(exc, "format_message") else ""
        return text.rstrip(), 0
    ctx = getattr(exc, "ctx", None)
    if ctx is None and app is not None:
        try:
            ctx = _context_for(app, args or [])
        except Exception:  # noqa: BLE001 - the usage line is a courtesy; the Error line still prints
            ctx = None
    message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    message = " ".join(str(message).split())
    code = int(getattr(exc, "exit_code", 2) or 2)
    if ctx is None:
        return f"Error: {message}", code
    return f"{ctx.get_usage()}\nError: {message} (help: {ctx.command_path} --help)", code


def _option_values(args: list[str], name: str) -> list[str]:
    values = []
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            values.append(args[i + 1])
        elif arg.startswith(name + "="):
            values.append(arg[len(name) + 1:])
    return values


def _store_path(args: list[str]) -> Path:
    from pipelines.store import DEFAULT_DB, resolve_db_path
    db = _option_values(args, "--db")
    if db:
        return Path(db[-1])
    if args and args[0] == "demo":  # the demo's store lives in its folder
        folder = _option_values(args, "--dir")
        return Path(folder[-1] if folder else "demo") / DEFAULT_DB
    return resolve_db_path(None)


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except (ValueError, OSError):
        return False
    return True


def error_log_candidates(args: list[str]) -> list[Path]:
    """Where the traceback may go, best first: ``<store>.errors.log`` beside the store (the store
    path from --db, $HOTSPOTS_DB or the default), else ./hotspots.errors.log, else the temp
    folder; never a place under an ``--out`` folder (outputs are shared)."""
    store = _store_path(args)
    candidates = [store.with_name(store.name + ERROR_LOG_SUFFIX), Path("hotspots" + ERROR_LOG_SUFFIX),
                  Path(tempfile.gettempdir()) / f"hotspots-{os.getuid()}{ERROR_LOG_SUFFIX}"]
    outs = [Path(v) for v in _option_values(args, "--out")]
    return [c for c in candidates if not any(_inside(c, o) for o in outs)]


def write_private(path: Path, text: str) -> None:
    """Append ``text`` to ``path``, created owner-only (0600) whatever the umask."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode("utf-8", "replace"))
    finally:
        os.close(fd)


def report_internal_error(args: list[str]) -> str:
    """Write the current exception's traceback to the error log; return the one line to print."""
    exc = sys.exc_info()[1]
    kind = type(exc).__name__ if exc is not None else "error"
    first = (str(exc).strip().splitlines() or [""])[0][:200] if exc is not None else ""
    what = f"{kind}: {first}" if first else kind
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    entry = (f"=== {stamp} safeguard-hotspots {__version__}, Python {sys.version.split()[0]}\n"
             f"command: hotspots {' '.join(args)}\n{traceback.format_exc()}\n")
    problems = []
    for path in error_log_candidates(args):
        try:
            write_private(path, entry)
        except OSError as write_exc:
            problems.append(f"{path}: {write_exc.strerror or write_exc}")
            continue
        return (f"Error: internal error ({what}); this is a fault in safeguard-hotspots, not in your data. "
                f"The traceback is in {path} (owner-only); please send it to the maintainers.")
    return (f"Error: internal error ({what}); the traceback could not be written "
            f"({'; '.join(problems) or 'every log location is under --out'}).")
