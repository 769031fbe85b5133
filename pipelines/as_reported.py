"""Counts "as reported by" an origin week: what the service knew when that week ended (issue 14, item 1).

One pass for every origin: the cube counts every event; the reports that reached the
service (``reported_at``) in a later local ISO week than the one they were observed in are
read once (``sql/backtest/late_reports.sql``), and at origin week ``t`` those observed by
``t`` but reported after ``t`` are subtracted from the cube's weeks ``0..t``. A report
without ``reported_at`` counts as known when it happened; episode events count as known at
their own time (they are never late).

This is exact for the cube's additive counts (every measure of
:data:`analytics.engine.MEASURES`): ``reports`` and ``reports_<kind|source>`` lose their
late reports, episode counts lose nothing. The distinct counts (``young_people``,
``placements``) cannot be corrected by subtraction and are refused when reports are late.

Used by the backtest (:mod:`pipelines.backtest`, every origin from one cube) and by
:func:`pipelines.cube.as_reported_arrays` (one origin).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from analytics.errors import InvalidInputError
from pipelines.sqlrunner import run_sql
from pipelines.store import Store

__all__ = ["LateReports", "late_reports", "counts_as_reported", "DISTINCT_MEASURES"]

#: Cube columns counting distinct keys: a late report cannot be subtracted from them.
DISTINCT_MEASURES = ("young_people", "placements")
_REPORTS = "reports"


@dataclass(frozen=True)
class LateReports:
    """Reports observed in one week but reported in a later one, as week indices of a cube's weeks.

    ``cell`` (uint64), ``observed`` and ``reported`` (week index from the cube's first week;
    negative before it), ``kind`` and ``source`` (object). Calling it with an origin ``t``
    gives the ``reported_by`` frame of :func:`counts_as_reported`.
    """

    cell: np.ndarray
    observed: np.ndarray
    reported: np.ndarray
    kind: np.ndarray
    source: np.ndarray

    def __len__(self) -> int:
        return len(self.cell)

    def for_measure(self, measure: str) -> "LateReports | None":
        """The late reports a cube column counts (None when it counts none of them).

        ``reports`` counts all; ``reports_X`` those of kind or source ``X``; episode counts none.
        Raises :class:`InvalidInputError` for a distinct count (:data:`DISTINCT_MEASURES`).
        """
        if measure in DISTINCT_MEASURES:
            raise InvalidInputError(f"The cube's {measure!r} counts distinct keys; it cannot be taken as reported "
                                    "by an origin from late reports. Use a count of reports or episodes.")
        if not measure.startswith(_REPORTS):
            return None
        keep = np.ones(len(self), dtype=bool)
        if measure != _REPORTS:
            sub = measure[len(_REPORTS) + 1:]
            keep = (self.kind == sub) | (self.source == sub)
        if not keep.any():
            return None
        return LateReports(self.cell[keep], self.observed[keep], self.reported[keep], self.kind[keep],
                           self.source[keep])

    def at(self, origin: int) -> pd.DataFrame:
        """Reports counted in weeks ``<= origin`` but reported after week ``origin``: ``cell``, ``week``."""
        m = (self.observed <= origin) & (self.reported > origin)
        return pd.DataFrame({"cell": self.cell[m], "week": self.observed[m]})

    __call__ = at


def late_reports(store: Store, resolution: int, weeks: list[date]) -> LateReports | None:
    """Every report reported in a later local ISO week than it was observed, indexed on ``weeks``.

    ``resolution`` is the cube's; ``weeks`` the cube's weeks (Mondays; the first is index 0).
    Returns None when reports carry no ``reported_at`` or none is late.
    """
    cols = {r[0] for r in store.con.execute("describe location_reports").fetchall()}
    if "reported_at" not in cols:
        return None
    late = run_sql(store.con, "backtest/late_reports.sql",
                   {"resolution": resolution, "store_resolution": store.resolution, "tz": store.timezone}).df()
    if late.empty:
        return None
    first = pd.Timestamp(weeks[0])
    return LateReports(
        cell=late["cell"].to_numpy(dtype=np.uint64),
        observed=((pd.to_datetime(late["observed_week"]) - first).dt.days // 7).to_numpy(dtype=np.int64),
        reported=((pd.to_datetime(late["reported_week"]) - first).dt.days // 7).to_numpy(dtype=np.int64),
        kind=late["kind"].to_numpy(dtype=object), source=late["source"].to_numpy(dtype=object))


def counts_as_reported(counts: np.ndarray, cells: np.ndarray, origin: int, reported_by=None) -> np.ndarray:
    """Counts of weeks ``0..origin`` as known at the end of week ``origin`` (cells × (origin + 1), float64).

    ``reported_by(origin)`` (e.g. a :class:`LateReports` for the cube's measure) gives the events
    (``cell``, ``week`` index) counted in the cube but reported after the origin's week; they are
    subtracted. ``cells`` must be sorted (as the cube's are). Without ``reported_by`` the cube is sliced.
    """
    known = np.array(counts[:, :origin + 1], dtype=np.float64)
    if reported_by is None:
        return known
    late = reported_by(origin)
    if len(late):
        late_cells = late["cell"].to_numpy(dtype=np.uint64)
        rows = np.searchsorted(cells, late_cells)
        inside = (rows < len(cells)) & (cells[np.minimum(rows, len(cells) - 1)] == late_cells)
        wk = late["week"].to_numpy(dtype=np.int64)
        inside &= (wk >= 0) & (wk <= origin)
        np.subtract.at(known, (rows[inside], wk[inside]), 1.0)
        np.maximum(known, 0.0, out=known)
    return known
