"""Emerging hot spot categories (ArcGIS Pro's categories, explicit precedence).

Two rule sets share this module. ``EmergingParams.arcgis()`` gives ESRI's
published rules ("How Emerging Hot Spot Analysis works"); the default
``EmergingParams()`` adds the evidence-for-a-rise requirement below, and the
engine run (``analytics.engine``, ``--rules default``) also counts the
90 % share on each week's own test and uses calibrated Poisson p-values.
Where the default differs from ArcGIS, and why (each point is detailed below):

* *new*, *consecutive* and *intensifying* hot also need a confirmed rise in
  reports (ArcGIS: Gi* classes only), because on sparse weekly counts a busy
  place at its usual level otherwise becomes "new" in its first noisy week;
* the 90 % share of *intensifying*, *persistent*, *diminishing* and
  *historical* counts each week's own test when ``share_class`` is given
  (ArcGIS: the FDR-corrected map classes), because the share is one decision
  per cell and is its own error control;
* the Gi* p-values are exact Poisson tails (ArcGIS: normal), chosen by the
  engine run, not here (``analytics.gistar``).

Decisions of this module in *both* rule sets, because ESRI's text leaves them
open: the explicit precedence below, *persistent* requiring the final week
(ESRI's persistent does not mention it; a cell not hot this week is
*historical* here), and the mostly-zero rule for cold spots.

Inputs per cell: its weekly Gi* classes (``gi_class``, -3..3), the
Mann-Kendall test of its Gi* z series, and its weekly counts. A week is
*significantly hot* when ``gi_class >= min_class`` (default 2, i.e. 95 %
confidence after FDR) and *significantly cold* when ``gi_class <= -min_class``.
``T`` is the number of weeks analysed; "90 %" is ``hot_share``.

Rules (hot side; each cold category mirrors it with hot and cold swapped and
the trend direction reversed)

=============  ================================================================
new            hot in the final week; never hot before
consecutive    one unbroken run of >= ``min_run`` hot weeks ending in the final
               week; never hot before the run; < 90 % of weeks hot
intensifying   >= 90 % of weeks hot, including the final week; MK trend of the
               z series significantly increasing (cold: decreasing)
persistent     >= 90 % of weeks hot, including the final week; no significant
               trend
diminishing    >= 90 % of weeks hot, including the final week; MK trend
               significantly decreasing (cold: increasing)
sporadic       hot in the final week; < 90 % of weeks hot; never cold
oscillating    hot in the final week; < 90 % of weeks hot; cold in some
               earlier week
historical     not hot in the final week; >= 90 % of all weeks hot (ESRI:
               "at least ninety percent of the time-step intervals"),
               so the hot weeks are all earlier ones
no_pattern     none of the above
=============  ================================================================

"At least 90 %" is counted in whole weeks: ``hot_weeks >= ceil(0.9 * T)``
(computed with a 1e-9 guard, so 9 of 10 and 18 of 20 weeks qualify, 17 of 20
does not).

Precedence (:data:`CATEGORY_PRECEDENCE`; the first matching category wins)::

    new > consecutive > intensifying > persistent > diminishing
        > sporadic > oscillating > historical > no_pattern

with each hot category directly before its cold mirror. Why this order:

1. **The final week first.** Every category except ``historical`` says the
   cell is significant in the final week, and ``historical`` says it is
   not; so hot and cold never compete except ``historical_*`` against a
   final-week category of the other sign, and the final week wins (a place
   hot for a year and significantly cold this week is "new cold", not
   "historical hot"). ArcGIS's *persistent* does not mention the final week
   while its *historical* does; the two overlap for a cell hot >= 90 % of
   the time but not this week. We call that cell *historical*: no category
   claims a place is currently hot when it was not hot this week. So
   *persistent* here requires the final week, like *intensifying* and
   *diminishing* (with ``share_class``, on the week's own test; see
   "Counting the 90 % share").
2. **New and consecutive before oscillating and sporadic.** A cell that was
   significantly cold once long ago and is hot for the first time in the final
   week satisfies both *new* and *oscillating*. sfdep (R) calls it
   *oscillating*; we call it **new** (and the reason mentions the earlier cold
   weeks), because for patrol planning the actionable fact is that the place
   has become a hot spot for the first time; "oscillating" suggests repeated
   hot episodes that never happened. The same holds for *consecutive*.
3. *intensifying*, *persistent* and *diminishing* are mutually exclusive
   (trend up / none / down), as are *sporadic* and *oscillating* (never /
   sometimes cold), so their relative order is immaterial; it follows ArcGIS's
   list.

Mostly-zero cells: when at least ``mostly_zero_share`` of a cell's weekly
counts are 0, its cold weeks are ignored (a place where nothing happens is
not evidence of protection), so it gets no cold category and cannot be
*oscillating hot*; the reason says so.

Evidence for a rise (hot side only). ArcGIS's *new*, *consecutive* and
*intensifying* look only at Gi* classes, so a busy place that has always had
a few reports a week becomes "new hot" the first week its count crosses the
significance line: Poisson noise, not a change. On SYNTHETIC cities this made
most emerging flags fall on steady venues (benchmarks/recovery.py). Here those
three hot categories also need evidence that the place has *risen*:

* a **rise test**: the neighbourhood's reports in the recent weeks (the hot run
  for *new*/*consecutive*, the later half of the period for *intensifying*)
  are more than its own earlier weeks predict. Under "no change", the
  neighbourhood keeps its share of the study area's weekly reports, so its
  recent count is Binomial(its period total, the recent weeks' share of the
  area's reports); one-sided exact p < ``change_alpha`` (a space-time
  interaction test as in the permutation scan, conditioning on each place's
  own total and each week's total; Kulldorff et al. 2005);
* at least ``min_run_events`` reports in the neighbourhood over those recent
  weeks, ``min_cell_events`` of them in the cell itself (a hot ring around a
  busy cell is Gi* smoothing; the rise belongs to the cell with the reports).

The neighbourhood is the Gi* spatial neighbourhood (``spatial``; the cell
alone when none is passed). A cell that fails falls through the precedence:
a first-time or first-run hot cell becomes *sporadic* (or *oscillating* if it
was cold before) and an unconfirmed *intensifying* cell becomes *persistent*;
the reason says what the evidence was. Cold categories keep the ArcGIS rules.
``EmergingParams.arcgis()`` switches the evidence off (ESRI's published
rules, with this module's precedence and mostly-zero rule).

Counting the 90 % share. ArcGIS counts the share on the same significant
bins as the map. With a false-discovery correction over the whole cube (the
default here, as METHODS §2), that asks a place to pass a strict test in 24
of 26 weeks in a row, and a venue with 3-4 reports every week fails often:
the Poisson draws give it one or two quiet fortnights and the corrected
threshold is far below 0.05 (on a SYNTHETIC grid of sites at a steady 4
reports a week, 14 % came out persistent or intensifying this way and 88 %
counting each week's own test; tests/analytics/test_emerging_share.py). The
correction is for maps of single bins; the share rules make one decision per
*cell*, and the share itself is the error control: a cell with no hot spot
passes its own week's test with probability at most 0.05 (class 2), so it
reaches 24 of 26 weeks with probability about 2e-29 for independent weeks,
and below 1e-14 even if each pair of weeks sharing a neighbourhood (time
step 1) were perfectly dependent (tested on null grids: no cell gets a share
category). So when ``share_class`` (each bin's own test,
``GiStarResult.uncorrected_class``) is passed, *intensifying*, *persistent*,
*diminishing* and *historical* count weeks hot on it, the final week
included (their "including the final week" and historical's "not hot in the
final week" use the same test, so a place hot on its own test 26 weeks out
of 26 is persistent even in a week when the cube-wide correction leaves its
map class at 0 or 1), while *new*, *consecutive*, *sporadic* and
*oscillating* ("hot in the final week", "never hot before", runs) stay on
the corrected classes the map shows. The reason gives both counts when they
differ. Without ``share_class`` the share counts ``gi_class`` (ArcGIS;
``hotspots hotspots --share-basis fdr``).

The MK trend is "significant" when ``mk.p < params.alpha``, direction the sign
of ``mk.s``; ``mk.trend`` (computed at the MK call's own alpha) is not used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import stats

from analytics.errors import InvalidInputError
from analytics.trend import MKResult

PATTERNS = (
    "new",
    "consecutive",
    "intensifying",
    "persistent",
    "diminishing",
    "sporadic",
    "oscillating",
    "historical",
)

SHARE_PATTERNS = frozenset({"intensifying", "persistent", "diminishing", "historical"})
"""Patterns decided by the share of weeks hot (or cold), counted on ``share_class`` when given."""

CATEGORY_PRECEDENCE: tuple[str, ...] = tuple(f"{p}_{side}" for p in PATTERNS for side in ("hot", "cold"))
"""Categories in the order they are tested; the first match wins, else ``no_pattern``."""

CATEGORIES: tuple[str, ...] = tuple(f"{p}_hot" for p in PATTERNS) + tuple(f"{p}_cold" for p in PATTERNS) + (
    "no_pattern",
)

CATEGORY_DESCRIPTIONS: dict[str, str] = {
    "new_hot": (
        "Significant hot spot in the final week for the first time in the period analysed, with a confirmed "
        "rise in reports (not a busy place at its usual level)."
    ),
    "consecutive_hot": (
        "An unbroken run of recent hot-spot weeks ending in the final week, never hot before the run, "
        "hot in less than 90 % of weeks, with a confirmed rise in reports."
    ),
    "intensifying_hot": (
        "Hot spot in at least 90 % of weeks including the final week (each week's own test), and the clustering "
        "is getting significantly stronger, confirmed by more reports in the later half of the period."
    ),
    "persistent_hot": (
        "Hot spot in at least 90 % of weeks including the final week (each week's own test), with no significant "
        "change in intensity (or an upward trend the reports do not confirm)."
    ),
    "diminishing_hot": (
        "Hot spot in at least 90 % of weeks including the final week (each week's own test), but the clustering "
        "is getting significantly weaker."
    ),
    "sporadic_hot": (
        "Hot spot in the final week that has been on and off before, or is hot for the first time without a "
        "confirmed rise in reports (less than 90 % of weeks), never a cold spot."
    ),
    "oscillating_hot": (
        "Hot spot in the final week that was a significant cold spot in some earlier week "
        "(less than 90 % of weeks hot)."
    ),
    "historical_hot": (
        "Not a hot spot in the final week, but a hot spot in at least 90 % of all weeks analysed (each week's "
        "own test)."
    ),
    "new_cold": "Significant cold spot (fewer events than the area's rate) in the final week for the first time.",
    "consecutive_cold": (
        "An unbroken run of recent cold-spot weeks ending in the final week, never cold before the run."
    ),
    "intensifying_cold": (
        "Cold spot in at least 90 % of weeks including the final week (each week's own test), becoming "
        "significantly colder."
    ),
    "persistent_cold": (
        "Cold spot in at least 90 % of weeks including the final week (each week's own test), with no "
        "significant trend."
    ),
    "diminishing_cold": (
        "Cold spot in at least 90 % of weeks including the final week (each week's own test), becoming "
        "significantly less cold."
    ),
    "sporadic_cold": "Cold spot in the final week, on and off before, never a hot spot.",
    "oscillating_cold": "Cold spot in the final week that was a significant hot spot in some earlier week.",
    "historical_cold": (
        "Not a cold spot in the final week, but a cold spot in at least 90 % of all weeks analysed (each "
        "week's own test)."
    ),
    "no_pattern": "No emerging hot or cold spot pattern in the period analysed.",
}


@dataclass(frozen=True)
class EmergingParams:
    """Thresholds of the emerging hot spot rules, validated on creation.

    Parameters
    ----------
    hot_share : float, default 0.9
        Share of weeks that makes a cell intensifying / persistent /
        diminishing / historical ("90 %"). Must be in (0.5, 1].
    min_class : int, default 2
        Gi* class that counts as significant: 1, 2 or 3 (90 / 95 / 99 %).
    min_weeks : int, default 10
        Fewest weeks the classification accepts (ArcGIS asks for 10 time
        steps for a meaningful Mann-Kendall trend); at least 3.
    min_run : int, default 2
        Shortest run of hot weeks for *consecutive*.
    alpha : float, default 0.05
        Significance level applied to the Mann-Kendall p-value.
    mostly_zero_share : float, default 0.8
        A cell with at least this share of zero-count weeks cannot be cold.
        In (0, 1]; 1.0 means only all-zero cells.
    change_alpha : float, default 0.05
        Level of the one-sided rise test that *new*, *consecutive* and
        *intensifying* hot need (module docstring). In (0, 1]; 1 switches
        the test off.
    min_run_events : int, default 5
        Fewest reports in the cell's neighbourhood over the recent weeks for
        those three categories; 0 switches it off.
    min_cell_events : int, default 1
        Of those, fewest in the cell itself; 0 switches it off.
    """

    hot_share: float = 0.9
    min_class: int = 2
    min_weeks: int = 10
    min_run: int = 2
    alpha: float = 0.05
    mostly_zero_share: float = 0.8
    change_alpha: float = 0.05
    min_run_events: int = 5
    min_cell_events: int = 1

    @classmethod
    def arcgis(cls, **overrides) -> "EmergingParams":
        """ESRI's published rules: no evidence-for-a-rise requirement.

        The precedence, *persistent* needing the final week and the mostly-zero
        rule stay this module's (ESRI leaves them open; module docstring). The
        engine's ``--rules arcgis`` also uses normal p-values, FDR over the cube
        and the share on the corrected classes (``analytics.engine``).
        """
        return cls(**{"change_alpha": 1.0, "min_run_events": 0, "min_cell_events": 0, **overrides})

    @property
    def needs_evidence(self) -> bool:
        """True when new / consecutive / intensifying hot must show a rise."""
        return self.change_alpha < 1 or self.min_run_events > 0 or self.min_cell_events > 0

    def __post_init__(self) -> None:
        problems = []
        if not _is_number(self.hot_share) or not 0.5 < self.hot_share <= 1:
            problems.append(f"hot_share must be in (0.5, 1]; received {self.hot_share!r} (default 0.9)")
        if not _is_int(self.min_class) or self.min_class not in (1, 2, 3):
            problems.append(f"min_class must be 1, 2 or 3 (90/95/99 %); received {self.min_class!r} (default 2)")
        if not _is_int(self.min_weeks) or self.min_weeks < 3:
            problems.append(f"min_weeks must be an integer >= 3; received {self.min_weeks!r} (default 10)")
        if not _is_int(self.min_run) or self.min_run < 2:
            problems.append(f"min_run must be an integer >= 2; received {self.min_run!r} (default 2)")
        if not _is_number(self.alpha) or not 0 < self.alpha < 1:
            problems.append(f"alpha must be in (0, 1); received {self.alpha!r} (default 0.05)")
        if not _is_number(self.mostly_zero_share) or not 0 < self.mostly_zero_share <= 1:
            problems.append(
                f"mostly_zero_share must be in (0, 1]; received {self.mostly_zero_share!r} (default 0.8)"
            )
        if not _is_number(self.change_alpha) or not 0 < self.change_alpha <= 1:
            problems.append(f"change_alpha must be in (0, 1]; received {self.change_alpha!r} (default 0.05)")
        for name, default in (("min_run_events", 5), ("min_cell_events", 1)):
            value = getattr(self, name)
            if not _is_int(value) or value < 0:
                problems.append(f"{name} must be an integer >= 0; received {value!r} (default {default})")
        if problems:
            raise InvalidInputError("Invalid emerging hot spot parameters:\n" + "\n".join(f"- {p}" for p in problems))


def _is_number(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and math.isfinite(v)


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _weeks_needed(share: float, weeks: int) -> int:
    """Whole weeks making up ``share`` of ``weeks`` (ceil with a float guard)."""
    return int(math.ceil(share * weeks - 1e-9))


def _trailing_run(flags: np.ndarray) -> np.ndarray:
    """Length of the run of True ending in the last column, per row."""
    t = flags.shape[1]
    rev_not = ~flags[:, ::-1]
    first_false = np.argmax(rev_not, axis=1)
    return np.where(rev_not.any(axis=1), first_false, t)


def _validate(gi_class, mk: MKResult, counts, params: EmergingParams, spatial=None):
    if not isinstance(params, EmergingParams):
        raise InvalidInputError(f"params must be an EmergingParams; received {type(params).__name__}.")
    g = np.asarray(gi_class)
    if g.ndim != 2:
        raise InvalidInputError(f"gi_class must be 2-D (n_cells, n_weeks); received shape {g.shape}.")
    g = _as_classes(g, "gi_class", "GiStarResult.gi_class")
    n, t = g.shape
    if t < params.min_weeks:
        raise InvalidInputError(
            f"Emerging hot spot analysis needs at least {params.min_weeks} weeks; received {t}. "
            "Analyse a longer period or lower EmergingParams.min_weeks."
        )
    c = np.asarray(counts, dtype=np.float64)
    if c.shape != g.shape:
        raise InvalidInputError(f"counts has shape {c.shape}; gi_class has {g.shape}. Pass the same cube.")
    for name in ("s", "p", "tau"):
        arr = np.asarray(getattr(mk, name))
        if arr.shape != (n,):
            raise InvalidInputError(
                f"mk.{name} has shape {arr.shape}; expected ({n},), one Mann-Kendall result per cell."
            )
    if spatial is None:
        return g, c, c
    if not sp.issparse(spatial) or spatial.shape != (n, n):
        raise InvalidInputError(
            f"spatial must be a sparse ({n}, {n}) neighbour matrix (grid.neighbour_matrix); "
            f"received {type(spatial).__name__} of shape {getattr(spatial, 'shape', None)}."
        )
    return g, c, np.asarray(spatial @ c, dtype=np.float64)


def _validate_share(share_class, g: np.ndarray) -> np.ndarray | None:
    """``share_class`` as int8 of ``gi_class``'s shape, or None."""
    if share_class is None:
        return None
    a = np.asarray(share_class)
    if a.shape != g.shape:
        raise InvalidInputError(f"share_class has shape {a.shape}; gi_class has {g.shape}. Pass the same cube.")
    return _as_classes(a, "share_class", "GiStarResult.uncorrected_class")


