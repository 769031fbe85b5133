"""Space-time Gi*: hand-worked values, esda agreement, calibration, planted signal."""

from __future__ import annotations

import json
import math
from pathlib import Path

import h3
import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from scipy import stats

from analytics.errors import InvalidInputError
from analytics.gistar import (
    GiStarResult,
    benjamini_hochberg,
    estimate_nb_overdispersion,
    gi_star,
    space_time_weights,
)
from analytics.grid import grid_disk_cells, neighbour_matrix

EXPECTED = Path(__file__).resolve().parents[1] / "data" / "expected"

# 3 cells in a line (0 - 1 - 2), 3 weeks; worked by hand in test_tiny_cube_by_hand
LINE = sp.csr_matrix(np.array([[1, 1, 0], [1, 1, 1], [0, 1, 1]], dtype=float))
TINY = np.array([[2, 0, 1], [0, 1, 0], [0, 0, 2]])


def _cells(k: int) -> np.ndarray:
    """Real res-9 H3 cells: a disk of k rings around central Sydney."""
    centre = h3.str_to_int(h3.latlng_to_cell(-33.8688, 151.2093, 9))
    return grid_disk_cells(np.array([centre], dtype=np.uint64), k)


@pytest.fixture(scope="module")
def disk547():
    cells = _cells(13)  # 1 + 3*13*14 = 547 cells; x 104 weeks = 56,888 bins
    return cells, neighbour_matrix(cells, 1)


# --------------------------------------------------------------------------- #
# known values                                                                 #
# --------------------------------------------------------------------------- #
def test_tiny_cube_by_hand():
    r = gi_star(TINY, LINE, time_step=1)
    # spatial sums per week: cell0 = x0 + x1, cell1 = x0 + x1 + x2, cell2 = x1 + x2
    #   cell0 [2, 1, 1], cell1 [2, 1, 3], cell2 [0, 1, 2]; then add the previous week
    assert_array_equal(r.neighbourhood_sum, [[2, 3, 2], [2, 3, 4], [0, 1, 3]])
    # W = cardinality (2, 3, 2) x weeks in the window (1, 2, 2)
    assert_array_equal(r.weight_sum, [[2, 4, 4], [3, 6, 6], [2, 4, 4]])
    # n = 9, mean = 6/9 = 2/3, E[x^2] = 10/9, population variance = 10/9 - 4/9 = 2/3
    assert r.n_bins == 9
    assert r.mean == pytest.approx(2 / 3, rel=1e-15)
    assert r.sd == pytest.approx(math.sqrt(2 / 3), rel=1e-15)
    # (cell0, week1): N = 3, W = 4 -> (3 - 8/3) / (sqrt(2/3) sqrt((36 - 16)/8)) = 1/sqrt(15)
    assert r.z[0, 1] == pytest.approx(1 / math.sqrt(15), rel=1e-12)
    # (cell2, week0): N = 0, W = 2 -> (-4/3) / (sqrt(2/3) sqrt((18 - 4)/8)) = -(4/3) sqrt(6/7)
    assert r.z[2, 0] == pytest.approx(-(4 / 3) * math.sqrt(6 / 7), rel=1e-12)
    # (cell1, week2): N = 4 = mean * W -> 0
    assert r.z[1, 2] == pytest.approx(0.0, abs=1e-15)
    # calibrated null: week totals C = (2, 1, 3) over 3 cells -> m_t = (2/3, 1/3, 1)
    e = np.array([[4 / 3, 2, 8 / 3], [2, 3, 4], [4 / 3, 2, 8 / 3]])
    assert_allclose(r.expected, e, rtol=1e-14)
    # (cell0, week0): N = 2, E = 4/3: P(X >= 2) = 1 - e^(-4/3)(1 + 4/3)
    assert r.p_hot[0, 0] == pytest.approx(1 - (7 / 3) * math.exp(-4 / 3), rel=1e-12)
    assert r.p_cold[0, 0] == pytest.approx(math.exp(-4 / 3) * (1 + 4 / 3 + (4 / 3) ** 2 / 2), rel=1e-12)
    # (cell2, week0): N = 0, E = 4/3: P(X <= 0) = e^(-4/3); two-sided p doubles the smaller tail
    assert r.p_cold[2, 0] == pytest.approx(math.exp(-4 / 3), rel=1e-12)
    assert r.p_hot[2, 0] == 1.0
    assert r.p[2, 0] == pytest.approx(2 * math.exp(-4 / 3), rel=1e-12)
    assert r.p_norm[0, 1] == pytest.approx(2 * stats.norm.sf(1 / math.sqrt(15)), rel=1e-12)
    assert not r.gi_class.any()  # nothing is significant on 9 bins


