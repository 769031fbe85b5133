"""Did a disruption work, and did it displace harm? (METHODS §9, researchers).

Pure computation on counts, arrays and DataFrames; no files, no DuckDB. Each
estimator is one function returning a frozen dataclass whose fields use the
papers' notation, so a reader holding the paper can follow the code:

* :func:`wdd` — weighted displacement difference (Wheeler & Ratcliffe 2018), its
  Poisson variance, z and p.
* :func:`wdq` — weighted displacement quotient (Bowers & Johnson 2003) with a
  bootstrap interval; meaningful only when the treated area improved (SM < 0).
* :func:`match_controls` + :func:`did_matched` — difference-in-differences against
  control cells matched on pre-period level, trend and neighbourhood level
  (:func:`neighbourhood_counts`; buffer excluded), with a placebo-in-space permutation p.
* :func:`its_glm` + :func:`its_matched` — interrupted time series: segmented Poisson /
  negative-binomial GLM (statsmodels) with Newey–West errors, a trend only from 52
  pre-period weeks, and — in :func:`its_matched` — relative to the matched controls' path
  with placebo-in-space inference.
* :func:`panel_matched` (+ :func:`fit_panel_fe`) — Poisson / negative-binomial regression of the
  target's and matched controls' cells with place and week fixed effects and a treated × after
  term (parallel trends on the log scale), placebo-in-space p.
* :func:`synthetic_control` — synthetic control on aggregated periods, weights ≥ 0
  summing to 1 (constrained least squares, scipy), placebo-in-space p.
* :func:`minimum_detectable_effect`, :func:`power_for_effect`, :func:`weeks_needed` —
  pre-analysis power: the smallest fall a design can detect (root search over falls of
  up to 95 %), and the post weeks needed for a stated fall.
* :func:`placebo_test` — a placebo-in-space p and the interval that inverts the same test
  (so an interval excludes zero exactly when p <= alpha; the verdict rule lives in
  :mod:`analytics.verdict`).
* :func:`rri`, :func:`coverage_metrics`, :func:`ring_kde_scores`,
  :func:`bootstrap_mean_ci` — pieces of the rolling-origin accuracy backtest
  (hit rate, PAI and PEI* come from :mod:`analytics.accuracy`).

Relative effects are ``exp(log effect) - 1``: −0.30 is a 30 % fall. Every function
that samples takes ``seed``.

The package has one module per job: ``common`` (outcomes, the placebo test, the
significance rule), ``matching``, ``did``, ``its``, ``synthetic_control``,
``displacement`` (WDD, WDQ), ``panel_glm`` (the panel regression), ``power``, ``panel`` (all methods on one panel) and
``backtest``; the names above are importable from here.
"""

from __future__ import annotations

from analytics.evaluation.backtest import bootstrap_mean_ci, coverage_metrics, ring_kde_scores, rri
from analytics.evaluation.common import DETECTION_DRIVEN, OUTCOMES, outcome_series, placebo_test, rejects
from analytics.evaluation.did import DiDResult, _few_placebos_test, did_matched, did_poisson
from analytics.evaluation.displacement import WDDResult, WDQResult, wdd, wdq
from analytics.evaluation.its import MIN_TREND_WEEKS, ITSResult, its_glm, its_matched
from analytics.evaluation.matching import match_controls, neighbourhood_counts
from analytics.evaluation.panel import PanelEvaluation, evaluate_panel
from analytics.evaluation.panel_glm import PanelResult, fit_panel_fe, panel_matched
from analytics.evaluation.power import MAX_DETECTABLE_FALL, minimum_detectable_effect, power_for_effect, weeks_needed
from analytics.evaluation.synthetic_control import SCResult, simplex_weights, synthetic_control

__all__ = [
    "WDDResult", "wdd", "WDQResult", "wdq", "match_controls", "DiDResult", "did_poisson", "did_matched",
    "ITSResult", "its_glm", "its_matched", "MIN_TREND_WEEKS", "neighbourhood_counts", "SCResult",
    "synthetic_control", "simplex_weights", "minimum_detectable_effect",
    "power_for_effect", "weeks_needed", "MAX_DETECTABLE_FALL", "placebo_test", "rejects",
    "DETECTION_DRIVEN", "OUTCOMES", "outcome_series", "rri", "coverage_metrics", "ring_kde_scores",
    "bootstrap_mean_ci", "evaluate_panel", "PanelEvaluation", "PanelResult", "fit_panel_fe", "panel_matched",
]
