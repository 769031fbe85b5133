"""Known values for hit rate, PAI and PEI* (hand-computed; see the formulas in analytics/accuracy.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose

from analytics.accuracy import hit_rate, max_capture, pai, pei_star
from analytics.errors import InvalidInputError


def test_known_values():
    # 10 of 40 events in 2 of 100 equal cells: hit rate 0.25, PAI 0.25 / 0.02 = 12.5
    assert_allclose(hit_rate(10, 40), 0.25, rtol=1e-12)
    assert_allclose(pai(10, 40, 2, 100), 12.5, rtol=1e-12)
    counts = np.array([7, 0, 3, 1, 9, 0, 2])
    assert max_capture(counts, 2) == 16.0  # 9 + 7
    assert max_capture(counts, 20) == 22.0  # more cells than exist: every event
    assert_allclose(pei_star(10, max_capture(counts, 2)), 0.625, rtol=1e-12)
    assert pei_star(16, 16) == 1.0


@pytest.mark.parametrize("kind", [int, float, np.int64, np.float64])
def test_input_types(kind):
    assert_allclose(pai(kind(3), kind(12), kind(1), kind(8)), 2.0, rtol=1e-12)


def test_undefined_values_are_nan():
    assert math.isnan(hit_rate(0, 0))
    assert math.isnan(pai(0, 0, 1, 10))
    assert math.isnan(pai(0, 5, 0, 10))
    assert math.isnan(pei_star(0, 0))
    assert max_capture([], 3) == 0.0


def test_bad_inputs():
    with pytest.raises(InvalidInputError, match="cannot exceed N"):
        hit_rate(5, 4)
    with pytest.raises(InvalidInputError, match="cannot exceed A"):
        pai(1, 4, 11, 10)
    with pytest.raises(InvalidInputError, match="n\\*"):
        pei_star(5, 4)
    with pytest.raises(InvalidInputError, match=">= 0"):
        hit_rate(-1, 4)
    with pytest.raises(InvalidInputError):
        max_capture([1, -2], 1)
    with pytest.raises(InvalidInputError):
        hit_rate(True, 4)
