"""The audit log: every command run against a store, who ran it, on what, with what outcome.

Rows are appended on a short write connection after the command's own work is done,
so read-only commands are audited too. The pseudonymisation key is never a parameter
and never recorded.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from analytics.errors import HotspotError, NotEnoughData
from pipelines import store as store_mod

_SECRET_WORDS = ("key", "secret", "password", "token")


@dataclass
class AuditEntry:
    """What one command did; filled in by the command while it runs."""

    command: str
    parameters: dict
    inputs: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    row_counts: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)   # e.g. "committed; snapshot not refreshed (...)"

    def add_input(self, path: Path) -> None:
        self.inputs[str(path)] = _sha256(path)

    def add_outputs(self, paths) -> None:
        for path in paths:
            p = Path(path)
            if p.is_file():
                self.outputs[str(p)] = _sha256(p)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return "unreadable"
    return digest.hexdigest()


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def _clean(parameters: dict) -> dict:
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in parameters.items()
            if not any(word in k.lower() for word in _SECRET_WORDS)}


def append(db_path: Path, entry: AuditEntry, outcome: str) -> bool:
    """Append one audit row; False (and no exception) when the store cannot be written now."""
    if not Path(db_path).exists():
        return False
    try:
        st = store_mod.open_store(db_path)
    except HotspotError:
        return False
    try:
        st.con.execute(
            "insert into audit values ($at, $user, $cmd, $params, $inputs, $outputs, $rows, $outcome)",
            {"at": datetime.now(timezone.utc), "user": _os_user(), "cmd": entry.command,
             "params": json.dumps(_clean(entry.parameters), sort_keys=True, default=str),
             "inputs": json.dumps(entry.inputs, sort_keys=True), "outputs": json.dumps(entry.outputs, sort_keys=True),
             "rows": json.dumps(entry.row_counts, sort_keys=True, default=str), "outcome": outcome[:500]})
    finally:
        st.close()
    return True


@contextmanager
def audited(db_path: Path, command: str, parameters: dict) -> Iterator[AuditEntry]:
    """Record the command in the store's audit table whether it succeeds or fails."""
    entry = AuditEntry(command, parameters)
    try:
        yield entry
    except NotEnoughData as exc:  # an honest outcome ("too few events"), not a failure
        append(db_path, entry, f"ok: {exc}")
        raise
    except HotspotError as exc:
        append(db_path, entry, f"error: {exc}")
        raise
    except BaseException as exc:
        if store_mod.is_corruption(exc):  # a damaged store file: one line, never a traceback
            error = store_mod.not_a_store_error(db_path, str(exc))
            append(db_path, entry, f"error: {error}")
            raise error from exc
        append(db_path, entry, f"error: {type(exc).__name__}")
        raise
    append(db_path, entry, "; ".join(["ok", *(f"warning: {w}" for w in entry.warnings)]))


def entries(con, limit: int = 50) -> list[tuple]:
    """Newest audit rows first."""
    return con.execute(
        "select run_at, os_user, command, parameters, outcome, row_counts from audit "
        "order by run_at desc limit $n", {"n": limit}).fetchall()
