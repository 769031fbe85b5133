"""The evaluation page's verdict block: headline, agreement, displacement and caveats (one rule,
:func:`analytics.verdict.verdict`). Split out of :mod:`pipelines.evaluate`."""

from __future__ import annotations

import math

from analytics.evaluation.calibration import admitted, calibration_warning, design_warning
from analytics.verdict import VERDICT_METHODS, verdict

__all__ = ["build_verdict", "METHOD_LABELS", "pct"]

#: Page labels of the methods the verdict can use (keys of :data:`analytics.verdict.VERDICT_METHODS`).
METHOD_LABELS = {"did": "Difference-in-differences (matched controls)", "its": "Interrupted time series",
                 "synthetic_control": "Synthetic control",
                 "panel_poisson": "Panel regression (place and week effects)"}
def pct(v: float | None) -> str:
    """``-0.3`` → ``"-30 %"``; None/NaN → ``"—"``."""
    if v is None or not math.isfinite(v):
        return "—"
    return f"{v * 100:+.0f} %"


def _z_crit(alpha: float) -> float:
    from scipy import stats
    return float(stats.norm.ppf(1 - alpha / 2))


def build_verdict(result: dict) -> dict:
    """Plain-language headline, the methods' agreement, displacement and caveats.

    The headline and the ring sentence come from :func:`analytics.verdict.verdict` (one rule:
    a change is claimed only when every admitted method's 95 % interval excludes no change, on the
    same side; each interval inverts the same test as the method's p). Admitted = met the placebo
    calibration targets on every real data set (:mod:`analytics.evaluation.calibration`); the
    others are listed with a warning and neither support nor block a claim."""
    m = result["methods"]
    did = m["did"]
    alpha = result["parameters"]["alpha"]
    used = admitted(VERDICT_METHODS)
    left_out = [w for k in VERDICT_METHODS if k not in used
                for w in [calibration_warning(k, VERDICT_METHODS[k])] if w]
    left_out += [w for w in [design_warning({k: VERDICT_METHODS[k] for k in used})] if w]
    result["warnings"].extend(w for w in left_out if w not in result["warnings"])
    effects = {k: m[k] for k in used}
    ring = {k: m[k]["buffer"] for k in ("did", "its", "panel_poisson") if k in used and m[k].get("buffer")}
    v = verdict(effects, ring, outcome=result["outcome"], alpha=alpha)
    headline = v.headline if used else (
        f"No verdict on {result['outcome']}: no method met the placebo calibration targets on real data "
        "(see the warnings); the estimates below are shown for reference only.")
    agree = []
    for key in used:
        e = m[key]
        if e.get("relative_effect") is None:
            continue
        agree.append(f"{METHOD_LABELS[key]}: {pct(e['relative_effect'])} "
                     f"[{pct(e.get('ci_low'))}, {pct(e.get('ci_high'))}], p = "
                     f"{'—' if e.get('p') is None else format(e['p'], '.3f')}"
                     f"{' (interval excludes no change)' if v.directions[key] in ('fall', 'rise') else ''}")
    for key in VERDICT_METHODS:
        e = m[key]
        if key not in used and e.get("relative_effect") is not None:
            agree.append(f"{METHOD_LABELS[key]}: {pct(e['relative_effect'])} [{pct(e.get('ci_low'))}, "
                         f"{pct(e.get('ci_high'))}] — left out of the verdict (failed the placebo calibration; "
                         "see the warning)")
    lines = [("The methods agree: every 95 % interval excludes no change, on the same side." if v.effect in
              ("fall", "rise") else f"The methods disagree: {v.disagreement}." if v.disagreement else
              "No method's 95 % interval excludes no change.")]
    disp = [v.displacement_sentence]
    q = m["wdq"]
    if q.get("meaningful"):
        lo_q, hi_q = q.get("ci_low"), q.get("ci_high")
        if lo_q is not None and hi_q is not None and lo_q <= 0 <= hi_q:
            disp.append(f"WDQ = {q['wdq']:.2f}, but its 95 % bootstrap interval ({lo_q:.2f} to {hi_q:.2f}) includes "
                        "0: no clear displacement or diffusion.")
        else:
            disp.append(f"WDQ = {q['wdq']:.2f} ({q['interpretation']}).")
    else:
        disp.append("WDQ is not meaningful here: the target did not improve relative to its controls.")
    w = m["wdd"]
    dz = w.get("displacement_z")
    clear = dz is not None and abs(dz) > _z_crit(alpha)
    disp.append(f"WDD = {w['wdd']:.1f} events net of the buffer (z = {w['z']:.2f}, p = {w['p']:.3f}); "
                f"buffer component {w['displacement']:+.1f} events ("
                + (("displacement" if w["displacement"] > 0 else "diffusion") + f", z = {dz:.2f}" if clear else
                   "within noise: no clear displacement or diffusion") + ").")
    caveats = list(result["warnings"])
    mde = result["power"].get("mde_did")
    if mde is not None:
        caveats.append(f"With this much data the DiD design reliably (80 % power) detects only falls larger than "
                       f"about {abs(mde) * 100:.0f} %; smaller real effects may go unseen. Hot-spot policing "
                       "averages ~8–16 % reductions (Braga & Weisburd 2020).")
    elif result["power"].get("treated_pre_mean_per_week"):
        caveats.append(f"No fall of up to {result['power']['max_fall_searched'] * 100:.0f} % is detectable with this "
                       "data (80 % power, matched controls): a 'no clear change' here says little.")
    pre = did.get("pre_fit", {})
    if pre.get("pre_correlation") is not None:
        caveats.append(f"DiD assumes the target would have followed its controls; their weekly pre-period "
                       f"correlation is {pre['pre_correlation']:.2f} (the controls were matched on level, trend and the "
                       "level of their surrounding cells).")
    caveats.append("Places are often chosen because they were busy, and busy spells calm down anyway (regression to "
                   "the mean). The controls are matched on their own and their surroundings' level so they calm down "
                   "alike, ITS is read against the controls' path rather than extrapolating the busy spell, and the "
                   "methods are checked on null placebo targets chosen that way in real data (python -m "
                   "benchmarks.placebo, benchmarks/RESULTS.md); the headline needs every admitted method to agree.")
    caveats.append("Fewer reports can mean less harm or less reporting; read the result with partners' knowledge of "
                   "the place, and check for other changes at the same time (openings, closures, other operations).")
    caveats.append("The week holding the start date counts as treated; a partial first week can only dilute the "
                   "estimate.")
    if result.get("synthetic"):
        caveats.append("SYNTHETIC data: no real young person, placement or venue.")
    effect, ring_effect = v.effect, v.displacement
    sparse = result.get("evaluability") or {}
    if sparse and not sparse.get("evaluable", True):
        # Decided from the before period alone: no effect size is claimed, whatever the after period shows.
        headline = sparse["sentence"]
        lines = ["No method's estimate is read as an effect: the target was judged too sparse from the before "
                 "period alone (its rate and the planned weeks after), before looking at the weeks after the start; "
                 "the estimates below are shown for reference only."]
        agree, effect, ring_effect = [], "too_sparse", "too_sparse"
        disp = ["No displacement or diffusion is assessed: the target is too sparse to evaluate."]
    return {"headline": headline, "methods": agree, "agreement": lines, "displacement": disp, "caveats": caveats,
            "effect": effect, "ring": ring_effect}