def test_tiny_cube_exposure_by_hand():
    exposure = np.array([2.0, 1.0, 1.0])  # cell0 has twice the exposure every week
    r = gi_star(TINY, LINE, time_step=1, exposure=exposure)
    # m = C_t e_i / sum e = C_t e_i / 4: cell0 (1, 1/2, 3/2), cells 1 and 2 (1/2, 1/4, 3/4)
    # (cell2, week1) covers cells 1, 2 at weeks 0, 1: 1/2 + 1/2 + 1/4 + 1/4 = 3/2
    assert r.expected[2, 1] == pytest.approx(1.5, rel=1e-14)
    # (cell0, week2) covers cells 0, 1 at weeks 1, 2: 1/2 + 1/4 + 3/2 + 3/4 = 3
    assert r.expected[0, 2] == pytest.approx(3.0, rel=1e-14)
    # with a cell's own bin as its neighbourhood, E is m itself and each week's m sums to C_t
    own = gi_star(TINY, sp.identity(3, format="csr"), time_step=0, exposure=exposure)
    assert_allclose(own.expected[:, 0], [1.0, 0.5, 0.5], rtol=1e-15)
    assert_allclose(own.expected.sum(axis=0), TINY.sum(axis=0), rtol=1e-15)
    # exposure does not change the z-score (display statistic)
    assert_allclose(r.z, gi_star(TINY, LINE, time_step=1).z, rtol=0, atol=0)


def test_exposure_accounts_for_more_young_people():
    """A cell with 4x the exposure and 4x the events is not a hot spot; without exposure it is."""
    cells = _cells(4)
    s = neighbour_matrix(cells, 1)
    rng = np.random.default_rng(7)
    exposure = np.ones((cells.size, 30))
    centre = cells.size // 2
    ring = s[centre].indices
    exposure[ring] = 4.0
    counts = rng.poisson(0.3 * exposure)
    with_exposure = gi_star(counts, s, exposure=exposure)
    without = gi_star(counts, s)
    assert (with_exposure.gi_class[centre] >= 2).mean() < 0.1
    assert (without.gi_class[centre] >= 2).mean() > 0.5


# --------------------------------------------------------------------------- #
# space-time weights                                                           #
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("time_step", [0, 1, 2, 5])
def test_factorised_sums_equal_space_time_weights(time_step):
    rng = np.random.default_rng(time_step)
    cells = _cells(3)
    s = neighbour_matrix(cells, 1)
    counts = rng.poisson(0.7, (cells.size, 6))
    w = space_time_weights(s, 6, time_step)
    r = gi_star(counts, s, time_step=time_step)
    assert w.shape == (cells.size * 6, cells.size * 6)
    assert_allclose(w @ counts.ravel().astype(float), r.neighbourhood_sum.ravel(), rtol=0, atol=1e-12)
    assert_allclose(np.asarray(w.sum(axis=1)).ravel(), r.weight_sum.ravel(), rtol=0, atol=0)
    # bin (i, t) sees (j, s) iff j is a spatial neighbour and t - tau <= s <= t
    i, t = 3, 4
    row = w[i * 6 + t].indices
    expect = sorted(j * 6 + u for j in s[i].indices for u in range(max(0, t - time_step), t + 1))
    assert sorted(row.tolist()) == expect


def test_space_time_weights_example_and_validation():
    s = sp.csr_matrix([[1, 1], [1, 1]])
    assert_array_equal(
        space_time_weights(s, 2, 1).toarray(), [[1, 0, 1, 0], [1, 1, 1, 1], [1, 0, 1, 0], [1, 1, 1, 1]]
    )
    with pytest.raises(InvalidInputError, match="n_weeks"):
        space_time_weights(s, 0)
    with pytest.raises(InvalidInputError, match="time_step"):
        space_time_weights(s, 3, -1)


