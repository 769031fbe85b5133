"""ISO week labels ('YYYY-Www') and their Monday dates."""

from __future__ import annotations

import re
from datetime import date, timedelta

from analytics.errors import InvalidInputError

_WEEK_RE = re.compile(r"^(\d{4})-W(\d{2})$")


def parse_week(label: str) -> date:
    """Monday of ISO week ``label`` ('2025-W07'); clear error when malformed."""
    m = _WEEK_RE.match(str(label).strip().upper())
    if not m:
        raise InvalidInputError(f"Week {label!r} is not an ISO week like 2025-W07.")
    try:
        return date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
    except ValueError as exc:
        raise InvalidInputError(f"Week {label!r} does not exist ({exc}).") from exc


def week_label(monday: date) -> str:
    """ISO week label of a date ('YYYY-Www', ISO year)."""
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}"


def week_range(first: date, last: date) -> list[date]:
    """Mondays from ``first`` to ``last`` inclusive."""
    n = (last - first).days // 7
    return [first + timedelta(weeks=i) for i in range(n + 1)]
