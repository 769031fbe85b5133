"""When there is too little data to call hot spots: the stated rule and its message.

A week with no events, or an analysed window with fewer than :data:`MIN_EVENTS_IN_WINDOW`
events in the study area, gives an honest message instead of a confident report: with a
handful of events every cell that holds two of them looks "hot" against an expected count
near zero, and the emerging categories need enough weeks with events to say anything.
The rule and the counts are recorded in run.json.
"""

from __future__ import annotations

#: Fewest events of the analysed measure, in the study area over the analysed window, to call hot spots.
MIN_EVENTS_IN_WINDOW = 30
#: Fewest events in the analysed week itself.
MIN_EVENTS_IN_WEEK = 1


def sufficiency_rule() -> dict:
    """The rule as recorded in run.json."""
    return {"min_events_in_window": MIN_EVENTS_IN_WINDOW, "min_events_in_week": MIN_EVENTS_IN_WEEK,
            "counted": "events of the analysed measure inside the study area"}


def insufficiency(week: str, events_in_week: int, events_in_window: int, first_week: str,
                  measure: str = "reports") -> tuple[str, str] | None:
    """(status, message) when there is too little to call hot spots for ``week``; None otherwise.

    Examples
    --------
    >>> insufficiency("2026-W27", 0, 120, "2026-W02")[1]
    'No events in 2026-W27 (reports in the study area): no hot spots called for that week.'
    >>> insufficiency("2026-W27", 3, 9, "2026-W02")[0]
    'too_few_events'
    >>> insufficiency("2026-W27", 5, 300, "2026-W02") is None
    True
    """
    if events_in_week < MIN_EVENTS_IN_WEEK:
        return "no_events", (f"No events in {week} ({measure} in the study area): no hot spots called "
                             f"for that week.")
    if events_in_window < MIN_EVENTS_IN_WINDOW:
        return "too_few_events", (
            f"Too few events to call hot spots: {events_in_window} in the study area from {first_week} to "
            f"{week} ({measure}); at least {MIN_EVENTS_IN_WINDOW} are needed. No outputs made; ingest more "
            f"weeks or widen --weeks-back.")
    return None
