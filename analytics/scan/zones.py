"""The scan's input checks and zones: H3 disks around every study cell as a sparse membership
matrix, and the windows' cumulative sums."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from analytics.errors import InvalidInputError
from analytics.grid import neighbour_matrix


def _validate(counts, cells, max_radius, max_window, replicates, alpha, max_secondary, min_cases):
    counts = np.asarray(counts)
    cells = np.asarray(cells)
    if counts.ndim != 2:
        raise InvalidInputError(
            f"counts must be a 2-D array (n_cells, n_weeks); received shape {counts.shape}."
        )
    if cells.ndim != 1 or cells.shape[0] != counts.shape[0]:
        raise InvalidInputError(
            "cells must be 1-D with one entry per row of counts; "
            f"received {cells.shape} cells for counts of shape {counts.shape}."
        )
    if counts.size and (not np.all(np.isfinite(counts)) or np.any(counts < 0)):
        raise InvalidInputError("counts must be finite and non-negative.")
    if counts.size and np.any(counts != np.round(counts)):
        raise InvalidInputError(
            "counts must be whole numbers of events (the permutation scan shuffles events)."
        )
    cells = cells.astype(np.uint64)
    if np.unique(cells).shape[0] != cells.shape[0]:
        raise InvalidInputError("cells must be unique (one row of counts per cell).")
    for name, value, low in (
        ("max_radius", max_radius, 0),
        ("max_window", max_window, 1),
        ("replicates", replicates, 0),
        ("max_secondary", max_secondary, 0),
        ("min_cases", min_cases, 1),
    ):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
            raise InvalidInputError(f"{name} must be an integer >= {low}; received {value!r}.")
    if not 0 < float(alpha) < 1:
        raise InvalidInputError(f"alpha must be between 0 and 1; received {alpha!r}.")
    n_weeks = counts.shape[1]
    if max_window > n_weeks:
        raise InvalidInputError(
            f"max_window ({max_window}) is longer than the history ({n_weeks} weeks); "
            "pass more weeks or a shorter max_window."
        )
    return counts.astype(np.int64), cells


def _zone_matrix(cells: np.ndarray, max_radius: int) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """Sparse zone × cell membership, duplicate cell sets removed.

    Rows are ordered radius-major, so when two (centre, radius) pairs give the
    same cell set (at the study-area edge) the smaller radius is kept.
    """
    n = cells.shape[0]
    blocks = [sp.identity(n, format="csr", dtype=np.float64)]
    for r in range(1, max_radius + 1):
        blocks.append(neighbour_matrix(cells, r).tocsr())
    full = sp.vstack(blocks, format="csr")
    full.sort_indices()
    centre = np.tile(np.arange(n), max_radius + 1)
    radius = np.repeat(np.arange(max_radius + 1), n)
    seen: set[bytes] = set()
    keep = np.zeros(full.shape[0], dtype=bool)
    indptr, indices = full.indptr, full.indices
    for z in range(full.shape[0]):
        key = indices[indptr[z]:indptr[z + 1]].tobytes()
        if key not in seen:
            seen.add(key)
            keep[z] = True
    return full[keep], centre[keep], radius[keep]


def _window_sums(tail: np.ndarray) -> np.ndarray:
    """(n_cells, W) tail, oldest first -> cumulative sums over the last 1..W weeks."""
    return np.cumsum(tail[:, ::-1], axis=1)
