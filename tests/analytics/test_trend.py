"""Mann-Kendall: pymannkendall agreement (original and Hamed-Rao), ties, edge cases."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import analytics.trend as trend_mod
from analytics.errors import InvalidInputError
from analytics.trend import MKResult, mann_kendall

EXPECTED = Path(__file__).resolve().parents[1] / "data" / "expected"
FIELDS = (("s", "s"), ("var_s", "var_s"), ("z", "z"), ("p", "p"), ("tau", "Tau"))


@pytest.fixture(scope="module")
def arbitrary():
    fx = json.loads((EXPECTED / "mk_arbitrary_1d_data.json").read_text())
    x = np.array([np.nan if v is None else v for v in fx["values"]])
    return x[~np.isnan(x)], fx  # pymannkendall skips missing values


def _brute(x: np.ndarray) -> tuple[float, float]:
    """S and tie-corrected Var(S) straight from the definitions (tiny T only)."""
    t = x.size
    s = sum(np.sign(x[j] - x[i]) for i in range(t) for j in range(i + 1, t))
    _, sizes = np.unique(x, return_counts=True)
    var = (t * (t - 1) * (2 * t + 5) - np.sum(sizes * (sizes - 1) * (2 * sizes + 5))) / 18
    return float(s), float(var)


def test_published_fixture(arbitrary):
    x, fx = arbitrary
    r = mann_kendall(x)
    pub = fx["published_original_test"]
    assert r.s[0] == pub["s"] == -1959
    assert r.var_s[0] == pytest.approx(pub["var_s"], rel=1e-15)
    assert r.z[0] == pytest.approx(pub["z"], rel=1e-13)
    assert r.p[0] == pytest.approx(pub["p"], rel=1e-12)
    assert r.tau[0] == pytest.approx(pub["Tau"], rel=1e-14)
    assert r.trend[0] == 0 and r.method == "original"


@pytest.mark.parametrize("lag, key", [(None, "lag_all"), (3, "lag_3")])
def test_hamed_rao_frozen_from_pymannkendall(arbitrary, lag, key):
    x, fx = arbitrary
    ref = fx["pymannkendall_1_4_3_hamed_rao"][key]
    r = mann_kendall(x, method="hamed_rao", lag=lag)
    for mine, theirs in FIELDS:
        assert getattr(r, mine)[0] == pytest.approx(ref[theirs], rel=1e-10), mine
    assert r.method == "hamed_rao"
    if lag is None:
        assert r.trend[0] == -1  # significant once autocorrelation is accounted for


def test_hand_example():
    x = np.array([[1.0, 2, 2, 3, 5], [5, 4, 4, 4, 1]])
    r = mann_kendall(x)
    # row 0: 10 pairs, one tie (2, 2) -> S = 9; Var = (5*4*15 - 2*1*9)/18 = 282/18
    # row 1: three 4s -> 3 tied pairs, 7 falling pairs -> S = -7; Var = (300 - 3*2*11)/18 = 234/18
    assert_array_equal(r.s, [9, -7])
    assert_allclose(r.var_s, [282 / 18, 234 / 18], rtol=1e-15)
    assert_allclose(r.z, [8 / np.sqrt(282 / 18), -6 / np.sqrt(234 / 18)], rtol=1e-14)
    assert_allclose(r.tau, [0.9, -0.7], rtol=1e-15)
    for row in x:
        assert _brute(row) == (mann_kendall(row).s[0], pytest.approx(mann_kendall(row).var_s[0]))


def test_equals_pymannkendall_original_on_tied_series():
    pmk = pytest.importorskip("pymannkendall")
    rng = np.random.default_rng(2024)
    x = rng.integers(0, 4, (80, 52)).astype(float)  # many ties
    x[:20] += np.linspace(0, 2, 52)
    x[20:30] = np.round(rng.normal(size=(10, 52)), 1) - np.linspace(0, 1, 52)
    x[30] = 1.0  # constant
    r = mann_kendall(x)
    for i in range(x.shape[0]):
        ref = pmk.original_test(x[i])
        for mine, theirs in FIELDS:
            # pymannkendall computes p as 1 - cdf: absolute error ~1e-16 on tiny p
            assert getattr(r, mine)[i] == pytest.approx(getattr(ref, theirs), rel=1e-10, abs=1e-14), (i, mine)
        assert r.trend[i] == {"increasing": 1, "decreasing": -1, "no trend": 0}[ref.trend]


def test_equals_pymannkendall_hamed_rao_on_autocorrelated_series():
    pmk = pytest.importorskip("pymannkendall")
    rng = np.random.default_rng(7)
    n, t = 60, 52
    e = rng.normal(size=(n, t))
    x = np.empty((n, t))
    x[:, 0] = e[:, 0]
    for k in range(1, t):  # AR(1), phi = 0.6 (loop over time, test data only)
        x[:, k] = 0.6 * x[:, k - 1] + e[:, k]
    x[:15] += np.linspace(0, 3, t)
    x = np.round(x, 1)  # ties
    r = mann_kendall(x, method="hamed_rao")
    plain = mann_kendall(x)
    compared = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # pymannkendall's sqrt of a negative variance
        for i in range(n):
            ref = pmk.hamed_rao_modification_test(x[i])
            if not np.isfinite(ref.var_s) or ref.var_s <= 0:
                # factor <= 0: pymannkendall returns NaN, we keep the uncorrected variance
                assert r.n_eff_ratio[i] <= 0
                assert r.var_s[i] == plain.var_s[i]
                continue
            compared += 1
            for mine, theirs in FIELDS:
                assert getattr(r, mine)[i] == pytest.approx(getattr(ref, theirs), rel=1e-9, abs=1e-14), (i, mine)
    assert compared >= 50
    assert (r.n_eff_ratio > 1).mean() > 0.5  # positive autocorrelation inflates the variance


def test_constant_and_monotone_series():
    x = np.vstack([np.full(12, 3.0), np.arange(12.0), -np.arange(12.0), np.zeros(12)])
    for method in ("original", "hamed_rao"):
        r = mann_kendall(x, method=method)
        assert_array_equal(r.s, [0, 66, -66, 0])
        assert_array_equal(r.z[[0, 3]], 0.0)
        assert_array_equal(r.p[[0, 3]], 1.0)
        assert_array_equal(r.trend, [0, 1, -1, 0])
        assert_array_equal(r.tau, [0, 1, -1, 0])


def test_one_dimensional_input_is_one_series():
    r = mann_kendall([1.0, 3.0, 2.0, 5.0])
    assert r.s.shape == (1,)
    assert isinstance(r, MKResult)


def test_chunking_does_not_change_results(monkeypatch):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 6, (300, 30)).astype(float)
    whole = mann_kendall(x, method="hamed_rao")
    monkeypatch.setattr(trend_mod, "_CHUNK_ELEMENTS", 64)
    monkeypatch.setattr(trend_mod, "_SEN_CHUNK_ELEMENTS", 500)
    chunked = mann_kendall(x, method="hamed_rao")
    for name in ("s", "var_s", "z", "p", "tau", "trend", "n_eff_ratio"):
        assert_array_equal(getattr(whole, name), getattr(chunked, name))


def test_alpha_sets_trend_threshold():
    x = np.array([[0.0, 1, 0, 2, 1, 3, 2, 3, 2, 4]])
    r = mann_kendall(x)
    assert 0.01 < r.p[0] < 0.10
    assert mann_kendall(x, alpha=0.10).trend[0] == 1
    assert mann_kendall(x, alpha=0.01).trend[0] == 0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"x": [[1.0, np.nan, 2.0, 3.0]]}, "NaN"),
        ({"x": [[1.0, 2.0]]}, "at least 3"),
        ({"x": np.ones((2, 3, 4))}, "2-D"),
        ({"method": "yue_wang"}, "method"),
        ({"alpha": 0}, "alpha"),
        ({"alpha": True}, "alpha"),
        ({"method": "hamed_rao", "lag": 0}, "lag"),
        ({"method": "hamed_rao", "lag": 10}, "lag"),
    ],
)
def test_invalid_input(kwargs, match):
    args = {"x": np.arange(10.0)}
    args.update(kwargs)
    with pytest.raises(InvalidInputError, match=match):
        mann_kendall(**args)


def test_docstring_examples():
    import doctest

    import analytics.trend as module

    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
