"""Which methods the verdict may use: the placebo calibration on real data (issue 15).

``python -m benchmarks.placebo`` draws >= 200 null targets per data set — places chosen
because they were busy before a random start, as agencies choose them — and measures per
method the false-positive rate at α = 0.05, the median estimate and how often the 95 %
interval covers zero (benchmarks/RESULTS.md). :data:`CALIBRATION` holds those numbers for
the real data sets, copied from the last run; the benchmark prints this block to paste.

A method enters the verdict only when it was measured on every real data set of
:data:`CALIBRATION` and is :func:`admissible` on each: it meets issue 15's targets as stated
(:data:`TARGETS`, :func:`meets`) — false-positive rate ≤ 7 %, median within ±5 %, coverage of zero
≥ 90 %. The median's bootstrap 95 % interval over targets (``median_ci``; on sparse data the median
of 200 relative effects moves by ±10 % by chance alone) is shown in the tables but admits nothing.
Otherwise ``hotspots evaluate`` still shows the method, left out of the verdict, with a warning
naming where it missed (:func:`calibration_warning`).

Two null-target designs are measured (``--design cells places``). Admission uses the ``cells``
design (a cell and its ring, from the busiest decile, :data:`CALIBRATION`). The ``places`` design
(plan-like groups, mostly one or two busy cells, :data:`CALIBRATION_PLACES`) is reported and, where an
admitted method misses there, adds a warning (:func:`design_warning`) instead of removing it: its
false-positive rate and coverage held on every data set (1.3–2.5 % and ≥ 97.5 % on Denver's plan-like
places), so the verdict's claims stay calibrated, but DiD's median on small busy places did not (+12 %
on Denver, bootstrap interval +1.5 % to +22 %), so the size of an estimate there is suspect.

Measured 2026-12-06 23:54 UTC (:data:`CALIBRATION_RUN`) on Denver (26-week design) and San Francisco
2012 (four layers together; a design scaled to its 26 weeks: 13-week selection window and before
period, up to 13 weeks after, ``benchmarks.placebo.SHORT_DESIGNS``): the strict rule admits DiD, ITS
and the panel regression (they meet every target on both); synthetic control is left out (Denver
median −6 %, San Francisco false positives 7.5 %).

Only null targets that :mod:`analytics.evaluation.evaluability` finds evaluable — decided from the
before period alone, as ``hotspots evaluate`` decides it — enter the numbers; the others are counted
in :data:`CALIBRATION_TOO_SPARSE` (too sparse, no estimate claimed), never dropped silently. A data
set where no null target is evaluable (Chicago carjackings: every busy place averages well under one
event a week) has no rows: there ``hotspots evaluate`` says "too sparse to evaluate" and claims
nothing, so it cannot admit or exclude a method.
"""

from __future__ import annotations

from typing import Mapping

__all__ = ["TARGETS", "CALIBRATION", "CALIBRATION_PLACES", "CALIBRATION_RUN", "CALIBRATION_TOO_SPARSE", "meets",
           "admissible", "admitted", "calibration_warning", "design_warning"]

#: Issue 15's targets for a method the verdict uses.
TARGETS = {"fpr": 0.07, "median": 0.05, "coverage": 0.90}

#: When and how :data:`CALIBRATION` and :data:`CALIBRATION_PLACES` were measured.
CALIBRATION_RUN = ("python -m benchmarks.placebo --targets 200 --design cells places, seed 0, before period 26 weeks "
                   "(San Francisco 2012: 13, its short design), evaluable null targets only, 2026-12-06 23:54 UTC")

#: {method: {real data set: {"fpr", "median", "median_ci", "coverage", "n"}}} from benchmarks/RESULTS.md, null
#: targets of the ``cells`` design (a cell and its ring, from the busiest decile): decides admission.
CALIBRATION: dict[str, dict[str, dict]] = {
    "did": {
        "Denver, all crimes": {"fpr": 0.041, "median": 0.002, "median_ci": [-0.075, 0.082],
                               "coverage": 0.959, "n": 170},
        "San Francisco 2012, four layers": {"fpr": 0.050, "median": 0.018, "median_ci": [-0.020, 0.048],
                                            "coverage": 0.950, "n": 200},
    },
    "its": {
        "Denver, all crimes": {"fpr": 0.032, "median": -0.030, "median_ci": [-0.065, 0.047],
                               "coverage": 0.968, "n": 154},
        "San Francisco 2012, four layers": {"fpr": 0.050, "median": 0.018, "median_ci": [-0.017, 0.049],
                                            "coverage": 0.950, "n": 200},
    },
    "synthetic_control": {
        "Denver, all crimes": {"fpr": 0.053, "median": -0.064, "median_ci": [-0.123, 0.026],
                               "coverage": 0.947, "n": 170},
        "San Francisco 2012, four layers": {"fpr": 0.075, "median": 0.017, "median_ci": [-0.034, 0.057],
                                            "coverage": 0.925, "n": 200},
    },
    "panel_poisson": {
        "Denver, all crimes": {"fpr": 0.041, "median": 0.006, "median_ci": [-0.069, 0.092],
                               "coverage": 0.959, "n": 170},
        "San Francisco 2012, four layers": {"fpr": 0.055, "median": 0.022, "median_ci": [-0.014, 0.054],
                                            "coverage": 0.945, "n": 200},
    },
}

