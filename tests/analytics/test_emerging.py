"""Emerging hot spot categories: one golden series per category, precedence edge cases."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from numpy.testing import assert_array_equal

from analytics.emerging import (
    CATEGORIES,
    CATEGORY_DESCRIPTIONS,
    CATEGORY_PRECEDENCE,
    EmergingParams,
    classify_emerging,
    emerging_predicates,
    rise_evidence,
)
from analytics.errors import InvalidInputError
from analytics.trend import MKResult, mann_kendall

T = 20
H, C, O = 2, -2, 0  # significant hot (95 %), significant cold, nothing
UP, DOWN, FLAT = (0.7, 0.001), (-0.7, 0.001), (0.05, 0.6)  # (tau, p) of the z series' MK test


def _mk(trends) -> MKResult:
    """An MKResult with chosen tau / p per row (S has tau's sign)."""
    tau = np.array([t for t, _ in trends], dtype=float)
    p = np.array([p for _, p in trends], dtype=float)
    n = tau.size
    return MKResult(
        s=tau * 100,
        var_s=np.ones(n),
        z=np.sign(tau),
        p=p,
        tau=tau,
        trend=np.where(p < 0.05, np.sign(tau), 0).astype(np.int8),
        method="original",
        alpha=0.05,
        n_eff_ratio=np.ones(n),
    )


def _series(weeks: int = T, **at) -> list[int]:
    """A class series of `weeks` zeros with classes set at given weeks: _series(h=[3, 19], c=[4])."""
    out = [O] * weeks
    for week in at.get("h", []):
        out[week] = H
    for week in at.get("c", []):
        out[week] = C
    return out


#: ESRI's published rules (with this module's precedence and mostly-zero rule); the evidence-for-a-rise
#: rule has its own tests below.
ARCGIS = EmergingParams.arcgis()


def _classify(rows, trends, counts=None, params=ARCGIS) -> pd.DataFrame:
    g = np.array(rows, dtype=np.int8)
    counts = np.ones(g.shape) if counts is None else np.asarray(counts)
    return classify_emerging(g, _mk(trends), counts, params)


HOT_GOLDEN = {
    "new_hot": (_series(h=[19]), FLAT),
    "consecutive_hot": (_series(h=range(15, 20)), UP),
    "intensifying_hot": ([H] * T, UP),
    "persistent_hot": (_series(h=[w for w in range(T) if w not in (3, 7)]), FLAT),
    "diminishing_hot": ([H] * T, DOWN),
    "sporadic_hot": (_series(h=[2, 8, 13, 19]), FLAT),
    "oscillating_hot": (_series(h=[9, 15, 19], c=[4]), FLAT),
    "historical_hot": (_series(h=range(19)), DOWN),
}
GOLDEN = dict(HOT_GOLDEN)
for name, (row, (tau, p)) in HOT_GOLDEN.items():
    GOLDEN[name.replace("_hot", "_cold")] = ([-v for v in row], (-tau, p))
GOLDEN["no_pattern"] = (_series(h=[5, 10], c=[14]), FLAT)


def test_golden_series_cover_every_category():
    assert set(GOLDEN) == set(CATEGORIES)
    assert len(CATEGORIES) == 17


@pytest.mark.parametrize("category", list(GOLDEN))
def test_golden_series(category):
    row, trend = GOLDEN[category]
    df = _classify([row], [trend])
    assert df.loc[0, "category"] == category, df.loc[0, "reason"]
    assert df.loc[0, "hot_weeks"] == sum(v >= 2 for v in row)
    assert df.loc[0, "cold_weeks"] == sum(v <= -2 for v in row)
    assert df.loc[0, "final_class"] == row[-1]


def test_golden_series_all_at_once():
    """Vectorised over cells: one call gives the same answers as one call per cell."""
    names = list(GOLDEN)
    df = _classify([GOLDEN[n][0] for n in names], [GOLDEN[n][1] for n in names])
    assert df["category"].tolist() == names
    assert list(df.columns[:5]) == ["category", "reason", "hot_weeks", "cold_weeks", "cold_ignored"]
    assert {"final_class", "trend_tau", "trend_p"} <= set(df.columns)


def test_reason_text():
    df = _classify([_series(h=range(15, 20))], [(0.61, 0.01)])
    assert df.loc[0, "reason"] == "hot in 5 of the last 5 weeks, first time; trend +0.61, p = 0.01"
    reasons = _classify([GOLDEN[n][0] for n in GOLDEN], [GOLDEN[n][1] for n in GOLDEN])["reason"]
    assert all(isinstance(r, str) and r and "\n" not in r for r in reasons)
    by_name = dict(zip(GOLDEN, reasons))
    assert by_name["persistent_hot"].startswith("hot in 18 of 20 weeks including the final week")
    assert by_name["historical_hot"].startswith("not hot in the final week; hot in 19 of 20 weeks, all earlier")
    assert by_name["oscillating_hot"].startswith("hot in the final week (3 of 20 weeks); cold in 1 earlier week")
    assert by_name["intensifying_hot"].endswith("trend +0.70, p = 0.001")
    tiny = _classify([[H] * T], [(0.9, 1e-6)]).loc[0, "reason"]
    assert tiny.endswith("significantly intensifying; trend +0.90, p < 0.001")


# --------------------------------------------------------------------------- #
# precedence edge cases                                                        #
# --------------------------------------------------------------------------- #
def test_early_cold_then_hot_final_week_is_new_not_oscillating():
    row = _series(h=[19], c=[2])
    pred = emerging_predicates(np.array([row]), _mk([FLAT]), np.ones((1, T)), ARCGIS)
    assert pred["new_hot"][0] and pred["oscillating_hot"][0]  # both rules match (sfdep: oscillating)
    df = _classify([row], [FLAT])
    assert df.loc[0, "category"] == "new_hot"
    assert "cold in 1 earlier week" in df.loc[0, "reason"]
    assert CATEGORY_PRECEDENCE.index("new_hot") < CATEGORY_PRECEDENCE.index("oscillating_hot")


def test_consecutive_run_after_cold_weeks_is_consecutive():
    df = _classify([_series(h=[16, 17, 18, 19], c=[1, 5])], [UP])
    assert df.loc[0, "category"] == "consecutive_hot"


def test_single_hot_week_at_the_end_of_a_long_quiet_history():
    weeks = 52
    quiet = [1 if w % 7 == 3 else 0 for w in range(weeks)]  # only 90 % (class 1) weeks: not significant
    quiet[-1] = H
    scattered = list(quiet)
    for w in (10, 30):
        scattered[w] = H
    df = _classify([quiet, scattered], [FLAT, FLAT])
    assert df["category"].tolist() == ["new_hot", "sporadic_hot"]
    assert df.loc[0, "reason"].startswith("hot in the final week for the first time (1 of 52 weeks)")


def test_mostly_zero_cell_cannot_be_cold():
    counts = np.zeros((3, T))
    counts[:, :2] = 1  # 90 % of weeks without events
    rows = [
        [C] * T,  # would be persistent cold
        _series(h=[19], c=[3, 4]),  # would be new hot with cold history -> still new
        _series(h=[8, 19], c=[3]),  # would be oscillating hot -> sporadic (cold ignored)
    ]
    df = _classify(rows, [FLAT, FLAT, FLAT], counts=counts)
    assert df["category"].tolist() == ["no_pattern", "new_hot", "sporadic_hot"]
    assert df["cold_ignored"].tolist() == [True, True, True]
    assert df.loc[0, "cold_weeks"] == T  # raw count is still reported
    assert "cold weeks ignored (90% of weeks without events)" in df.loc[0, "reason"]
    # the same series with events in most weeks keep their cold categories
    busy = _classify(rows, [FLAT, FLAT, FLAT])
    assert busy["category"].tolist() == ["persistent_cold", "new_hot", "oscillating_hot"]
    assert not busy["cold_ignored"].any()


def test_mostly_zero_boundary_is_inclusive():
    counts = np.ones((2, T))
    counts[0, :16] = 0  # exactly 80 % zeros -> cannot be cold
    counts[1, :15] = 0  # 75 % zeros -> can
    df = _classify([[C] * T, [C] * T], [FLAT, FLAT], counts=counts)
    assert df["category"].tolist() == ["no_pattern", "persistent_cold"]


def test_ninety_percent_boundary_exactly():
    at_90 = _series(h=[w for w in range(T) if w not in (0, 5)])  # 18 of 20 = 90 %
    below = _series(h=[w for w in range(T) if w not in (0, 5, 9)])  # 17 of 20
    ten_weeks = [H] * 4 + [O] + [H] * 5  # 9 of 10 = 90 %
    df = _classify([at_90, below], [FLAT, FLAT])
    assert df["category"].tolist() == ["persistent_hot", "sporadic_hot"]
    assert _classify([ten_weeks], [FLAT]).loc[0, "category"] == "persistent_hot"
    # historical: >= 90 % of ALL 20 weeks = ceil(18.0) = 18 weeks, all of them earlier (ESRI)
    hist_18 = _series(h=[w for w in range(19) if w != 4])
    hist_17 = _series(h=[w for w in range(19) if w not in (4, 11)])
    df = _classify([hist_18, hist_17], [FLAT, FLAT])
    assert df["category"].tolist() == ["historical_hot", "no_pattern"]


@pytest.mark.parametrize("params", [ARCGIS, EmergingParams()], ids=["arcgis", "default"])
def test_historical_counts_ninety_percent_of_all_weeks(params):
    """26 weeks: ceil(0.9 * 26) = 24 hot weeks make historical; 23 (90 % of the 25 earlier weeks,
    the rule before issue 13) do not, in both rule sets."""
    weeks = 26
    hist_24 = _series(weeks, h=[w for w in range(25) if w != 4])
    hist_23 = _series(weeks, h=[w for w in range(25) if w not in (4, 11)])
    df = _classify([hist_24, hist_23], [FLAT, FLAT], counts=np.full((2, weeks), 3.0), params=params)
    assert df["category"].tolist() == ["historical_hot", "no_pattern"]
    assert df.loc[0, "reason"].startswith("not hot in the final week; hot in 24 of 26 weeks, all earlier")


def test_final_week_wins_over_history():
    # persistent pattern but not hot this week -> historical, never "persistent"
    lapsed = [H] * (T - 1) + [O]
    # hot all year, significantly cold this week -> new cold (final week), not historical hot
    flipped = [H] * (T - 1) + [C]
    pred = emerging_predicates(np.array([lapsed, flipped]), _mk([FLAT, FLAT]), np.ones((2, T)))
    assert pred["historical_hot"].all() and pred["new_cold"][1]
    df = _classify([lapsed, flipped], [FLAT, FLAT])
    assert df["category"].tolist() == ["historical_hot", "new_cold"]


def test_precedence_tuple_is_explicit():
    assert len(CATEGORY_PRECEDENCE) == 16
    assert CATEGORY_PRECEDENCE[-2:] == ("historical_hot", "historical_cold")
    assert CATEGORY_PRECEDENCE[:2] == ("new_hot", "new_cold")
    for i in range(0, 16, 2):
        assert CATEGORY_PRECEDENCE[i].replace("_hot", "_cold") == CATEGORY_PRECEDENCE[i + 1]
    assert set(CATEGORY_PRECEDENCE) | {"no_pattern"} == set(CATEGORIES)


def test_min_class_and_alpha_parameters():
    row = [H] * T  # class 2 everywhere
    strict = EmergingParams(min_class=3)
    assert _classify([row], [FLAT], params=strict).loc[0, "category"] == "no_pattern"
    weak_trend = (0.3, 0.03)
    assert _classify([row], [weak_trend]).loc[0, "category"] == "intensifying_hot"
    assert _classify([row], [weak_trend], params=EmergingParams(alpha=0.01)).loc[0, "category"] == "persistent_hot"
    longer_run = EmergingParams(min_run=3)
    two = _series(h=[18, 19])
    assert _classify([two], [FLAT], params=longer_run).loc[0, "category"] == "sporadic_hot"
    assert _classify([two], [FLAT]).loc[0, "category"] == "consecutive_hot"


def test_end_to_end_with_real_mann_kendall():
    rng = np.random.default_rng(4)
    z = np.vstack([np.linspace(2.5, 6, 30), np.full(30, 3.0) + rng.normal(0, 0.01, 30)])
    g = np.where(z > 1.96, 2, 0).astype(np.int8)
    df = classify_emerging(g, mann_kendall(z), np.ones(z.shape), ARCGIS)
    assert df["category"].tolist() == ["intensifying_hot", "persistent_hot"]
    hr = classify_emerging(g, mann_kendall(z, method="hamed_rao"), np.ones(z.shape), ARCGIS)
    assert "(Hamed-Rao)" in hr.loc[0, "reason"]


def test_empty_input():
    df = classify_emerging(np.zeros((0, 12), dtype=np.int8), _mk([]), np.zeros((0, 12)))
    assert len(df) == 0 and "category" in df.columns


def test_descriptions_cover_categories():
    assert set(CATEGORY_DESCRIPTIONS) == set(CATEGORIES)
    assert all(isinstance(v, str) and v.endswith(".") for v in CATEGORY_DESCRIPTIONS.values())


# --------------------------------------------------------------------------- #
# validation                                                                   #
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(
    "field, value",
    [
        ("hot_share", 0.5),
        ("hot_share", 1.2),
        ("hot_share", float("nan")),
        ("min_class", 0),
        ("min_class", 2.0),
        ("min_weeks", 2),
        ("min_run", 1),
        ("alpha", 0.0),
        ("alpha", True),
        ("mostly_zero_share", 0.0),
        ("mostly_zero_share", 1.5),
        ("change_alpha", 0.0),
        ("change_alpha", 1.5),
        ("min_run_events", -1),
        ("min_run_events", 2.5),
        ("min_cell_events", -1),
    ],
)
def test_params_validation(field, value):
    with pytest.raises(InvalidInputError, match=field):
        EmergingParams(**{field: value})


def test_params_report_every_problem_and_are_frozen():
    with pytest.raises(InvalidInputError) as err:
        EmergingParams(hot_share=2, alpha=5)
    assert "hot_share" in str(err.value) and "alpha" in str(err.value)
    p = EmergingParams()
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.hot_share = 0.8


@pytest.mark.parametrize(
    "gi_class, counts, trends, match",
    [
        (np.zeros((1, 5), dtype=np.int8), np.ones((1, 5)), [FLAT], "at least 10 weeks"),
        (np.zeros((1, T), dtype=np.int8), np.ones((1, T - 1)), [FLAT], "counts has shape"),
        (np.zeros((2, T), dtype=np.int8), np.ones((2, T)), [FLAT], "one Mann-Kendall result per cell"),
        (np.full((1, T), 4), np.ones((1, T)), [FLAT], "-3 to 3"),
        (np.zeros(T), np.ones(T), [FLAT], "2-D"),
    ],
)
def test_input_validation(gi_class, counts, trends, match):
    with pytest.raises(InvalidInputError, match=match):
        classify_emerging(gi_class, _mk(trends), counts)


def test_outputs_are_consistent_with_inputs():
    rng = np.random.default_rng(1)
    g = rng.choice([-3, -2, -1, 0, 0, 0, 1, 2, 3], size=(500, 26)).astype(np.int8)
    g[:50] = np.maximum(g[:50], 2)
    counts = rng.poisson(0.5, g.shape)
    df = classify_emerging(g, mann_kendall(g.astype(float)), counts)
    assert_array_equal(df["hot_weeks"], (g >= 2).sum(axis=1))
    assert_array_equal(df["cold_weeks"], (g <= -2).sum(axis=1))
    assert_array_equal(df["final_class"], g[:, -1])
    assert set(df["category"]) <= set(CATEGORIES)
    final_hot_cats = {f"{p}_hot" for p in ("new", "consecutive", "intensifying", "persistent", "diminishing",
                                           "sporadic", "oscillating")}
    assert (g[df["category"].isin(final_hot_cats).to_numpy(), -1] >= 2).all()
    assert (g[(df["category"] == "historical_hot").to_numpy(), -1] < 2).all()


def test_docstring_examples():
    import doctest

    import analytics.emerging as module

    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


# --------------------------------------------------------------------------- #
# evidence for a rise (new / consecutive / intensifying hot)                   #
# --------------------------------------------------------------------------- #
def _with_background(rows_counts: list, weeks: int = T, background: float = 10.0) -> np.ndarray:
    """Counts for the given cells plus one steady background cell (the rest of the area)."""
    return np.vstack([np.asarray(r, dtype=float) for r in rows_counts] + [np.full(weeks, background)])


def test_rise_p_worked_by_hand():
    # cell: 6 reports in 20 weeks, 4 of them in the final week; area: 10 a week + the cell's own.
    cell = np.zeros(T)
    cell[[3, 11]] = 1
    cell[-1] = 4
    counts = _with_background([cell])
    share = counts[:, -1].sum() / counts.sum()  # 14 / 206
    by_hand = sum(math.comb(6, k) * share**k * (1 - share) ** (6 - k) for k in range(4, 7))
    x, own, p = rise_evidence(counts[:1], counts[:1], np.array([1]), counts.sum(axis=0))
    assert (x[0], own[0]) == (4, 4)
    assert p[0] == pytest.approx(by_hand, rel=1e-12)
    assert p[0] < 0.001


def test_new_hot_needs_a_rise_a_steady_busy_place_is_sporadic():
    g = np.array([_series(h=[19]), _series(h=[19])], dtype=np.int8)
    g = np.vstack([g, np.zeros((1, T), dtype=np.int8)])
    step = np.r_[np.zeros(T - 1), 6.0]          # nothing, then 6 reports: a rise
    steady = np.full(T, 5.0)                    # 5 a week throughout: no rise
    df = classify_emerging(g, _mk([FLAT] * 3), _with_background([step, steady]))
    assert df["category"].tolist()[:2] == ["new_hot", "sporadic_hot"]
    assert df.loc[0, "rise_events"] == 6 and df.loc[0, "rise_p"] < 0.001
    assert "no confirmed rise" in df.loc[1, "reason"] and "5 reports nearby in the last 1 week" in df.loc[1, "reason"]
    assert df.loc[2, "rise_weeks"] == 0 and df.loc[2, "rise_p"] == 1.0  # not a candidate: not checked
    # the same classes under ESRI's published rules: both new
    arc = classify_emerging(g, _mk([FLAT] * 3), _with_background([step, steady]), ARCGIS)
    assert arc["category"].tolist()[:2] == ["new_hot", "new_hot"]


def test_too_few_reports_is_not_new_even_when_the_rise_is_significant():
    g = np.vstack([np.array([_series(h=[19])], dtype=np.int8), np.zeros((1, T), dtype=np.int8)])
    few = np.r_[np.zeros(T - 1), 3.0]
    df = classify_emerging(g, _mk([FLAT] * 2), _with_background([few]))
    assert df.loc[0, "rise_p"] < 0.01 and df.loc[0, "category"] == "sporadic_hot"
    lenient = EmergingParams(min_run_events=3)
    assert classify_emerging(g, _mk([FLAT] * 2), _with_background([few]), lenient).loc[0, "category"] == "new_hot"


def test_hot_ring_around_a_busy_cell_needs_reports_of_its_own():
    # cells 0 and 1 are neighbours; the reports are all in cell 0, both are hot (Gi* smoothing)
    g = np.vstack([np.array([_series(h=range(17, 20))] * 2, dtype=np.int8), np.zeros((1, T), dtype=np.int8)])
    busy = np.r_[np.zeros(T - 3), 5.0, 6.0, 7.0]
    counts = _with_background([busy, np.zeros(T)])
    spatial = sp.csr_matrix(np.array([[1, 1, 0], [1, 1, 0], [0, 0, 1]], dtype=float))
    df = classify_emerging(g, _mk([UP] * 3), counts, spatial=spatial)
    assert df["category"].tolist()[:2] == ["consecutive_hot", "sporadic_hot"]
    assert df.loc[1, "rise_events"] == 18 and "(0 in the cell)" in df.loc[1, "reason"]


def test_unconfirmed_intensifying_is_persistent():
    g = np.vstack([np.full((2, T), 2, dtype=np.int8), np.zeros((1, T), dtype=np.int8)])
    rising = np.linspace(1, 12, T).round()
    steady = np.full(T, 6.0)
    df = classify_emerging(g, _mk([UP, UP, FLAT]), _with_background([rising, steady]))
    assert df["category"].tolist()[:2] == ["intensifying_hot", "persistent_hot"]
    assert df.loc[0, "rise_weeks"] == T - T // 2
    assert "trend up but no confirmed rise" in df.loc[1, "reason"]


def test_cold_categories_are_unchanged_by_the_evidence_rule():
    rows = [GOLDEN[n][0] for n in GOLDEN if n.endswith("_cold")]
    trends = [GOLDEN[n][1] for n in GOLDEN if n.endswith("_cold")]
    g = np.array(rows, dtype=np.int8)
    default = classify_emerging(g, _mk(trends), np.ones(g.shape))
    assert default["category"].tolist() == [n for n in GOLDEN if n.endswith("_cold")]


def test_spatial_matrix_is_validated():
    g = np.zeros((2, T), dtype=np.int8)
    with pytest.raises(InvalidInputError, match="spatial must be a sparse"):
        classify_emerging(g, _mk([FLAT] * 2), np.ones((2, T)), spatial=np.eye(2))
    with pytest.raises(InvalidInputError, match="spatial must be a sparse"):
        classify_emerging(g, _mk([FLAT] * 2), np.ones((2, T)), spatial=sp.eye(3, format="csr"))


def test_arcgis_params_switch_the_evidence_off():
    assert not EmergingParams.arcgis().needs_evidence and EmergingParams().needs_evidence
    assert EmergingParams.arcgis(min_class=3).min_class == 3
