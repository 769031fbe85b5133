"""The one verdict rule of a disruption evaluation (issue 15, item 3): pure, no I/O.

Every estimator of :mod:`analytics.evaluation` reports a relative effect, a 95 % interval
and the p whose test that interval inverts, so "the interval excludes no change" and
"p <= alpha" are the same statement. :func:`verdict` turns them into words with one rule,
used for the target and for the surrounding ring alike:

* a **change** is claimed only when every method with an estimate (among those the
  placebo calibration admits) has an interval excluding zero, all on the same side;
* otherwise the sentence says "no clear change" and names which methods disagree (a
  fall, a rise, or an interval that includes no change), never a bare percentage.

A method whose interval and p disagree (which the estimators rule out; a guard against
future edits) counts as unclear and is named.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

__all__ = ["Verdict", "verdict", "direction", "pct", "VERDICT_METHODS"]

#: Methods the verdict uses, in page order, with their labels. Calibration on placebo
#: targets (``python -m benchmarks.placebo``) decides which are admitted; requiring every
#: admitted method to agree makes more methods a stricter, never a looser, rule.
VERDICT_METHODS = {"did": "difference-in-differences", "its": "interrupted time series",
                   "synthetic_control": "synthetic control", "panel_poisson": "panel regression"}


def pct(v: float | None) -> str:
    """``-0.3`` → ``"-30 %"``; ``None``/NaN → ``"—"``."""
    if v is None or not math.isfinite(v):
        return "—"
    return f"{v * 100:+.0f} %"


def _finite(v) -> bool:
    return v is not None and isinstance(v, (int, float)) and math.isfinite(v)


def direction(effect: Mapping, alpha: float = 0.05) -> str:
    """``"fall"``/``"rise"`` (interval excludes zero), ``"unclear"`` (includes it, or its p
    disagrees with it), ``"none"`` (no estimate)."""
    rel = effect.get("relative_effect")
    if not _finite(rel):
        return "none"
    lo, hi, p = effect.get("ci_low"), effect.get("ci_high"), effect.get("p")
    side = "fall" if _finite(hi) and hi < 0 else "rise" if _finite(lo) and lo > 0 else "unclear"
    if _finite(p) and (side != "unclear") != (p <= alpha + 1e-12):
        return "unclear"
    return side


def _describe(label: str, e: Mapping) -> str:
    p = e.get("p")
    return (f"{label} {pct(e.get('relative_effect'))} (95 % interval {pct(e.get('ci_low'))} to "
            f"{pct(e.get('ci_high'))}, p = {'—' if not _finite(p) else format(p, '.3f')})")


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _disagreement(dirs: dict[str, str], labels: Mapping[str, str]) -> str:
    parts = []
    for side, words in (("fall", "show a fall"), ("rise", "show a rise"),
                        ("unclear", "have an interval that includes no change")):
        names = [labels.get(k, k) for k, d in dirs.items() if d == side]
        if names:
            verb = words if len(names) > 1 else words.replace("show ", "shows ").replace("have ", "has ")
            parts.append(f"{_join(names)} {verb}")
    return "; ".join(parts)


@dataclass(frozen=True)
class Verdict:
    """The target's and the ring's verdicts, each a word and a sentence."""

    effect: str                 # "fall" | "rise" | "unclear" | "none"
    headline: str
    disagreement: str           # "" when the methods agree (or only one estimates)
    displacement: str           # "displacement" | "diffusion" | "rise_around" | "fall_around" | "unclear" | "none"
    displacement_sentence: str
    directions: dict
    buffer_directions: dict

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _rule(effects: Mapping[str, Mapping], alpha: float) -> tuple[str, dict]:
    dirs = {k: direction(e, alpha) for k, e in effects.items()}
    est = {k: d for k, d in dirs.items() if d != "none"}
    if not est:
        return "none", dirs
    sides = set(est.values())
    return (sides.pop() if len(sides) == 1 and sides <= {"fall", "rise"} else "unclear"), dirs


def verdict(effects: Mapping[str, Mapping], buffer_effects: Mapping[str, Mapping] | None = None, *,
            outcome: str = "events", alpha: float = 0.05, labels: Mapping[str, str] | None = None) -> Verdict:
    """Headline and displacement sentence from the methods' effects, by one rule.

    Parameters
    ----------
    effects : {method: {"relative_effect", "ci_low", "ci_high", "p"}}
        The admitted methods for the target (None/NaN = no estimate; such a method is
        named but neither supports nor blocks a claim).
    buffer_effects : same, for the surrounding ring (displacement > 0, diffusion < 0)
    outcome : str
        What is counted, for the sentences.
    labels : {method: label}, default :data:`VERDICT_METHODS`

    Returns
    -------
    Verdict
        ``effect`` is ``"fall"``/``"rise"`` only when every estimating method's interval
        excludes zero on that side; ``displacement`` follows the same rule for the ring
        ("displacement"/"diffusion" when the target clearly fell, "rise_around"/
        "fall_around" otherwise).
    """
    labels = {**VERDICT_METHODS, **(labels or {})}
    effect, dirs = _rule(effects, alpha)
    missing = [labels.get(k, k) for k, d in dirs.items() if d == "none"]
    detail = "; ".join(_describe(labels.get(k, k), e) for k, e in effects.items() if dirs[k] != "none")
    disagreement = ""
    if effect == "none":
        headline = (f"No estimate of the change in {outcome}: the target or its controls had no events in one "
                    "of the periods.")
    elif effect in ("fall", "rise"):
        verb = "fell" if effect == "fall" else "rose"
        n = len(dirs) - len(missing)
        who = ("the one method with an estimate has a 95 % interval that excludes no change" if n == 1 else
               f"all {n} methods agree and their 95 % intervals exclude no change")
        headline = f"{outcome} {verb} compared with what was expected without the disruption: {who} ({detail})."
    else:
        estimating = {k: d for k, d in dirs.items() if d != "none"}
        if set(estimating.values()) == {"unclear"}:
            headline = (f"No clear change in {outcome}: no method's 95 % interval excludes no change ({detail}).")
        else:
            disagreement = _disagreement(estimating, labels)
            headline = f"No clear change in {outcome}: the methods disagree — {disagreement} ({detail})."
    if missing:
        headline += f" No estimate from {_join(missing)}."

    b_effect, b_dirs = _rule(buffer_effects or {}, alpha)
    b_detail = "; ".join(_describe(labels.get(k, k), e) for k, e in (buffer_effects or {}).items()
                         if b_dirs[k] != "none")
    if b_effect == "none":
        kind = "none"
        sentence = "No estimate for the surrounding ring (no ring cells, or no events in one of the periods)."
    elif b_effect == "rise":
        kind = "displacement" if effect == "fall" else "rise_around"
        sentence = (f"Events in the surrounding ring rose ({b_detail}): "
                    + ("possible displacement of harm to nearby places." if effect == "fall" else
                       "the area around the target changed too, so this is not displacement of a benefit."))
    elif b_effect == "fall":
        kind = "diffusion" if effect == "fall" else "fall_around"
        sentence = (f"Events in the surrounding ring fell ({b_detail}): "
                    + ("a diffusion of benefits." if effect == "fall" else
                       "the area around the target changed too, with no clear fall at the target itself."))
    else:
        kind = "unclear"
        b_est = {k: d for k, d in b_dirs.items() if d != "none"}
        why = ("" if set(b_est.values()) == {"unclear"} else
               f"; the methods disagree — {_disagreement(b_est, labels)}")
        sentence = (f"No clear change in the surrounding ring ({b_detail}){why}; this does not prove there was no "
                    "displacement.")
    return Verdict(effect, headline, disagreement, kind, sentence, dirs, b_dirs)
