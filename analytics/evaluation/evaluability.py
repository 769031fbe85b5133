"""Can a target be evaluated at all, decided before looking at the outcome; and the before window (issue 15).

Two rules that keep the evaluation from conditioning on what it measures:

* **Evaluability from the before period only** (:func:`assess_evaluability`). Whether a target can
  be evaluated is decided from its before-period rate, its matched controls' before-period rate
  (the matching itself uses only the before period) and the *planned* number of weeks after the
  start — never from the counts after the start. The rule: a target is evaluable when the DiD
  design has 80 % power to detect *some* fall of up to :data:`EVALUABLE_FALL` (95 %, the
  power search's own range, :data:`analytics.evaluation.power.MAX_DETECTABLE_FALL`), by
  :func:`analytics.evaluation.power.minimum_detectable_effect` with Poisson counts (dispersion 1:
  the most lenient reading; over-dispersion only makes a target less evaluable). No constant
  is tuned: the rule is "the tool's own power section finds a detectable fall". A target that
  is not evaluable gets no effect size, only the sentence :attr:`Evaluability.sentence`;
  an evaluable target always gets an estimate, even with no event after the start (the
  zero-count rule of :func:`analytics.evaluation.did.did_poisson`). Without this rule, a target
  with no event after the start got "no estimate", so the estimates that were reported were
  those of targets that happened to stay busy: selection on the outcome (benchmarks/RESULTS.md,
  "Regression to the mean on plan-like null targets").
* **A before period that does not reach back past the weeks a place was chosen on**
  (:func:`before_start`). Places are chosen because they were busy in the weeks before the
  start — the weekly plan ranks them on :data:`DEFAULT_BEFORE_WEEKS` weeks — and a busy spell
  began somewhere inside that window; weeks before it compare the after period with a quieter
  time and read regression to the mean as a rise. ``hotspots evaluate --before-weeks N`` keeps
  the last N weeks before the start for the matching, DiD, ITS, the panel regression and
  synthetic control (one before period for every method; synthetic control's periods of 4 weeks
  included); the default is the plan's window. Measured and not adopted: matching the controls on
  every week before the start while comparing on the last 26 (a cell's usual level from its whole
  history) — DiD's false-positive rate on Denver's ring null targets rose to 8 % (benchmarks/RESULTS.md).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from analytics.engine import HotspotParams
from analytics.errors import InvalidInputError
from analytics.evaluation.common import _clean
from analytics.evaluation.power import MAX_DETECTABLE_FALL, minimum_detectable_effect

__all__ = ["EVALUABLE_FALL", "EVALUABLE_POWER", "DEFAULT_BEFORE_WEEKS", "MIN_BEFORE_WEEKS", "MAX_BEFORE_WEEKS",
           "Evaluability", "assess_evaluability", "evaluability_of_panel", "before_start", "check_before_weeks"]

#: A target is evaluable when some fall of up to this size is detectable (the power search's range).
EVALUABLE_FALL = MAX_DETECTABLE_FALL
#: ... with this power.
EVALUABLE_POWER = 0.8
#: Default before period: the weeks the weekly plan chooses its places on (``HotspotParams.weeks_back``).
DEFAULT_BEFORE_WEEKS: int = HotspotParams.__dataclass_fields__["weeks_back"].default
#: ``--before-weeks`` range: at least the 8 weeks ``hotspots evaluate`` requires, at most ten years.
MIN_BEFORE_WEEKS, MAX_BEFORE_WEEKS = 8, 520


@dataclass(frozen=True)
class Evaluability:
    """Whether a target can be evaluated, from before-period rates and the planned after length only."""

    evaluable: bool
    expected_after: float        # target events expected after the start at the before-period rate
    treated_pre_per_week: float
    control_pre_per_week: float
    weeks_before: int
    weeks_after: int
    mde: float | None            # smallest fall detectable with 80 % power (negative), None when none up to 95 %
    fall_searched: float = EVALUABLE_FALL
    power: float = EVALUABLE_POWER
    rule: str = (f"evaluable when a fall of up to {EVALUABLE_FALL * 100:.0f} % is detectable with "
                 f"{EVALUABLE_POWER * 100:.0f} % power at the before-period rates (Poisson), decided without the "
                 "counts after the start")

    @property
    def sentence(self) -> str:
        """The page's words for a target that is not evaluable ('' when it is)."""
        if self.evaluable:
            return ""
        return (f"Too sparse to evaluate: no fall of up to {self.fall_searched * 100:.0f} % is detectable with "
                f"{self.power * 100:.0f} % power with {self.expected_after:.1f} expected events after the start "
                f"({self.treated_pre_per_week:.2f} a week before the start, {self.weeks_after} weeks after). "
                "No effect size is claimed; a longer after period or a larger area is needed.")

    def as_dict(self) -> dict:
        d = asdict(self)
        d["sentence"] = self.sentence
        return _clean(d)