# --------------------------------------------------------------------------- #
# agreement with esda                                                          #
# --------------------------------------------------------------------------- #
def _esda_zs(values: np.ndarray, weights: sp.csr_matrix) -> np.ndarray:
    from esda.getisord import G_Local
    from libpysal.weights import WSP

    w = WSP(sp.csr_matrix(weights)).to_W(silence_warnings=True)
    return G_Local(values, w, transform="B", star=True, permutations=0).Zs


def test_z_equals_esda_on_h3_cells_one_week():
    cells = _cells(8)  # 217 real H3 cells
    s = neighbour_matrix(cells, 1)
    rng = np.random.default_rng(42)
    counts = rng.poisson(1.3, (cells.size, 1))
    r = gi_star(counts, s, time_step=0)
    assert_allclose(r.z[:, 0], _esda_zs(counts[:, 0].astype(float), s), rtol=0, atol=1e-9)


def test_z_equals_esda_on_space_time_weights():
    """The whole-cube z over several weeks is esda's Gi* on the space-time weight matrix."""
    cells = _cells(5)
    s = neighbour_matrix(cells, 1)
    rng = np.random.default_rng(3)
    counts = rng.poisson(0.4, (cells.size, 5))
    r = gi_star(counts, s, time_step=1)
    zs = _esda_zs(counts.ravel().astype(float), space_time_weights(s, 5, 1))
    assert_allclose(r.z.ravel(), zs, rtol=0, atol=1e-9)


def test_esda_published_fixture():
    fx = json.loads((EXPECTED / "gistar_esda_fixture.json").read_text())
    n = len(fx["y"])
    rows = [i for i in range(n) for _ in fx["neighbours"][str(i)]]
    cols = [j for i in range(n) for j in fx["neighbours"][str(i)]]
    s = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n)) + sp.identity(n, format="csr")
    y = np.array(fx["y"])[:, None]  # a one-week cube; 3.2 is not a count, so use the normal path
    r = gi_star(y, s, time_step=0, p_method="normal")
    assert r.z[0, 0] == pytest.approx(fx["published_z0"], abs=1e-8)
    assert_allclose(r.z[:, 0], fx["esda_2_9_0_Zs"], rtol=0, atol=1e-9)


def test_esda_fixture_weights_match_libpysal():
    from libpysal.weights.distance import DistanceBand

    fx = json.loads((EXPECTED / "gistar_esda_fixture.json").read_text())
    w = DistanceBand(np.array(fx["points"]), threshold=fx["threshold"], silence_warnings=True)
    assert {str(k): sorted(v) for k, v in w.neighbors.items()} == fx["neighbours"]


# --------------------------------------------------------------------------- #
# calibration on null simulations                                              #
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("mean", [0.1, 0.2])
def test_calibrated_p_controls_false_hot_rate_where_normal_does_not(disk547, mean):
    _, s = disk547
    rng = np.random.default_rng(int(mean * 1000))
    counts = rng.poisson(mean, (s.shape[0], 104))
    r = gi_star(counts, s)
    n = counts.size
    assert n >= 50_000
    se = math.sqrt(0.05 * 0.95 / n)
    poisson_rate = float((r.p_hot < 0.05).mean())
    normal_rate = float((stats.norm.sf(r.z) < 0.05).mean())
    assert poisson_rate <= 0.05 + 3 * se
    assert normal_rate > 0.05 + 3 * se  # the normal approximation over-calls hot spots
    assert normal_rate > poisson_rate + 3 * se
    assert float((r.p_cold < 0.05).mean()) <= 0.05 + 3 * se
    # after Benjamini-Hochberg over the cube, (almost) no false hot bins
    assert float((r.gi_class >= 1).mean()) < 1e-3
    nb = gi_star(counts, s, p_method="negbin")
    assert float((nb.p_hot < 0.05).mean()) <= 0.05 + 3 * se


