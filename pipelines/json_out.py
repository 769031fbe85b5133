"""JSON outputs (run.json, backtest.json): values made JSON-safe the same way everywhere."""

from __future__ import annotations

import math

import numpy as np


def jsonable(value):
    """``value`` with dict keys as text, tuples as lists, numpy numbers as Python numbers and
    non-finite floats as None (JSON has no NaN), recursively.

    >>> jsonable({1: (np.int64(2), np.float64("nan"), float("inf"), "x")})
    {'1': [2, None, None, 'x']}
    """
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return None if not np.isfinite(value) else float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
