"""Golden series for both rule sets (issue 13, item 9): ESRI's published rules (``EmergingParams.arcgis()``,
no share_class) and the default (evidence for a rise; the share on each week's own test).

Each row: Gi* classes on the map, classes on each week's own test, counts of the cell, MK trend ->
the category under each rule set. Where they differ, the default's docstring says why
(analytics.emerging, "Where the default differs from ArcGIS").
"""

from __future__ import annotations

import numpy as np
import pytest

from analytics.emerging import EmergingParams, classify_emerging
from analytics.trend import MKResult

T = 26
UP, FLAT = (0.6, 0.001), (0.0, 1.0)


def _mk(trends) -> MKResult:
    tau = np.array([t for t, _ in trends], dtype=float)
    p = np.array([p for _, p in trends], dtype=float)
    n = tau.size
    return MKResult(s=tau * 100, var_s=np.ones(n), z=np.sign(tau), p=p, tau=tau,
                    trend=np.where(p < 0.05, np.sign(tau), 0).astype(np.int8), method="original", alpha=0.05,
                    n_eff_ratio=np.ones(n))


def _classes(hot_weeks, value: int = 2) -> np.ndarray:
    g = np.zeros(T, dtype=np.int8)
    g[list(hot_weeks)] = value
    return g


STEADY = np.full(T, 3.0)                                 # a busy venue at its usual level
RISING = np.r_[np.zeros(T - 3), [6.0, 7.0, 9.0]]          # nothing, then a rise
RISING_HALF = np.r_[np.full(T - T // 2, 1.0), np.full(T // 2, 5.0)]

# name: (map classes, own-test classes, counts, trend, ArcGIS category, default category)
GOLDEN = {
    "steady venue, first hot week": (_classes([25]), _classes([25]), STEADY, FLAT, "new_hot", "sporadic_hot"),
    "real rise, first hot week": (_classes([25]), _classes([25]), np.r_[np.zeros(T - 1), 9.0], FLAT,
                                  "new_hot", "new_hot"),
    "steady venue, hot run": (_classes(range(23, 26)), _classes(range(23, 26)), STEADY, FLAT,
                              "consecutive_hot", "sporadic_hot"),
    "real rise, hot run": (_classes(range(23, 26)), _classes(range(23, 26)), RISING, UP,
                           "consecutive_hot", "consecutive_hot"),
    "trend up, steady counts": (_classes(range(T)), _classes(range(T)), STEADY, UP,
                                "intensifying_hot", "persistent_hot"),
    "trend up, counts rise": (_classes(range(T)), _classes(range(T)), RISING_HALF, UP,
                              "intensifying_hot", "intensifying_hot"),
    # 22 of 26 weeks hot after the cube-wide correction, 26 of 26 on each week's own test
    "corrected misses four weeks": (_classes([w for w in range(T) if w not in (1, 4, 9, 14)]), _classes(range(T)),
                                    STEADY, FLAT, "sporadic_hot", "persistent_hot"),
    # historical: >= 90 % of ALL 26 weeks (24), all earlier, in both rule sets
    "historical, 24 of 26": (_classes([w for w in range(25) if w != 3]), _classes([w for w in range(25) if w != 3]),
                             STEADY, FLAT, "historical_hot", "historical_hot"),
    "not historical, 23 of 26": (_classes([w for w in range(25) if w not in (3, 8)]),
                                 _classes([w for w in range(25) if w not in (3, 8)]), STEADY, FLAT,
                                 "no_pattern", "no_pattern"),
}


def _run(rule_set: str):
    names = list(GOLDEN)
    g = np.stack([GOLDEN[n][0] for n in names])
    own = np.stack([GOLDEN[n][1] for n in names])
    counts = np.stack([GOLDEN[n][2] for n in names])
    mk = _mk([GOLDEN[n][3] for n in names])
    if rule_set == "arcgis":
        return names, classify_emerging(g, mk, counts, EmergingParams.arcgis())
    return names, classify_emerging(g, mk, counts, EmergingParams(), share_class=own)


@pytest.mark.parametrize("rule_set, column", [("arcgis", 4), ("default", 5)])
def test_golden_series_per_rule_set(rule_set, column):
    names, out = _run(rule_set)
    got = dict(zip(names, out["category"]))
    expected = {n: GOLDEN[n][column] for n in names}
    assert got == expected, {n: r for n, r in zip(names, out["reason"]) if got[n] != expected[n]}


def test_arcgis_rules_check_no_rise_and_count_the_map_classes():
    _, out = _run("arcgis")
    assert (out["rise_weeks"] == 0).all() and (out["rise_p"] == 1.0).all()
    assert (out["share_hot_weeks"] == out["hot_weeks"]).all()
    assert not EmergingParams.arcgis().needs_evidence and EmergingParams().needs_evidence


def test_default_reasons_say_why_they_differ():
    names, out = _run("default")
    reason = dict(zip(names, out["reason"]))
    assert "no confirmed rise" in reason["steady venue, first hot week"]
    assert "trend up but no confirmed rise" in reason["trend up, steady counts"]
    assert "each week's own test; 22 after the false-discovery correction" in reason["corrected misses four weeks"]
