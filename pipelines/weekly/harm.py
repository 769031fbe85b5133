"""Episodes with a CSE concern or high risk per cell, from the built cube (the plan's harm weight)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd


def _harm_events(store, weeks: list[date], harm_weeks: int) -> pd.Series:
    """Episodes with a CSE concern or high risk per cell over the last ``harm_weeks`` weeks of the cube."""
    return _harm_between(store, weeks[max(0, len(weeks) - harm_weeks)], weeks[-1])


def _harm_between(store, first: date, last: date) -> pd.Series:
    """Episodes with a CSE concern or high risk per cell in the built cube's weeks ``first``..``last``."""
    got = store.con.execute(
        "select cell, sum(cse_concern_episodes + high_risk_episodes) as n from mart_cell_week_counts "
        "where week_start between $a and $b group by cell", {"a": first, "b": last}).fetchnumpy()
    return pd.Series(np.asarray(got["n"], dtype=float), index=np.asarray(got["cell"], dtype=np.uint64))