def test_normal_approximation_misses_the_nominal_upper_tail_on_sparse_counts(disk547):
    """METHODS: at means 0.02-0.05, P(z > 1.96) is well above 2.5 %; the Poisson tail is not."""
    _, s = disk547
    rng = np.random.default_rng(2)
    counts = rng.poisson(0.03, (s.shape[0], 104))
    r = gi_star(counts, s)
    se = math.sqrt(0.025 * 0.975 / counts.size)
    assert float((r.z > 1.96).mean()) > 0.025 + 3 * se
    assert float((r.p_hot < 0.025).mean()) <= 0.025 + 3 * se


# --------------------------------------------------------------------------- #
# planted signal                                                               #
# --------------------------------------------------------------------------- #
def test_planted_cluster_is_hot(disk547):
    cells, s = disk547
    rng = np.random.default_rng(11)
    counts = rng.poisson(0.05, (cells.size, 52))
    centre = 100
    cluster = s[centre].indices  # the cell and its ring
    counts[np.ix_(cluster, np.arange(36, 52))] += rng.poisson(0.8, (cluster.size, 16))
    r = gi_star(counts, s)
    assert (r.gi_class[centre, 37:] >= 2).mean() >= 0.9
    assert (r.gi_class[centre, :30] >= 1).sum() == 0
    outside = np.setdiff1d(np.arange(cells.size), np.unique(s[cluster].indices))
    assert (r.gi_class[outside] >= 2).mean() < 0.002


# --------------------------------------------------------------------------- #
# p-value machinery                                                            #
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("p_method", ["poisson", "negbin"])
@pytest.mark.parametrize("fdr", ["cube", "week", "none"])
def test_table_path_equals_direct_path(disk547, p_method, fdr):
    """Without exposure tails are computed per (cardinality, week, N) key; with unit exposure, per bin."""
    _, s = disk547
    rng = np.random.default_rng(5)
    counts = rng.poisson(0.15, (s.shape[0], 40))
    counts[:20, 25:] += 2
    a = gi_star(counts, s, p_method=p_method, fdr=fdr)
    b = gi_star(counts, s, p_method=p_method, fdr=fdr, exposure=np.ones(s.shape[0]))
    for name in ("expected", "p_hot", "p_cold", "p", "p_fdr"):
        assert_allclose(getattr(a, name), getattr(b, name), rtol=1e-11, atol=1e-300, err_msg=name)
    assert_array_equal(a.gi_class, b.gi_class)
    assert a.overdispersion == pytest.approx(b.overdispersion, rel=1e-12)


def test_benjamini_hochberg_matches_scipy():
    rng = np.random.default_rng(0)
    p = rng.random((300, 12)) ** 4
    p[rng.random(p.shape) < 0.3] = 1.0
    p[5, :] = p[6, :]  # ties
    assert_allclose(benjamini_hochberg(p, "cube").ravel(), stats.false_discovery_control(p.ravel()), rtol=1e-13)
    assert_allclose(benjamini_hochberg(p, "week"), stats.false_discovery_control(p, axis=0), rtol=1e-13)
    assert_array_equal(benjamini_hochberg(p, "none"), p)
    assert_allclose(
        benjamini_hochberg(np.array([[0.01, 0.04, 0.03, 0.2]])), [[0.04, 0.16 / 3, 0.16 / 3, 0.2]], rtol=1e-14
    )


def test_classes_follow_adjusted_p_and_side():
    rng = np.random.default_rng(9)
    cells = _cells(6)
    s = neighbour_matrix(cells, 1)
    counts = rng.poisson(0.5, (cells.size, 30))
    counts[:10] += rng.poisson(2, (10, 30))
    for fdr in ("cube", "week", "none"):
        r = gi_star(counts, s, fdr=fdr)
        level = (r.p_fdr < 0.10).astype(int) + (r.p_fdr < 0.05) + (r.p_fdr < 0.01)
        sign = np.sign(r.p_cold - r.p_hot)
        assert_array_equal(r.gi_class, sign * level)
        assert (r.gi_class >= 2).any() and (r.gi_class <= -1).any()
        assert r.gi_class.dtype == np.int8
        assert np.all(r.p_fdr >= r.p - 1e-15)


