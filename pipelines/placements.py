"""Where young people live, known and derived: the reference every shared output is kept away from.

Placements come from the optional ``hotspots ingest placements`` file, plus placements
*derived* from episodes for every ``placement_ref`` the file lacks: the usual (modal)
last-seen H3 cell of that placement's episodes (``sql/intermediate/int_derived_placements.sql``),
because a missing episode usually starts at home; episodes that name no placement stand for
their young person's own home (keyed by the person's pseudonym). A derived placement is the centre of
that cell; the home may be anywhere inside it, so its protective radius is the rule's
radius plus the cell's circumradius (:func:`analytics.safeguarding.placement_radius`).

Nothing here is ever written to an output: placements are used only to withhold cells
(:func:`analytics.safeguarding.assess_cells`) and by the privacy scan.
"""

from __future__ import annotations

import h3.api.numpy_int as h3n
import numpy as np
import pandas as pd

from analytics.safeguarding import PLACEMENT_RADIUS_M, placement_radius
from pipelines.sqlrunner import run_sql

__all__ = ["known_and_derived_placements", "person_placements"]

_COLUMNS = ["placement_key", "lat", "lon", "source", "radius_m"]


def _has_table(store, name: str) -> bool:
    return bool(store.con.execute(
        "select count(*) from information_schema.tables where table_schema = 'main' and table_name = $t",
        {"t": name}).fetchone()[0])


def known_and_derived_placements(store, radius_m: float = PLACEMENT_RADIUS_M) -> pd.DataFrame:
    """Every placement the store knows of or can derive.

    Returns
    -------
    DataFrame
        ``placement_key`` (pseudonym), ``lat``, ``lon``, ``source`` (``file`` for the
        placements input, ``derived`` for the modal last-seen cell centre of a
        placement's episodes) and ``radius_m``: ``radius_m`` for a known point; for a
        derived one ``radius_m`` plus the cell's circumradius, so that a rule of
        ``radius_m`` around the cell's centre still covers ``radius_m`` around a home
        anywhere inside the cell.
    """
    con = store.con
    if not _has_table(store, "placements"):  # a store made before migration 016
        known = pd.DataFrame({"placement_key": [], "lat": [], "lon": []})
        derived = con.execute(
            "select placement_key, cell from (select coalesce(placement_key, person_key) as placement_key, "
            "last_seen_cell as cell, count(*) as n from episodes where last_seen_cell is not null group by all "
            "qualify row_number() over (partition by placement_key order by n desc, cell) = 1) "
            "order by placement_key").df()
    else:
        known = con.execute("select placement_key, lat, lon from placements order by placement_key").df()
        derived = run_sql(con, "intermediate/int_derived_placements.sql").df()
    known = known.assign(source="file", radius_m=float(radius_m))
    rows = []
    for key, cell in zip(derived["placement_key"].tolist(), derived["cell"].tolist()):
        lat, lon = h3n.cell_to_latlng(int(cell))
        rows.append((key, lat, lon, "derived", placement_radius("derived", int(cell), radius_m)))
    derived_df = pd.DataFrame(rows, columns=_COLUMNS)
    out = pd.concat([known[_COLUMNS], derived_df], ignore_index=True) if len(derived_df) else known[_COLUMNS]
    return out.astype({"lat": np.float64, "lon": np.float64, "radius_m": np.float64}).reset_index(drop=True)


def person_placements(store) -> pd.DataFrame:
    """(person_key, placement_key): every placement named by any episode of each young person (an
    episode naming none links the young person to their own derived home, keyed by their pseudonym)."""
    return store.con.execute(
        "select distinct person_key, coalesce(placement_key, person_key) as placement_key from episodes "
        "where person_key is not null").df()
