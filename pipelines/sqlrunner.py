"""Run the named SQL files in ``sql/``: one statement per file, declared parameters.

Each file starts with a header comment; a line ``-- params: a, b`` declares the
``$a``/``$b`` parameters it uses. DuckDB refuses parameters a statement does not use
and allows them only in the last statement of a string, so the runner checks that
the declared and used parameters agree and passes exactly those.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Mapping

from analytics.errors import StoreError
from pipelines.resources import sql_path

_PARAM_RE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_DECL_RE = re.compile(r"^--\s*params:\s*(.*)$", re.MULTILINE)
_COMMENT_RE = re.compile(r"--[^\n]*")
_STRING_RE = re.compile(r"'(?:[^']|'')*'")


class SqlFile:
    """A parsed SQL file: its text, and the parameters it declares and uses."""

    def __init__(self, relative: str, text: str):
        self.relative = relative
        self.text = text
        decl = _DECL_RE.search(text)
        self.declared = frozenset(
            p.strip() for p in (decl.group(1).split(",") if decl else []) if p.strip()
        )
        body = _STRING_RE.sub("''", _COMMENT_RE.sub("", text))
        self.used = frozenset(_PARAM_RE.findall(body))
        if self.declared != self.used:
            raise StoreError(
                f"SQL file {relative}: declared params {sorted(self.declared)} "
                f"but uses {sorted(self.used)}."
            )
        statements = [s for s in body.split(";") if s.strip()]
        if len(statements) != 1:
            raise StoreError(f"SQL file {relative} must hold exactly one statement; found {len(statements)}.")


@lru_cache(maxsize=None)
def load_sql(relative: str) -> SqlFile:
    """Read and check a shipped SQL file (cached)."""
    return SqlFile(relative, sql_path(relative).read_text(encoding="utf-8"))


def run_sql(con, relative: str, params: Mapping[str, Any] | None = None):
    """Execute one SQL file on ``con`` with exactly its declared parameters.

    Returns the DuckDB connection (call ``.fetchall()`` etc. on it for queries).
    """
    sql = load_sql(relative)
    params = dict(params or {})
    missing = sql.declared - params.keys()
    if missing:
        raise StoreError(f"SQL file {relative} needs parameters {sorted(missing)}.")
    bound = {k: params[k] for k in sql.declared}
    try:
        return con.execute(sql.text, bound) if bound else con.execute(sql.text)
    except Exception as exc:  # duckdb errors carry no file context
        raise StoreError(f"SQL file {relative} failed: {str(exc).splitlines()[0]}") from exc