def _as_classes(a: np.ndarray, name: str, source: str) -> np.ndarray:
    """Gi* classes as int8, refusing anything but whole numbers -3..3."""
    if a.size and (not np.all(np.isfinite(a)) or not np.all(a == np.round(a)) or a.min() < -3 or a.max() > 3):
        raise InvalidInputError(f"{name} must hold whole numbers from -3 to 3 ({source}).")
    return a.astype(np.int8)


def emerging_predicates(gi_class, mk: MKResult, counts, params: EmergingParams = EmergingParams(),
                        spatial=None, share_class=None) -> dict:
    """Every category's rule as a boolean mask, before precedence is applied.

    Parameters
    ----------
    gi_class, mk, counts, params
        As :func:`classify_emerging`.

    Returns
    -------
    dict
        ``{category: bool ndarray (n_cells,)}`` for the 16 categories in
        :data:`CATEGORY_PRECEDENCE` order, plus ``"_hot_weeks"``,
        ``"_cold_weeks"`` (raw), ``"_cold_used"``, ``"_cold_ignored"``,
        ``"_run"`` and ``"_rise_*"`` helper arrays. Overlaps are visible here;
        precedence resolves them in :func:`classify_emerging`.
    """
    g, c, nb = _validate(gi_class, mk, counts, params, spatial)
    return _predicates(g, mk, c, nb, params, _validate_share(share_class, g))


