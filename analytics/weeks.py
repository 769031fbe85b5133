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


def last_complete_week(last_event_day: date, today: date) -> date:
    """Monday of the last *complete* ISO week (callers check that the data starts by then).

    Complete means both: the week ended before ``today`` (its Sunday < today) and the data
    reaches its Sunday (``last_event_day`` >= Sunday), so a week the data only partly covers
    (an export cut on a Wednesday) is never the default. Both dates are local dates in the
    store's time zone.

    Examples
    --------
    >>> last_complete_week(date(2026, 6, 28), date(2026, 7, 1))   # data to Sunday of W26
    datetime.date(2026, 6, 22)
    >>> last_complete_week(date(2026, 7, 1), date(2026, 7, 20))   # data stops on Wednesday of W27
    datetime.date(2026, 6, 22)
    >>> last_complete_week(date(2026, 7, 5), date(2026, 7, 5))    # W27 has not ended yet today
    datetime.date(2026, 6, 22)
    """
    last_day = min(last_event_day, today - timedelta(days=1))
    monday = last_day - timedelta(days=last_day.weekday())
    return monday if last_day.weekday() == 6 else monday - timedelta(weeks=1)