#: The same for the ``places`` design (plan-like connected groups of <= 7 cells, mostly one or two cells, from
#: the top 20 entries): shown as a warning on an admitted method that misses there (:func:`design_warning`),
#: not used for admission (module notes).
CALIBRATION_PLACES: dict[str, dict[str, dict]] = {
    "did": {
        "Denver, all crimes, plan-like places": {"fpr": 0.013, "median": 0.119, "median_ci": [0.015, 0.217],
                                                 "coverage": 0.987, "n": 159},
        "San Francisco 2012, four layers, plan-like places": {"fpr": 0.033, "median": 0.007, "median_ci": [-0.063, 0.078],
                                                              "coverage": 0.967, "n": 120},
    },
    "its": {
        "Denver, all crimes, plan-like places": {"fpr": 0.014, "median": 0.096, "median_ci": [-0.018, 0.200],
                                                 "coverage": 0.986, "n": 138},
        "San Francisco 2012, four layers, plan-like places": {"fpr": 0.033, "median": 0.009, "median_ci": [-0.061, 0.072],
                                                              "coverage": 0.967, "n": 120},
    },
    "synthetic_control": {
        "Denver, all crimes, plan-like places": {"fpr": 0.000, "median": 0.010, "median_ci": [-0.192, 0.151],
                                                 "coverage": 1.000, "n": 157},
        "San Francisco 2012, four layers, plan-like places": {"fpr": 0.050, "median": 0.050, "median_ci": [-0.020, 0.121],
                                                              "coverage": 0.950, "n": 120},
    },
    "panel_poisson": {
        "Denver, all crimes, plan-like places": {"fpr": 0.025, "median": 0.121, "median_ci": [-0.022, 0.235],
                                                 "coverage": 0.975, "n": 159},
        "San Francisco 2012, four layers, plan-like places": {"fpr": 0.058, "median": 0.016, "median_ci": [-0.037, 0.076],
                                                              "coverage": 0.942, "n": 120},
    },
}

#: Null targets too sparse to evaluate (:mod:`analytics.evaluation.evaluability`, decided from the before period)
#: per real data set and design: (too sparse, drawn). They enter no row above; where all are, the data set has none.
CALIBRATION_TOO_SPARSE: dict[str, tuple[int, int]] = {
    "Denver, all crimes": (30, 200),
    "Chicago 2020, carjackings": (200, 200),
    "San Francisco 2012, four layers": (0, 200),
    "Denver, all crimes, plan-like places": (41, 200),
    "Chicago 2020, carjackings, plan-like places": (200, 200),
    "San Francisco 2012, four layers, plan-like places": (0, 120),
}


def meets(row: Mapping, targets: Mapping = TARGETS) -> bool:
    """True when one data set's placebo numbers meet every target.

    Examples
    --------
    >>> meets({"fpr": 0.05, "median": -0.02, "coverage": 0.95}), meets({"fpr": 0.09, "median": 0, "coverage": 0.91})
    (True, False)
    """
    return (row["fpr"] <= targets["fpr"] + 1e-12 and abs(row["median"]) <= targets["median"] + 1e-12
            and row["coverage"] >= targets["coverage"] - 1e-12)


def admissible(row: Mapping, targets: Mapping = TARGETS) -> bool:
    """True when one data set's placebo numbers let a method into the verdict (module notes): every
    target is met as issue 15 states it (:func:`meets`) — false-positive rate, coverage of zero and the
    median itself. The median's bootstrap interval (``median_ci``) is shown in the tables but does not
    admit a median outside the band.

    Examples
    --------
    >>> admissible({"fpr": 0.06, "median": -0.04, "median_ci": [-0.15, 0.06], "coverage": 0.93})
    True
    >>> admissible({"fpr": 0.06, "median": -0.07, "median_ci": [-0.17, 0.05], "coverage": 0.93})
    False
    """
    return meets(row, targets)


