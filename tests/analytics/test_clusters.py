"""Tests for ST-DBSCAN, cluster hulls and the Knox test (METHODS §6)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyproj
import pytest
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from shapely.geometry import Point

from analytics.clusters import cluster_summaries, knox_test, st_dbscan, st_neighbour_graph
from analytics.errors import InvalidInputError

UTM56S = pyproj.CRS.from_epsg(32756)
ORIGIN = (334_000.0, 6_252_000.0)  # central Sydney in EPSG:32756 metres


def brute_force_st_dbscan(x, y, t, eps_s, eps_t, min_samples):
    """O(n²) reference: core events and their connected components."""
    d = np.hypot(x[:, None] - x[None, :], y[:, None] - y[None, :])
    nb = (d <= eps_s) & (np.abs(t[:, None] - t[None, :]) <= eps_t)
    core = nb.sum(axis=1) >= min_samples
    core_graph = sp.csr_matrix(nb & core[:, None] & core[None, :])
    _, comp = connected_components(core_graph, directed=False)
    return nb, core, comp


def same_partition(a, b):
    pairs = set(zip(a.tolist(), b.tolist()))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


def test_two_obvious_clusters_and_noise():
    rng = np.random.default_rng(0)
    a = rng.normal(0, 30, (12, 2))
    b = rng.normal(0, 30, (10, 2)) + [2000, 0]
    noise = np.array([[5000, 5000], [-4000, 3000], [0, 0]])
    xy = np.vstack([a, b, noise])
    t = np.r_[rng.uniform(0, 7, 22), 3.0, 50.0, 200.0]  # last noise point: same place, far in time
    labels = st_dbscan(xy[:, 0], xy[:, 1], t, eps_space_m=300, eps_time_days=14, min_samples=4)
    assert len(set(labels[:12])) == 1 and labels[0] >= 0
    assert len(set(labels[12:22])) == 1 and labels[12] >= 0
    assert labels[0] != labels[12]
    assert (labels[22:] == -1).all()


def test_identical_place_and_time_forms_one_cluster():
    x = np.full(30, ORIGIN[0])
    y = np.full(30, ORIGIN[1])
    t = np.full(30, 19_000.0)
    labels = st_dbscan(x, y, t)
    assert (labels == 0).all()
    # the graph keeps every zero-distance pair as an explicit entry
    g = st_neighbour_graph(x, y, t, 300, 14)
    assert g.nnz == 30 * 30
    assert (g.data > 0).all() and (g.data <= 300).all()


def test_ties_in_larger_data_are_kept():
    # 400 events on 4 points (cell-snapped), week-binned times: every pair tied.
    x = np.repeat([0.0, 0.0, 1000.0, 5000.0], 100)
    y = np.repeat([0.0, 0.0, 0.0, 0.0], 100)
    t = np.tile(np.repeat([0.0, 7.0], 50), 4)
    labels = st_dbscan(x, y, t, eps_space_m=300, eps_time_days=7, min_samples=4)
    assert len(set(labels[:200])) == 1          # same point, weeks 7 days apart
    assert len({labels[200], labels[300]}) == 2  # 1 km and 5 km away are separate clusters
    assert (labels >= 0).all()


def test_time_separation_splits_a_spatial_cluster():
    x = np.r_[np.zeros(5), np.zeros(5)] + np.arange(10)
    y = np.zeros(10)
    t = np.r_[np.arange(5.0), 100 + np.arange(5.0)]
    labels = st_dbscan(x, y, t, eps_space_m=50, eps_time_days=14, min_samples=3)
    assert len(set(labels[:5])) == 1 and len(set(labels[5:])) == 1
    assert labels[0] != labels[5] and (labels >= 0).all()
    # with a wide time band it is one cluster
    assert len(set(st_dbscan(x, y, t, 50, 200, 3))) == 1


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_brute_force_on_random_data(seed):
    rng = np.random.default_rng(seed)
    n = 400
    # a few dense blobs plus background, coordinates snapped to 50 m and times to whole days
    centres = rng.uniform(0, 5000, (5, 2))
    pick = rng.integers(0, 5, n)
    xy = np.where(rng.random((n, 1)) < 0.7, centres[pick] + rng.normal(0, 200, (n, 2)), rng.uniform(0, 5000, (n, 2)))
    xy = np.round(xy / 50) * 50
    t = np.round(rng.uniform(0, 120, n))
    eps_s, eps_t, m = 300.0, 14.0, 4
    labels = st_dbscan(xy[:, 0], xy[:, 1], t, eps_s, eps_t, m)
    nb, core, comp = brute_force_st_dbscan(xy[:, 0], xy[:, 1], t, eps_s, eps_t, m)
    assert core.any() and (~core).any()
    # core events: identical partition up to relabelling
    assert (labels[core] >= 0).all()
    assert same_partition(labels[core], comp[core])
    # noise: exactly the non-core events with no core neighbour
    has_core_nb = (nb & core[None, :]).any(axis=1)
    assert np.array_equal(labels == -1, ~core & ~has_core_nb)
    # border events: labelled with the cluster of one of their core neighbours
    for i in np.flatnonzero(~core & has_core_nb):
        assert labels[i] in set(labels[nb[i] & core])


def test_st_dbscan_rejects_bad_parameters():
    with pytest.raises(InvalidInputError, match="eps_space_m"):
        st_dbscan([0], [0], [0], eps_space_m=0)
    with pytest.raises(InvalidInputError, match="min_samples"):
        st_dbscan([0], [0], [0], min_samples=0)
    with pytest.raises(InvalidInputError, match="same length"):
        st_dbscan([0, 1], [0], [0])
    with pytest.raises(InvalidInputError, match="NaN"):
        st_dbscan([np.nan], [0], [0])
    assert st_dbscan([], [], []).size == 0


def test_cluster_summaries_projected_input():
    x = ORIGIN[0] + np.array([0, 100, 0, 100, 50, 5000, 5000, 9000])
    y = ORIGIN[1] + np.array([0, 0, 100, 100, 50, 0, 0, 0])
    t = pd.to_datetime(["2025-01-01", "2025-01-03", "2025-01-02", "2025-01-05",
                        "2025-01-04", "2025-02-01", "2025-02-02", "2025-03-01"], utc=True)
    points = pd.DataFrame({"x": x, "y": y, "t": t, "person_key": ["a", "b", "a", "c", "c", "d", "e", "f"]})
    labels = np.array([0, 0, 0, 0, 0, 1, 1, -1])
    out = cluster_summaries(points, labels, crs=UTM56S)
    assert out.crs.to_epsg() == 4326
    assert out["label"].tolist() == [0, 1]
    assert out["n_events"].tolist() == [5, 2]
    assert out["n_young_people"].tolist() == [3, 2]
    assert out.loc[0, "first_t"] == pd.Timestamp("2025-01-01", tz="UTC")
    assert out.loc[0, "last_t"] == pd.Timestamp("2025-01-05", tz="UTC")
    assert out.loc[0, "area_m2"] == pytest.approx(100 * 100)
    # one distinct point -> buffered disc of 25 m
    assert out.loc[1, "area_m2"] == pytest.approx(np.pi * 25**2, rel=0.01)
    assert "person_key" not in out.columns
    # hull contains its events (checked back in lon/lat)
    to_ll = pyproj.Transformer.from_crs(UTM56S, "EPSG:4326", always_xy=True)
    lon, lat = to_ll.transform(ORIGIN[0] + 50, ORIGIN[1] + 50)
    assert out.geometry.iloc[0].contains(Point(lon, lat))


def test_cluster_summaries_lonlat_input_and_errors():
    pts = pd.DataFrame({"lon": [151.2093, 151.2094, 151.2093], "lat": [-33.8688, -33.8688, -33.8689],
                        "t": [1.0, 2.0, 3.0], "person_key": ["a", "b", "b"]})
    out = cluster_summaries(pts, [0, 0, 0])
    assert out["n_young_people"].tolist() == [2]
    assert out.crs.to_epsg() == 4326 and out.geometry.iloc[0].area > 0
    with pytest.raises(InvalidInputError, match="crs"):
        cluster_summaries(pts.rename(columns={"lon": "x", "lat": "y"}), [0, 0, 0])
    with pytest.raises(InvalidInputError, match="labels"):
        cluster_summaries(pts, [0, 0])
    assert len(cluster_summaries(pts, [-1, -1, -1])) == 0


@pytest.mark.parametrize("seed", [0, 4])
def test_knox_matches_pointpats(seed):
    from pointpats.spacetime import Knox

    rng = np.random.default_rng(seed)
    n = 150
    xy = np.round(rng.uniform(0, 3000, (n, 2)) / 25) * 25   # ties in space
    t = np.round(rng.uniform(0, 60, n))                        # ties in time
    ours = knox_test(xy[:, 0], xy[:, 1], t, delta_m=300, tau_days=7, permutations=0)
    ref = Knox(xy, t[:, None], delta=300, tau=7, permutations=0)
    assert ours.statistic == ref.statistic_ == ref.nst
    assert ours.expected == pytest.approx(ref.expected[0, 0], rel=1e-12)
    assert ours.ns == ref.observed[0].sum()
    assert ours.nt == ref.observed[0, 0] + ref.observed[1, 0]


def test_knox_detects_interaction_and_is_reproducible():
    rng = np.random.default_rng(1)
    centres = rng.uniform(0, 10_000, (10, 2))
    xy = np.repeat(centres, 8, axis=0) + rng.normal(0, 50, (80, 2))
    t = np.repeat(rng.uniform(0, 365, 10), 8) + rng.uniform(0, 3, 80)   # each place active at one time
    a = knox_test(xy[:, 0], xy[:, 1], t, 300, 7, permutations=199, seed=5)
    b = knox_test(xy[:, 0], xy[:, 1], t, 300, 7, permutations=199, seed=5)
    assert a.p_sim == pytest.approx(1 / 200) and a.ratio > 5
    assert np.array_equal(a.sim, b.sim)
    t_null = rng.uniform(0, 365, 80)
    null = knox_test(xy[:, 0], xy[:, 1], t_null, 300, 7, permutations=199, seed=5)
    assert null.p_sim > 0.05
