"""Per-cell place-category covariates for the forecast (issue 14 item 1: "place categories and exposure").

Places of interest (venues: shopping centres, stations, fast food...) are where young people
are found again and again; how many of each category lie in a cell and around it is a static
feature of the cell that :func:`analytics.forecast.forecast_next_week` takes as ``covariates``.

For each category of :data:`analytics.contracts.PLACE_CATEGORIES` with at least one place in
or next to the study area, two columns: ``place_{category}`` (places whose representative point
lies in the cell, at the cells' own resolution) and ``ring1_place_{category}`` (places in the
six cells exactly one H3 ring away, whether or not those cells are in the study area).

Only places (venues) enter. Placement locations (where young people live) are private and are
never a covariate: this module takes no placement, and the pipelines read the ``places`` table
only (:mod:`pipelines.forecast_inputs`).

Exposure: :func:`varying_exposure` passes the cube's exposure on only when it differs between
cells or weeks; a uniform exposure (the mart's default of 1) carries no information.

Pure computation: numpy, pandas, h3.
"""

from __future__ import annotations

import h3.api.numpy_int as h3n
import numpy as np
import pandas as pd

from analytics.contracts import PLACE_CATEGORIES
from analytics.errors import InvalidInputError

__all__ = ["place_covariates", "place_covariate_names", "varying_exposure"]


def place_covariate_names(categories) -> list[str]:
    """Covariate column names for ``categories`` (in the contract's order), in cell then ring-1 order."""
    cats = [c for c in PLACE_CATEGORIES if c in set(categories)]
    return [f"place_{c}" for c in cats] + [f"ring1_place_{c}" for c in cats]


def place_covariates(lat, lon, category, cells) -> pd.DataFrame | None:
    """Counts of places per category in each of ``cells`` and in its ring 1.

    Parameters
    ----------
    lat, lon : array_like
        Representative points of the places (degrees, EPSG:4326).
    category : array_like of str
        Each place's category (one of ``PLACE_CATEGORIES``; others are refused).
    cells : array of uint64
        The study area's H3 cells (one resolution).

    Returns
    -------
    DataFrame indexed by cell (``cells`` order) with the columns of :func:`place_covariate_names`
    for the categories present in or next to the study area, or None when no place is there.
    """
    cells = np.asarray(cells, dtype=np.uint64)
    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)
    category = np.asarray(category, dtype=object)
    if not (lat.shape == lon.shape == category.shape):
        raise InvalidInputError("places: lat, lon and category must have one value per place.")
    bad = sorted({str(c) for c in category} - set(PLACE_CATEGORIES))
    if bad:
        raise InvalidInputError(f"places: unknown categories {bad}; expected one of {list(PLACE_CATEGORIES)}.")
    if not (np.isfinite(lat).all() and np.isfinite(lon).all()):
        raise InvalidInputError("places: lat/lon must be finite.")
    if cells.size == 0 or lat.size == 0:
        return None
    res = h3n.get_resolution(int(cells[0]))
    row = {int(c): i for i, c in enumerate(cells)}
    own = np.zeros((cells.size, len(PLACE_CATEGORIES)))
    ring = np.zeros_like(own)
    col = {c: j for j, c in enumerate(PLACE_CATEGORIES)}
    for la, lo, cat in zip(lat, lon, category):
        p = int(h3n.latlng_to_cell(float(la), float(lo), res))
        j = col[str(cat)]
        if p in row:
            own[row[p], j] += 1
        for nb in h3n.grid_ring(p, 1):
            i = row.get(int(nb))
            if i is not None:
                ring[i, j] += 1
    present = (own.sum(axis=0) + ring.sum(axis=0)) > 0
    if not present.any():
        return None
    cats = [c for c, keep in zip(PLACE_CATEGORIES, present) if keep]
    data = np.hstack([own[:, present], ring[:, present]])
    return pd.DataFrame(data, index=pd.Index(cells, name="cell"), columns=place_covariate_names(cats))


def varying_exposure(exposure) -> np.ndarray | None:
    """``exposure`` (cells × weeks) when it is not the same everywhere, else None (nothing to learn from)."""
    if exposure is None:
        return None
    e = np.asarray(exposure, dtype=np.float64)
    if e.size == 0 or np.ptp(e) == 0:
        return None
    return e