def admitted(methods, calibration: Mapping[str, Mapping[str, Mapping]] = CALIBRATION) -> list[str]:
    """The methods (in the order given) :func:`admissible` on every calibrated real data set.

    A method is admitted only when it was measured on every data set that any method was
    measured on (:func:`_uncalibrated`): a method added without placebo numbers has shown
    nothing, so it stays out of the verdict until ``python -m benchmarks.placebo`` measures it.

    Examples
    --------
    >>> cal = {"did": {"A": {"fpr": 0.05, "median": 0.01, "coverage": 0.95}},
    ...        "its": {"A": {"fpr": 0.20, "median": -0.3, "coverage": 0.80}}}
    >>> admitted(["did", "its", "synthetic_control"], cal)
    ['did']
    """
    return [m for m in methods if not _uncalibrated(m, calibration)
            and all(admissible(row) for row in calibration[m].values())]


def _uncalibrated(method: str, calibration: Mapping[str, Mapping[str, Mapping]]) -> list[str]:
    """The data sets some method was measured on but ``method`` was not (all of them when it has no rows;
    ``["any real data set"]`` when nothing was measured at all)."""
    every = sorted({name for rows in calibration.values() for name in rows})
    if not every:
        return ["any real data set"]
    return [name for name in every if name not in calibration.get(method, {})]


def _sentence_start(label: str) -> str:
    return label[:1].upper() + label[1:]


def _missed(method: str, table: Mapping[str, Mapping[str, Mapping]]) -> dict[str, Mapping]:
    """The data sets of ``table`` where ``method`` missed the calibration targets, with their rows."""
    return {name: row for name, row in table.get(method, {}).items() if not admissible(row)}


def calibration_warning(method: str, label: str,
                        calibration: Mapping[str, Mapping[str, Mapping]] = CALIBRATION) -> str | None:
    """One sentence saying why ``method`` is left out of the verdict, or None when it is admitted."""
    missing = _uncalibrated(method, calibration)
    if missing:
        return (f"{_sentence_start(label)} is shown but left out of the verdict: it has not been calibrated "
                f"on null placebo targets in {', '.join(missing)} (python -m benchmarks.placebo).")
    missed = _missed(method, calibration)
    if not missed:
        return None
    where = "; ".join(f"{name}: {row['fpr']:.1%} false positives, median {row['median'] * 100:+.0f} %, interval "
                      f"covering no change in {row['coverage']:.0%}" for name, row in missed.items())
    return (f"{_sentence_start(label)} is shown but left out of the verdict: on null placebo targets in real "
            f"data it missed the calibration targets (at most {TARGETS['fpr']:.0%} false positives, interval "
            f"covering no change in at least {TARGETS['coverage']:.0%}, median within ±{TARGETS['median']:.0%}) — "
            f"{where} (benchmarks/RESULTS.md).")


def design_warning(methods: Mapping[str, str],
                   places: Mapping[str, Mapping[str, Mapping]] = CALIBRATION_PLACES) -> str | None:
    """One sentence naming every method of ``methods`` ({key: label}) that missed the calibration targets on
    plan-like places (:data:`CALIBRATION_PLACES`), else None. Meant for admitted methods: it qualifies their
    estimates, it does not remove them.

    Examples
    --------
    >>> places = {"did": {"A": {"fpr": 0.01, "median": 0.12, "coverage": 0.99, "n": 159}},
    ...           "its": {"A": {"fpr": 0.02, "median": 0.01, "coverage": 0.98, "n": 140}}}
    >>> design_warning({"did": "difference-in-differences", "its": "interrupted time series"}, places)[:62]
    'Difference-in-differences: on null targets drawn as the weekly'
    >>> design_warning({"its": "interrupted time series"}, places) is None
    True
    """
    missed = {key: rows for key in methods for rows in [_missed(key, places)] if rows}
    if not missed:
        return None
    labels = [methods[key] for key in missed]
    named = labels[0] if len(labels) == 1 else f"{', '.join(labels[:-1])} and {labels[-1]}"
    several = len(missed) > 1

    def where(rows: Mapping[str, Mapping]) -> str:
        return "; ".join(f"{name}: median {row['median'] * 100:+.0f} % over {row['n']} evaluable null targets, "
                         f"{row['fpr']:.1%} false positives" for name, row in rows.items())

    detail = ("; ".join(f"{methods[key]} — {where(rows)}" for key, rows in missed.items()) if several
              else where(next(iter(missed.values()))))
    their, estimate, rate = ("their", "estimates", "false-positive rates") if several else (
        "its", "estimate", "false-positive rate")
    return (f"{_sentence_start(named)}: on null targets drawn as the weekly plan forms its places (mostly one "
            f"or two cells) {their} {estimate} missed the ±{TARGETS['median']:.0%} median target ({detail}) while "
            f"{their} {rate} held; read the size of an estimate for a small or sparse place with care "
            "(benchmarks/RESULTS.md).")
