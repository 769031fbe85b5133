"""The scan's result: :class:`ScanResult` and the columns of its cluster frame."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

#: Columns of :attr:`ScanResult.clusters`, in order.
CLUSTER_COLUMNS = [
    "cluster_rank",
    "kind",
    "center_cell",
    "center_hex",
    "radius",
    "n_cells",
    "cells",
    "cells_hex",
    "window_start",
    "window_end",
    "window_weeks",
    "observed",
    "expected",
    "obs_exp",
    "relative_risk",
    "llr",
    "p_value",
    "recurrence_weeks",
    "significant",
]


@dataclass(frozen=True)
class ScanResult:
    """Result of :func:`space_time_permutation_scan`.

    Attributes
    ----------
    clusters : pandas.DataFrame
        Primary cluster (``cluster_rank`` 0, ``kind == "primary"``) then
        non-overlapping secondary clusters in decreasing LLR, columns
        :data:`CLUSTER_COLUMNS`. ``cells`` holds tuples of ``uint64`` cell ids
        (inside the product); ``center_hex``/``cells_hex`` are for outputs.
        Empty (same columns) when no cylinder has an excess.
    llr_sim : numpy.ndarray
        Maximum LLR of each Monte Carlo replicate (length ``replicates``).
    n_events : int
        ``C``, the total number of events in the table.
    n_zones : int
        Distinct spatial zones scanned (duplicate cell sets removed).
    n_windows : int
        Temporal windows scanned (``max_window``).
    n_weeks : int
        Weeks in the table; the last one has index ``n_weeks - 1``.
    replicates, seed, alpha, max_radius, max_window, min_cases :
        The parameters used.
    """

    clusters: pd.DataFrame
    llr_sim: np.ndarray = field(repr=False)
    n_events: int
    n_zones: int
    n_windows: int
    n_weeks: int
    replicates: int
    seed: int
    alpha: float
    max_radius: int
    max_window: int
    min_cases: int

    @property
    def primary(self) -> pd.Series | None:
        """The primary (most likely) cluster, or ``None`` when there is none."""
        if self.clusters.empty:
            return None
        return self.clusters.iloc[0]

    @property
    def significant(self) -> pd.DataFrame:
        """Clusters with ``p_value <= alpha``."""
        return self.clusters[self.clusters["significant"]]
