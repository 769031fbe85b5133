"""Run ``sql/checks/assert_*.sql``: each returns the rows that break a rule; zero rows = pass."""

from __future__ import annotations

from dataclasses import dataclass

from analytics.errors import StoreError
from pipelines.resources import shipped_dir
from pipelines.sqlrunner import run_sql

CUBE_TABLE = "mart_cell_week_counts"


@dataclass(frozen=True)
class CheckResult:
    name: str
    failures: int
    sample: list


def check_names(cube: bool) -> list[str]:
    """Check files about the cube (cube=True) or about the store's tables (cube=False)."""
    names = []
    for path in sorted((shipped_dir("sql") / "checks").glob("assert_*.sql")):
        if (CUBE_TABLE in path.read_text(encoding="utf-8")) == cube:
            names.append(path.stem)
    return names


def run_checks(con, cube: bool) -> list[CheckResult]:
    """Run the store or cube checks and return one result per check."""
    results = []
    for name in check_names(cube):
        rows = run_sql(con, f"checks/{name}.sql").fetchall()
        results.append(CheckResult(name, len(rows), rows[:5]))
    return results


def require_checks(con, cube: bool) -> list[CheckResult]:
    """Run checks and raise StoreError naming every failing one."""
    results = run_checks(con, cube)
    failed = [r for r in results if r.failures]
    if failed:
        detail = "; ".join(f"{r.name}: {r.failures} row(s), e.g. {r.sample[:2]}" for r in failed)
        raise StoreError(f"Data checks failed: {detail}")
    return results
