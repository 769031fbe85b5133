"""Every estimator on one (units x weeks) panel: what ``hotspots evaluate`` and the benchmarks run."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analytics.evaluation.did import did_matched
from analytics.evaluation.displacement import WDQResult, wdd, wdq
from analytics.evaluation.its import its_matched
from analytics.evaluation.matching import match_controls
from analytics.evaluation.panel_glm import panel_matched
from analytics.evaluation.synthetic_control import synthetic_control


@dataclass(frozen=True)
class PanelEvaluation:
    """Every estimator on one panel, with the series used (for plots and CSVs)."""

    methods: dict
    series: pd.DataFrame
    sc_series: pd.DataFrame
    matches: np.ndarray
    buffer_matches: np.ndarray


def evaluate_panel(y: np.ndarray, post: np.ndarray, treated: np.ndarray, buffer: np.ndarray, pool: np.ndarray, *,
                   k: int = 20, k_buffer: int = 5, alpha: float = 0.05, n_boot: int = 2000, period_weeks: int = 4,
                   seed: int = 0, its_harmonics: int | None = None,
                   neighbourhood: np.ndarray | None = None) -> PanelEvaluation:
    """Run DiD, ITS, the panel regression, WDD, WDQ and synthetic control on a (units × weeks) panel.

    ``treated``, ``buffer`` and ``pool`` are row indices (disjoint); ``pool`` holds the
    candidate controls (buffer and guard band already removed). The treated cells get
    ``k`` look-alikes each (their columns are the DiD placebos and the synthetic
    control's donors); the buffer cells get ``k_buffer`` each, from what is left.
    The buffer's DiD estimate (displacement, > 0; diffusion, < 0) is reported in
    ``did["buffer"]``. ``neighbourhood`` (units × weeks, the mean weekly count of each
    unit's ring-1 neighbours, :func:`analytics.evaluation.neighbourhood_counts`) adds the
    neighbourhood's pre-period level to the matching, so controls regress towards the same
    mean as the target (recommended; see :mod:`analytics.evaluation.matching`). ITS is
    comparative: the target's series relative to its matched controls' path, with the same
    placebo-in-space inference as DiD (:func:`analytics.evaluation.its.its_matched`). The panel
    regression (:func:`analytics.evaluation.panel_glm.panel_matched`) fits the treated and matched
    cells with place and week effects, with the same placebo groups; its buffer estimate is in
    ``panel_poisson["buffer"]``.
    """
    y = np.asarray(y, dtype=np.float64)
    post = np.asarray(post, dtype=bool)
    treated, buffer, pool = (np.asarray(a, dtype=np.int64) for a in (treated, buffer, pool))
    pre = ~post
    nb_pre = None if neighbourhood is None else np.asarray(neighbourhood, dtype=np.float64)[:, pre]
    matches = match_controls(y[:, pre], treated, pool, k, seed, neighbourhood=nb_pre)
    rest = np.setdiff1d(pool, matches.ravel())
    b_matches = (match_controls(y[:, pre], buffer, rest, k_buffer, seed + 1, neighbourhood=nb_pre) if len(buffer)
                 else np.empty((0, k_buffer), dtype=np.int64))
    t_s = y[treated].sum(0)
    groups = np.stack([y[matches[:, g]].sum(0) for g in range(k)])
    c_s = groups.mean(0)                                 # one look-alike per treated cell, averaged over k
    b_s = y[buffer].sum(0) if len(buffer) else np.zeros(y.shape[1])
    cb_s = (np.stack([y[b_matches[:, g]].sum(0) for g in range(k_buffer)]).mean(0) if len(buffer)
            else np.zeros(y.shape[1]))

    did = did_matched(y, post, treated, matches, alpha)
    did_d = did.as_dict()
    if len(buffer):
        bd = did_matched(y, post, buffer, b_matches, alpha)
        did_d["buffer"] = {k_: did_d_ for k_, did_d_ in bd.as_dict().items() if k_ not in ("placebo_effects",)}
    its = its_matched(y, post, treated, matches, alpha=alpha, harmonics=its_harmonics)
    its_b = (its_matched(y, post, buffer, b_matches, alpha=alpha, harmonics=its_harmonics)
             if len(buffer) and b_s.sum() > 0 and cb_s[pre].sum() > 0 else None)
    its_d = its.as_dict()
    if its_b is not None:
        its_d["buffer"] = {k_: v for k_, v in its_b.as_dict().items() if k_ in ("relative_effect", "ci_low",
                                                                                 "ci_high", "p", "family",
                                                                                 "inference")}
    pan = panel_matched(y, post, treated, matches, alpha=alpha)
    pan_d = pan.as_dict()
    if len(buffer):
        pan_d["buffer"] = {k_: v for k_, v in panel_matched(y, post, buffer, b_matches, alpha=alpha).as_dict().items()
                           if k_ != "placebo_effects"}
    n_pre, n_post = int(pre.sum()), int(post.sum())
    w = wdd(t_s[pre].sum(), t_s[post].sum(), groups.sum(0)[pre].sum(), groups.sum(0)[post].sum(),
            b_s[pre].sum(), b_s[post].sum(), cb_s[pre].sum() * k_buffer, cb_s[post].sum() * k_buffer,
            control_weight=1.0 / k, buffer_control_weight=1.0 / k_buffer, before_scale=n_post / n_pre, alpha=alpha)
    wd = w.as_dict()
    wd.update({"weeks_before": n_pre, "weeks_after": n_post,
               "note": "before counts scaled by weeks_after / weeks_before; controls are the mean of the matched "
                       "look-alike groups (counts weighted 1/k in the variance)"})
    if groups.sum(0)[pre].sum() > 0 and groups.sum(0)[post].sum() > 0:
        q = wdq(t_s[pre], t_s[post], groups.sum(0)[pre], groups.sum(0)[post], b_s[pre], b_s[post], n_boot=n_boot,
                alpha=alpha, seed=seed)
    else:       # a sparse target's controls can have no event in a short before period: WDQ has no denominator
        q = WDQResult(math.nan, math.nan, math.nan, False, "not computed: the control area has no events before "
                      "or after the start", math.nan, math.nan, "none", 0, math.nan)
    sc = synthetic_control(t_s, groups, post, period_weeks=period_weeks, alpha=alpha)
    methods = {"did": did_d, "its": its_d, "panel_poisson": pan_d, "wdd": wd, "wdq": q.as_dict(), "synthetic_control": sc.as_dict()}
    series = pd.DataFrame({"treated": t_s, "control": c_s, "buffer": b_s, "buffer_control": cb_s,
                           "its_fitted": np.asarray(its.fitted) if its.fitted else np.nan,
                           "its_counterfactual": np.asarray(its.counterfactual) if its.counterfactual else np.nan,
                           "post": post})
    sc_series = pd.DataFrame({"treated": np.asarray(sc.treated), "synthetic": np.asarray(sc.synthetic)})
    return PanelEvaluation(methods, series, sc_series, matches, b_matches)
