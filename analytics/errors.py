"""Error classes shared by the whole product.

Every error a user can cause is a ``HotspotError``; the CLI turns it into one line
and exit code 1. Errors also inherit the matching built-in so callers can catch
either (as h3-py does with ``H3ValueError``).
"""

from __future__ import annotations


class HotspotError(Exception):
    """Base class: a problem the user can understand and fix."""


class InvalidInputError(HotspotError, ValueError):
    """Input data or a parameter is not what the contract allows."""


class RefusedFileError(InvalidInputError):
    """A whole input file is refused (unreadable, missing columns, identifying columns)."""


class StoreError(HotspotError, RuntimeError):
    """The store cannot be opened, migrated or written."""


class KeyFileError(HotspotError, RuntimeError):
    """The pseudonymisation key is missing, unreadable or malformed."""


class NotEnoughData(HotspotError):
    """Too little data to call anything ("no events in 2026-W27", "too few events to call hot spots").

    An honest outcome, not a failure: the CLI prints the message (no ``Error:``) and exits 0; the
    run's ``run.json`` records it with the threshold rule. ``status`` names the case
    (``no_events``, ``too_few_events``, ``no_complete_week``).
    """

    def __init__(self, message: str, status: str = "too_few_events", week: str | None = None,
                 record: object | None = None) -> None:
        super().__init__(message if record is None else f"{message} (recorded in {record})")
        self.message = message
        self.status = status
        self.week = week      #: the ISO week analysed, when one was chosen
        self.record = record  #: where the run.json saying so was written, if one was