def test_negbin_tails_and_overdispersion():
    rng = np.random.default_rng(1)
    alpha, mu = 0.5, 2.0
    size = 1 / alpha
    x = rng.negative_binomial(size, size / (size + mu), 200_000)
    est = estimate_nb_overdispersion(x, np.full(x.shape, mu))
    assert est == pytest.approx(alpha, rel=0.1)
    assert estimate_nb_overdispersion(rng.poisson(mu, 200_000), np.full(200_000, mu)) < 0.02
    assert estimate_nb_overdispersion(np.zeros(10), np.zeros(10)) == 0.0
    # gi_star's NB tails equal scipy's nbinom with the moment-matched size and probability
    cells = _cells(4)
    s = neighbour_matrix(cells, 1)
    counts = rng.negative_binomial(1.0, 1 / 1.4, (cells.size, 20))  # mean 0.4, alpha 1
    r = gi_star(counts, s, p_method="negbin", exposure=np.ones(cells.size))
    assert r.overdispersion > 0.3
    m = np.broadcast_to(counts.sum(axis=0) / cells.size, counts.shape)
    v = r.expected + r.overdispersion * (space_time_weights(s, 20, 1) @ (m**2).ravel()).reshape(counts.shape)
    e = r.expected
    n_size, prob = e**2 / (v - e), e / v
    assert_allclose(r.p_hot, stats.nbinom.sf(r.neighbourhood_sum - 1, n_size, prob), rtol=1e-10)
    assert_allclose(r.p_cold, stats.nbinom.cdf(r.neighbourhood_sum, n_size, prob), rtol=1e-10)
    # overdispersion makes the test more cautious than Poisson
    poisson = gi_star(counts, s)
    assert (r.gi_class >= 2).sum() <= (poisson.gi_class >= 2).sum()


@pytest.mark.parametrize("p_method", ["poisson", "negbin", "normal"])
def test_all_zero_cube(p_method):
    s = neighbour_matrix(_cells(2), 1)
    r = gi_star(np.zeros((s.shape[0], 8), dtype=int), s, p_method=p_method)
    assert isinstance(r, GiStarResult)
    for name in ("z", "expected", "neighbourhood_sum"):
        assert_array_equal(getattr(r, name), 0.0)
    for name in ("p", "p_fdr", "p_norm"):
        assert_array_equal(getattr(r, name), 1.0)
    assert_array_equal(r.gi_class, 0)
    assert any("no events" in note for note in r.notes)


def test_result_records_parameters():
    r = gi_star(TINY, LINE, time_step=2, p_method="negbin", fdr="week", alpha_levels=(0.2, 0.1, 0.05))
    assert (r.time_step, r.p_method, r.fdr, r.alpha_levels) == (2, "negbin", "week", (0.2, 0.1, 0.05))
    assert r.z.shape == r.p_fdr.shape == r.gi_class.shape == TINY.shape
    with pytest.raises(AttributeError):
        r.p_method = "normal"  # frozen


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"counts": -TINY}, ">= 0"),
        ({"counts": TINY + 0.5}, "whole numbers"),
        ({"counts": np.ones(3)}, "2-D"),
        ({"counts": np.ones((4, 3))}, "4 cells"),
        ({"counts": np.array([[1, np.nan, 0]] * 3)}, "NaN"),
        ({"spatial": LINE * 2}, "binary"),
        ({"spatial": LINE - sp.identity(3)}, "itself"),
        ({"spatial": LINE.toarray()}, "sparse"),
        ({"p_method": "exact"}, "p_method"),
        ({"fdr": "bonferroni"}, "fdr"),
        ({"time_step": -1}, "time_step"),
        ({"time_step": 1.5}, "time_step"),
        ({"alpha_levels": (0.05, 0.1, 0.01)}, "decreasing"),
        ({"exposure": np.ones(4)}, "exposure"),
        ({"exposure": np.array([0.0, 1.0, 1.0])}, "zero exposure"),
        ({"exposure": np.array([1.0, -1.0, 1.0])}, ">= 0"),
    ],
)
def test_invalid_input(kwargs, match):
    args = {"counts": TINY, "spatial": LINE}
    args.update(kwargs)
    with pytest.raises(InvalidInputError, match=match):
        gi_star(**args)
    assert issubclass(InvalidInputError, ValueError)


def test_docstring_examples():
    import doctest

    import analytics.gistar as module

    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