def assess_evaluability(treated_pre_per_week: float, control_pre_per_week: float | None, weeks_before: int,
                        weeks_after: int, *, alpha: float = 0.05, power: float = EVALUABLE_POWER,
                        fall: float = EVALUABLE_FALL) -> Evaluability:
    """Decide evaluability from the before-period weekly rates and the planned weeks after (module notes).

    Examples
    --------
    >>> assess_evaluability(0.2, 4.0, 26, 16).evaluable
    False
    >>> e = assess_evaluability(3.0, 60.0, 26, 16)
    >>> e.evaluable, round(e.expected_after, 1)
    (True, 48.0)
    """
    t = float(treated_pre_per_week)
    c = float(control_pre_per_week or 0.0)
    if weeks_before < 1 or weeks_after < 1 or not math.isfinite(t) or t < 0:
        raise InvalidInputError("Evaluability needs >= 1 week before and after and a finite before-period rate.")
    mde = None
    if t > 0:
        m = minimum_detectable_effect(t, weeks_before, weeks_after, alpha=alpha, power=power,
                                      control_per_week=c if c > 0 else None)
        mde = m if math.isfinite(m) else None
    ok = mde is not None and mde >= -fall - 1e-12
    return Evaluability(bool(ok), t * weeks_after, t, c, int(weeks_before), int(weeks_after), mde, fall, power)


def evaluability_of_panel(y: np.ndarray, post: np.ndarray, treated, matches, *, alpha: float = 0.05) -> Evaluability:
    """:func:`assess_evaluability` for a panel: only the before columns of ``y`` are read.

    The treated series is the sum of the treated rows, the control series the sum of every matched
    row (as in the power section of ``hotspots evaluate``); ``matches`` come from the before
    period alone (:func:`analytics.evaluation.match_controls`)."""
    post = np.asarray(post, dtype=bool)
    before = np.asarray(y, dtype=np.float64)[:, ~post]          # the after columns are never read
    t = float(before[np.asarray(treated, dtype=np.int64)].sum(0).mean())
    c = float(before[np.asarray(matches, dtype=np.int64).ravel()].sum(0).mean()) if np.size(matches) else 0.0
    return assess_evaluability(t, c, int((~post).sum()), int(post.sum()), alpha=alpha)


def check_before_weeks(before_weeks) -> int | None:
    """Validate ``--before-weeks``: None (every week) or an integer from 8 to 520; else :class:`InvalidInputError`."""
    if before_weeks is None:
        return None
    if isinstance(before_weeks, bool) or not isinstance(before_weeks, (int, np.integer)) or not (
            MIN_BEFORE_WEEKS <= before_weeks <= MAX_BEFORE_WEEKS):
        raise InvalidInputError(f"--before-weeks must be a whole number of weeks from {MIN_BEFORE_WEEKS} to "
                                f"{MAX_BEFORE_WEEKS} (or 'all'); received {before_weeks!r}.")
    return int(before_weeks)


def before_start(post, before_weeks: int | None) -> int:
    """First column to keep so that at most ``before_weeks`` weeks precede the first after week.

    ``post`` is the after flag per week (after weeks follow the before weeks); None keeps every week.

    Examples
    --------
    >>> before_start([False] * 40 + [True] * 16, 26), before_start([False] * 20 + [True] * 4, 26)
    (14, 0)
    """
    n_pre = int(np.argmax(np.asarray(post, dtype=bool))) if np.any(post) else len(post)
    before_weeks = check_before_weeks(before_weeks)
    return 0 if before_weeks is None else max(0, n_pre - before_weeks)
