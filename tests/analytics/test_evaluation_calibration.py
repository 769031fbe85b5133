"""Which methods the verdict may use: the placebo calibration (issue 15, item 2)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from analytics.evaluation.calibration import (CALIBRATION, CALIBRATION_PLACES, TARGETS, admitted, calibration_warning,
                                              design_warning, meets)
from analytics.verdict import VERDICT_METHODS

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "RESULTS.md"

GOOD = {"fpr": 0.05, "median": -0.02, "coverage": 0.95}
CAL = {"did": {"Denver": GOOD, "Chicago": GOOD},
       "its": {"Denver": {"fpr": 0.09, "median": 0.01, "coverage": 0.91}, "Chicago": GOOD},
       "synthetic_control": {"Denver": GOOD, "Chicago": {"fpr": 0.02, "median": 0.08, "coverage": 0.98}}}


@pytest.mark.parametrize("row, ok", [(GOOD, True), ({**GOOD, "fpr": 0.071}, False), ({**GOOD, "median": -0.051}, False),
                                     ({**GOOD, "coverage": 0.89}, False), ({**GOOD, "fpr": TARGETS["fpr"]}, True)])
def test_meets_every_target(row, ok):
    assert meets(row) is ok


def test_a_method_missing_a_target_on_any_real_data_set_is_left_out_with_a_reason():
    assert admitted(list(VERDICT_METHODS), CAL) == ["did"]
    assert calibration_warning("did", "difference-in-differences", CAL) is None
    w = calibration_warning("its", "interrupted time series", CAL)
    assert w.startswith("Interrupted time series is shown but left out of the verdict")
    assert "Denver: 9.0% false positives" in w and "Chicago" not in w
    w = calibration_warning("synthetic_control", "synthetic control", CAL)
    assert "Chicago" in w and "median +8 %" in w
    # not measured: not admitted, with a reason naming where it was not measured
    assert admitted(["did"], {}) == []
    assert admitted(["did", "panel_poisson"], CAL) == ["did"]
    w = calibration_warning("panel_poisson", "panel regression", CAL)
    assert w.startswith("Panel regression is shown but left out") and "Chicago, Denver" in w
    w = calibration_warning("panel_poisson", "panel regression", {**CAL, "panel_poisson": {"Denver": GOOD}})
    assert "not been calibrated" in w and "Chicago" in w and "Denver" not in w


def test_the_calibration_table_is_the_one_in_results_md():
    if "## Placebo calibration" not in RESULTS.read_text(encoding="utf-8"):
        pytest.skip("benchmarks/RESULTS.md has no placebo section")
    text = RESULTS.read_text(encoding="utf-8").split("## Placebo calibration", 1)[1].split("\n## ", 1)[0]
    labels = {v: k for k, v in VERDICT_METHODS.items()}
    rows = {}
    for line in text.splitlines():
        m = re.match(r"\| ([^|]+) \| ([^|]+) \| (\d+) \| ([\d.]+)% \| ([+-]?\d+) % .*?\| ([\d.]+)%", line)
        if m and m.group(2) in labels:
            rows[(labels[m.group(2)], m.group(1))] = (int(m.group(3)), float(m.group(4)) / 100,
                                                      int(m.group(5)) / 100, float(m.group(6)) / 100)
    assert rows, "no method rows found in the placebo section"
    for method in CALIBRATION:
        for name, row in {**CALIBRATION[method], **CALIBRATION_PLACES.get(method, {})}.items():
            n, fpr, median, cover = rows[(method, name)]
            assert row["n"] == n and row["fpr"] == pytest.approx(fpr, abs=6e-4), (method, name)
            assert row["median"] == pytest.approx(median, abs=0.006) and row["coverage"] == pytest.approx(
                cover, abs=6e-4), (method, name)
    real = {name for (_, name) in rows if "SYNTHETIC" not in name}
    assert all(set(per_set) == {n for n in real if not n.endswith("plan-like places")}
               for per_set in CALIBRATION.values()), "calibrate every real data set"
    assert all(set(per_set) == {n for n in real if n.endswith("plan-like places")}
               for per_set in CALIBRATION_PLACES.values()), "every real data set under the places design"
    assert set(CALIBRATION) == set(VERDICT_METHODS) == set(CALIBRATION_PLACES)


def test_a_miss_on_plan_like_places_is_a_warning_on_an_admitted_method_not_a_removal():
    places = {"did": {"Chicago, plan-like places": {"fpr": 0.05, "median": 0.43, "median_ci": [0.14, 0.67],
                                                    "coverage": 0.95, "n": 54}},
              "its": {"Chicago, plan-like places": GOOD}}
    w = design_warning({"did": "difference-in-differences"}, places)
    assert w.startswith("Difference-in-differences: on null targets drawn as the weekly plan forms its places")
    assert "median +43 % over 54 evaluable null targets" in w and "its estimate missed" in w
    assert design_warning({"its": "interrupted time series"}, places) is None
    assert design_warning({"synthetic_control": "synthetic control"}, places) is None     # not measured: no claim
    # several methods that missed: one sentence naming each, not one warning per method
    both = {**places, "panel_poisson": places["did"]}
    w = design_warning({"did": "difference-in-differences", "its": "interrupted time series",
                        "panel_poisson": "panel regression"}, both)
    assert w.startswith("Difference-in-differences and panel regression: ") and "their estimates missed" in w
    assert w.count("median +43 % over 54") == 2 and "interrupted time series" not in w
    assert admitted(["did"], CAL) == ["did"]                 # admission does not look at the places design


def test_admission_is_strict_a_bootstrap_interval_reaching_the_band_does_not_admit_a_median_outside_it():
    from analytics.evaluation.calibration import admissible
    noisy = {"fpr": 0.07, "median": -0.07, "median_ci": [-0.17, 0.05], "coverage": 0.93}
    assert not admissible(noisy) and not meets(noisy)
    assert admissible({**noisy, "median": -0.05}) and meets({**noisy, "median": -0.05})
    assert admissible({**noisy, "median": 0.04, "median_ci": [0.01, 0.09]})   # the interval neither admits nor excludes
    assert not admissible({**noisy, "median": 0.0, "fpr": 0.08})
    assert not admissible({**noisy, "median": 0.0, "coverage": 0.89})
    cal = {"did": {"A": {**noisy, "median": 0.01}, "B": {**noisy, "median": 0.03}},
           "synthetic_control": {"A": {**noisy, "median": 0.01}, "B": noisy}}
    assert admitted(["did", "synthetic_control"], cal) == ["did"]    # a miss on any one data set leaves it out
    w = calibration_warning("synthetic_control", "synthetic control", cal)
    assert "B: 7.0% false positives, median -7 %" in w and "A:" not in w