def rise_evidence(counts: np.ndarray, neighbourhood: np.ndarray, recent: np.ndarray,
                  area_weekly: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reports in each row's last ``recent`` weeks and the one-sided p of a rise.

    Returns ``(neighbourhood reports, cell reports, p)`` per row. Under "no
    change" a neighbourhood keeps its share of the area's weekly reports, so
    its recent count is Binomial(its total over all weeks, the recent weeks'
    share of the area's reports); ``p = P(X >= observed)``, exact. Rows with
    ``recent`` 0 or no reports get ``p = 1``. ``area_weekly`` is the whole
    study area's reports per week (default: the column sums of ``counts``,
    right only when ``counts`` holds every cell).
    """
    c = np.asarray(counts, dtype=np.float64)
    nb = np.asarray(neighbourhood, dtype=np.float64)
    recent = np.asarray(recent, dtype=np.int64)
    t = c.shape[1]
    rows = np.arange(c.shape[0])

    def tail_sums(a: np.ndarray) -> np.ndarray:  # column L = sum of the last L weeks
        return np.concatenate([np.zeros((a.shape[0], 1)), np.cumsum(a[:, ::-1], axis=1)], axis=1)

    weekly = c.sum(axis=0) if area_weekly is None else np.asarray(area_weekly, dtype=np.float64)
    area = tail_sums(weekly[None, :])[0]
    x = np.rint(tail_sums(nb)[rows, recent])
    own = np.rint(tail_sums(c)[rows, recent])
    total = np.rint(nb.sum(axis=1))
    share = area[recent] / area[t] if area[t] > 0 else np.ones(len(recent))
    p = np.where((recent > 0) & (total > 0), stats.binom.sf(x - 1, total, np.clip(share, 0, 1)), 1.0)
    return x, own, np.minimum(p, 1.0)


def _rise_check(candidate: np.ndarray, many: np.ndarray, run: np.ndarray, c: np.ndarray,
                nb: np.ndarray, params: EmergingParams) -> dict:
    """Evidence for a rise for the ``candidate`` cells (Gi* classes say new / consecutive /
    intensifying hot): over the hot run, or the later half of the period when hot in ``many`` weeks."""
    n, t = c.shape
    recent = np.where(many, t - t // 2, run)
    events, cell_events, p = np.zeros(n), np.zeros(n), np.ones(n)
    idx = np.flatnonzero(candidate)
    if idx.size:
        events[idx], cell_events[idx], p[idx] = rise_evidence(c[idx], nb[idx], recent[idx], c.sum(axis=0))
    ok = (events >= params.min_run_events) & (cell_events >= params.min_cell_events)
    if params.change_alpha < 1:
        ok &= p < params.change_alpha
    if not params.needs_evidence:
        ok[:] = True
    return {"_rise_checked": candidate & params.needs_evidence, "_rise_ok": ok | ~candidate,
            "_rise_weeks": np.where(candidate, recent, 0), "_rise_events": events,
            "_rise_cell_events": cell_events, "_rise_p": p}


def _predicates(g: np.ndarray, mk: MKResult, c: np.ndarray, nb: np.ndarray, params: EmergingParams,
                share: np.ndarray | None = None) -> dict:
    n, t = g.shape
    hot = g >= params.min_class
    cold_raw = g <= -params.min_class
    zero_share = (c == 0).mean(axis=1)
    cold_ignored = (zero_share >= params.mostly_zero_share - 1e-12) & cold_raw.any(axis=1)
    cold = cold_raw & ~cold_ignored[:, None]
    # Weeks counted toward the 90 % share: the same bins, or the uncorrected tests (module docstring).
    share_hot, share_cold = hot, cold
    if share is not None:
        share_hot = hot | (share >= params.min_class)
        share_cold = cold | ((share <= -params.min_class) & ~cold_ignored[:, None])

    p = np.asarray(mk.p, dtype=np.float64)
    s = np.asarray(mk.s, dtype=np.float64)
    significant = p < params.alpha
    up = significant & (s > 0)
    down = significant & (s < 0)
    need_all = _weeks_needed(params.hot_share, t)

    out: dict[str, np.ndarray] = {}
    runs, manys, shares = {}, {}, {}
    for side, mine, other, in_share, intens, dimin in (("hot", hot, cold, share_hot, up, down),
                                                       ("cold", cold, hot, share_cold, down, up)):
        count = mine.sum(axis=1)
        final = mine[:, -1]
        run = _trailing_run(mine)
        shared = in_share.sum(axis=1)
        many = shared >= need_all
        other_before = other[:, :-1].any(axis=1)
        runs[side], manys[side] = run, many
        out[f"new_{side}"] = final & (count == 1)
        out[f"consecutive_{side}"] = final & (run >= params.min_run) & (count == run) & ~many
        share_final = in_share[:, -1]  # the share rules' "including the final week", on the share's basis
        out[f"intensifying_{side}"] = share_final & many & intens
        out[f"persistent_{side}"] = share_final & many & ~significant
        out[f"diminishing_{side}"] = share_final & many & dimin
        out[f"sporadic_{side}"] = final & ~many & ~other.any(axis=1)
        out[f"oscillating_{side}"] = final & ~many & other_before
        earlier = shared - share_final
        out[f"historical_{side}"] = ~share_final & (earlier >= need_all)  # 90 % of ALL weeks (ESRI)
        shares[side], shares[f"{side}_earlier"] = shared, earlier
    rising = ("new_hot", "consecutive_hot", "intensifying_hot")
    candidate = np.logical_or.reduce([out[name] for name in rising])
    rise = _rise_check(candidate, manys["hot"], runs["hot"], c, nb, params)
    unconfirmed_up = out["intensifying_hot"] & ~rise["_rise_ok"]
    for name in rising:
        out[name] = out[name] & rise["_rise_ok"]
    out["persistent_hot"] = out["persistent_hot"] | unconfirmed_up
    preds = {name: out[name] for name in CATEGORY_PRECEDENCE}
    preds.update(
        _hot_weeks=hot.sum(axis=1),
        _share_hot_weeks=shares["hot"],
        _share_cold_weeks=shares["cold"],
        _share_hot_earlier=shares["hot_earlier"],
        _share_cold_earlier=shares["cold_earlier"],
        _cold_weeks=cold_raw.sum(axis=1),
        _cold_used=cold.sum(axis=1),
        _cold_ignored=cold_ignored,
        _zero_share=zero_share,
        _run_hot=runs["hot"],
        _run_cold=runs["cold"],
        **rise,
    )
    return preds


_CLASS_TEXT = {
    3: "hot (99 %)",
    2: "hot (95 %)",
    1: "hot (90 %)",
    0: "not significant",
    -1: "cold (90 %)",
    -2: "cold (95 %)",
    -3: "cold (99 %)",
}


def _fmt_p(p: float) -> str:
    if p < 0.001:
        return "p < 0.001"
    if p < 0.01:
        return f"p = {p:.3f}"
    return f"p = {p:.2f}"


def _n(count: int, word: str) -> str:
    """'1 week', '3 weeks'."""
    return f"{count} {word}{'s' if count != 1 else ''}"


def _rise_text(ev: tuple) -> str:
    """'12 reports nearby in the last 3 weeks (12 in the cell), rise p < 0.001'."""
    _, _, weeks, events, cell_events, p = ev
    return f"{_n(events, 'report')} nearby in the last {_n(weeks, 'week')} ({cell_events} in the cell), rise {_fmt_p(p)}"


def _reason(cat: str, t: int, hot_w: int, cold_w: int, run: int, tau: float, p: float, final: int,
            ignored: bool, zero_share: float, hr: bool, rise: tuple | None = None, shared: int | None = None) -> str:
    side, opp = ("hot", "cold") if cat.endswith("_hot") else ("cold", "hot")
    mine, other = (hot_w, cold_w) if side == "hot" else (cold_w, hot_w)
    pattern = cat.rsplit("_", 1)[0]
    if pattern in SHARE_PATTERNS and shared is not None:
        if shared != mine:  # counted on each week's own test (module docstring)
            mine = f"{shared} (each week's own test; {mine} after the false-discovery correction)"
    other_txt = f"; {opp} in {_n(other, 'earlier week')}" if other else ""
    if pattern == "new":
        head = f"{side} in the final week for the first time (1 of {t} weeks){other_txt}"
    elif pattern == "consecutive":
        head = f"{side} in {run} of the last {run} weeks, first time{other_txt}"
    elif pattern == "intensifying":
        head = f"{side} in {mine} of {t} weeks including the final week, significantly intensifying"
    elif pattern == "persistent":
        head = f"{side} in {mine} of {t} weeks including the final week, no significant trend"
    elif pattern == "diminishing":
        head = f"{side} in {mine} of {t} weeks including the final week, significantly weakening"
    elif pattern == "sporadic":
        head = f"{side} in the final week and on and off before ({mine} of {t} weeks), never {opp}"
    elif pattern == "oscillating":
        head = f"{side} in the final week ({mine} of {t} weeks){other_txt}"
    elif pattern == "historical":
        head = f"not {side} in the final week; {side} in {mine} of {t} weeks, all earlier"
    else:
        state = _CLASS_TEXT[final]
        head = f"no pattern: hot in {hot_w} and cold in {cold_w} of {t} weeks; final week {state}"
    if rise is not None:
        if rise[1]:
            head += f"; {_rise_text(rise)}"
        elif pattern == "persistent":
            head += f"; trend up but no confirmed rise ({_rise_text(rise)})"
        else:
            head = (f"{side} in the final week ({mine} of {t} weeks, the last {run} in a row), first time, "
                    f"but no confirmed rise ({_rise_text(rise)}){other_txt}")
    text = f"{head}; trend {tau:+.2f}, {_fmt_p(p)}{' (Hamed-Rao)' if hr else ''}"
    if ignored:
        text += f"; cold weeks ignored ({zero_share:.0%} of weeks without events)"
    return text


def classify_emerging(gi_class, mk: MKResult, counts, params: EmergingParams = EmergingParams(),
                      spatial=None, share_class=None) -> pd.DataFrame:
    """Emerging hot spot category and a one-line reason for every cell.

    Parameters
    ----------
    gi_class : array_like of int, shape (n_cells, n_weeks)
        Gi* classes -3..3 (``GiStarResult.gi_class``), weeks in time order.
    mk : MKResult
        Mann-Kendall test of each cell's Gi* z series (``mann_kendall(gi.z)``).
    counts : array_like, shape (n_cells, n_weeks)
        The cube's counts (mostly-zero rule, evidence for a rise).
    params : EmergingParams, optional
    spatial : scipy.sparse matrix (n_cells, n_cells), optional
        The Gi* spatial neighbour matrix (``grid.neighbour_matrix``), whose
        neighbourhood counts the rise evidence uses; the cell alone if None.
    share_class : array_like of int, shape (n_cells, n_weeks), optional
        Classes from each bin's own test, before the false-discovery
        correction (``GiStarResult.uncorrected_class``). When given, the
        "at least 90 % of weeks" share of *intensifying*, *persistent*,
        *diminishing* and *historical* counts these weeks (module docstring,
        "Counting the 90 % share"); when None the share counts ``gi_class``
        (ArcGIS Pro).

    Returns
    -------
    pandas.DataFrame
        One row per cell (same order) with ``category`` (one of
        :data:`CATEGORIES`), ``reason``, ``hot_weeks``, ``cold_weeks`` (raw
        significant-cold weeks), ``cold_ignored`` (mostly-zero rule applied),
        ``final_class``, ``trend_tau``, ``trend_p``, the rise evidence
        ``rise_weeks``, ``rise_events``, ``rise_p`` (0 / 0 / 1 where not checked),
        and ``share_hot_weeks`` (hot weeks counted toward the 90 % share:
        ``hot_weeks`` unless ``share_class`` is given).

    Notes
    -----
    Category definitions: ArcGIS Pro, "How Emerging Hot Spot Analysis works"
    (Esri); trend: Mann (1945) / Kendall (1975) on the Gi* z series, as
    ArcGIS. Precedence and the mostly-zero rule are this module's decisions,
    documented in the module docstring and :data:`CATEGORY_PRECEDENCE`.
    The "trend" figure in a reason is Kendall's tau of the z series.

    Examples
    --------
    >>> from analytics.trend import mann_kendall
    >>> g = np.zeros((3, 10), dtype=np.int8)
    >>> g[0, -1] = 2
    >>> g[1, -3:] = 3
    >>> counts = np.zeros((3, 10))
    >>> counts[0, -1], counts[1, -3:], counts[2] = 5, 4, 3  # cell 2: a steady 3 a week
    >>> df = classify_emerging(g, mann_kendall(g.astype(float)), counts)
    >>> df["category"].tolist()
    ['new_hot', 'consecutive_hot', 'no_pattern']
    >>> df.loc[1, "reason"]
    'hot in 3 of the last 3 weeks, first time; 12 reports nearby in the last 3 weeks (12 in the cell), rise p < 0.001; trend +0.47, p = 0.02'
    >>> steady = classify_emerging(g, mann_kendall(g.astype(float)), np.ones((3, 10)))
    >>> steady["category"].tolist()  # the same classes on a steady 1 a week: no rise
    ['sporadic_hot', 'sporadic_hot', 'no_pattern']
    """
    g, c, nb = _validate(gi_class, mk, counts, params, spatial)
    share = _validate_share(share_class, g)
    n, t = g.shape
    pred = _predicates(g, mk, c, nb, params, share)
    names = list(CATEGORY_PRECEDENCE)
    category = np.select([pred[k] for k in names], names, default="no_pattern") if n else np.array([], dtype=object)
    hot_w, cold_w, cold_used = pred["_hot_weeks"], pred["_cold_weeks"], pred["_cold_used"]
    final = g[:, -1] if n else np.zeros(0, dtype=np.int8)
    tau = np.asarray(mk.tau, dtype=np.float64)
    p = np.asarray(mk.p, dtype=np.float64)
    hr = getattr(mk, "method", "original") == "hamed_rao"
    # one Python pass over plain lists (indexing numpy arrays per cell costs more than the text)
    cats = [str(c) for c in category.tolist()]
    checked = pred["_rise_checked"].astype(bool)
    rise = [
        (ck, ok, int(w), int(e), int(ce), float(rp)) if ck else None
        for ck, ok, w, e, ce, rp in zip(checked.tolist(), pred["_rise_ok"].tolist(), pred["_rise_weeks"].tolist(),
                                         pred["_rise_events"].tolist(), pred["_rise_cell_events"].tolist(),
                                         pred["_rise_p"].tolist())
    ]
    is_hot = np.char.endswith(category.astype(str), "_hot") if n else np.zeros(0, dtype=bool)
    is_hist = np.char.startswith(category.astype(str), "historical") if n else np.zeros(0, dtype=bool)
    shared = np.where(is_hot, np.where(is_hist, pred["_share_hot_earlier"], pred["_share_hot_weeks"]),
                      np.where(is_hist, pred["_share_cold_earlier"], pred["_share_cold_weeks"]))
    reasons = [
        _reason(cat, t, hw, cu, rh if cat.endswith("_hot") else rc, ta, pv, fi, ig, zs, hr, ev, sh)
        for cat, hw, cu, rh, rc, ta, pv, fi, ig, zs, ev, sh in zip(
            cats,
            hot_w.astype(np.int64).tolist(),
            cold_used.astype(np.int64).tolist(),
            np.asarray(pred["_run_hot"], dtype=np.int64).tolist(),
            np.asarray(pred["_run_cold"], dtype=np.int64).tolist(),
            tau.tolist(),
            p.tolist(),
            final.astype(np.int64).tolist(),
            pred["_cold_ignored"].astype(bool).tolist(),
            np.asarray(pred["_zero_share"], dtype=np.float64).tolist(),
            rise,
            shared.astype(np.int64).tolist(),
        )
    ]
    return pd.DataFrame(
        {
            "category": pd.Series(category, dtype="object"),
            "reason": pd.Series(reasons, dtype="object"),
            "hot_weeks": hot_w.astype(np.int64),
            "cold_weeks": cold_w.astype(np.int64),
            "cold_ignored": pred["_cold_ignored"].astype(bool),
            "final_class": final.astype(np.int8),
            "trend_tau": tau,
            "trend_p": p,
            "rise_weeks": np.where(checked, pred["_rise_weeks"], 0).astype(np.int64),
            "rise_events": np.where(checked, pred["_rise_events"], 0).astype(np.int64),
            "rise_p": np.where(checked, pred["_rise_p"], 1.0),
            "share_hot_weeks": np.asarray(pred["_share_hot_weeks"]).astype(np.int64),
        }
    )
