"""Next week's events per cell: a Poisson-loss forecast fitted by rolling origin (METHODS §8).

The patrol plan answers "where will it happen next week?", a forecasting question. This
module predicts, for every cell of a study area, the expected number of events in the week
after an origin week ``t``, from what was known at the end of week ``t`` only.

Features per cell at origin ``t`` (all computed from weeks ``<= t``; see
:func:`feature_names`):

* ``own_w{w}`` — events in the cell over the last ``w`` weeks, per week (w = 1, 2, 4, 13, 26,
  52; divided by the weeks actually available, so short histories are not read as quiet
  ones). Long-term intensity is the strongest single signal of where crime happens next
  (Chainey, Tompson & Uhlig 2008, *Security Journal* 21).
* ``decay_h{h}`` — exponentially decayed counts ``Σ_k c[t-k] 2^(-k/h)``, normalised by
  ``Σ_k 2^(-k/h)`` (h = 4, 13, 26, 52 weeks): a cheap approximation of background rate plus
  self-excitation.
* ``ring1_w{w}``, ``ring2_w{w}`` — the same rates summed over the cells exactly 1 and 2 H3
  rings away (the cell excluded), from :func:`analytics.grid.neighbour_matrix`.
* ``near_repeat_1w``, ``near_repeat_2w`` — events in the last 1 and 2 weeks within ring 1
  (the cell included): the near-repeat term of Mohler et al. (2011), *Self-exciting point
  process modeling of crime*, JASA 106 (ETAS/Hawkes: λ(s, t) = μ(s) + Σ g(t − tᵢ, s − sᵢ)).
* ``weeks_since_event`` — weeks since the cell's last event (capped at 104).
* ``kde`` — a Gaussian kernel over H3 rings (:func:`analytics.evaluation.ring_kde_scores`)
  of the last ``kde_weeks`` weeks' rate or of a decayed rate (half-lives ``kde_half_lives``;
  decaying the counts is the cheap approximation METHODS §8 cites). Its memory and bandwidth
  σ (in rings) are chosen at every origin by a backtest on the past only: the σ whose smoothed counts caught the most
  next-week events in the top ``select_share`` and ``5 × select_share`` of cells over the
  training origins (ties: the σ nearest 1 ring).
* ``area_w4`` — the study area's mean rate per cell over the last 4 weeks (the level of
  that week, the same for every cell: lets one model span busy and quiet weeks).
* ``rise_tau26``, ``rise_excess4``, ``gi_w4`` (``rise=True``; off by default) — the engine's
  emerging signals as rise evidence of the cell's disk (the cell and ring 1), from
  :mod:`analytics.forecast_rise`: Kendall's tau (the Mann–Kendall statistic) of its weekly counts
  over the last 26 weeks, its events in the last 4 weeks above what its previous 22 weeks
  predict, and the Gi* z of the last 4 weeks' counts (positive part). On the development weeks
  (before the benchmark's evaluation window; 7 real series, 12–17 origins each) they did not help:
  the plan's area caught more with them on 2 series, fewer on 4, the same on 1 (the model choice
  is the KDE base rate at most origins, where the features do not enter), hence ``rise=False``.
* ``exposure`` — when given (e.g. young people placed nearby), the exposure at ``t``.
* ``cov_{name}`` — optional static covariates per cell passed by the caller (``covariates``,
  a DataFrame indexed by cell; e.g. counts of place categories in the cell and its ring 1,
  :mod:`analytics.forecast_places`). ``places=True`` asks the pipelines (weekly run, backtest)
  to pass the store's place-category counts and a non-uniform exposure; off by default (see
  the README: on the SYNTHETIC sample they did not help; real data sets have no places).

Space-time scan clusters (:mod:`analytics.scan`) are not a feature: the scan's Monte Carlo
p-values cost seconds to minutes per run, and a feature must be recomputed at every training
origin of every forecast (26 × 26 scans per backtest), while what a cluster says about a cell
(recent events in and around it, above its past) is what the disk's rise features measure.

Model: rows are ``(cell, past origin t', target = count at t' + 1)`` for the last
``train_origins`` origins with ``t' + 1 <= t`` — never the week forecast, so no leakage.
Rows whose features are all zero are merged exactly (for the Poisson deviance, ``n`` rows
with the same features and targets ``y_i`` equal one row with target ``ȳ`` and weight ``n``);
zero-target rows are then kept with probability ``zero_keep`` and weighted ``1/zero_keep``.
Four candidate models, all with a Poisson loss:

* ``linear`` — the discrete-time self-exciting (ETAS/Hawkes) form of Mohler et al. (2011):
  ``λ = β₀ + Σ βₖ xₖ`` with every ``β ≥ 0`` (background plus additive contributions of past
  events by window and ring; the long-term terms also enter squared), fitted by EM;
* ``hgb`` — :class:`sklearn.ensemble.HistGradientBoostingRegressor` (``loss="poisson"``) for
  a multiplier of a base rate ``b`` (the chosen KDE plus a small floor), i.e. a Poisson model
  with offset ``log b`` (recent-event features constrained to raise it);
* ``glm`` — :class:`sklearn.linear_model.PoissonRegressor` on standardised ``log1p``
  features, for the same multiplier;
* ``base`` — the base rate scaled to the mean (the KDE with the chosen bandwidth).

``model="auto"`` (default) chooses at each origin by an inner rolling-origin validation: each
candidate is fitted on the training origins before the last ``validation_origins`` and
scored on those held-out weeks (ties go to the simplest); the winner is refitted on all
training origins. ``select_by="captures"`` (default) scores the events caught by the top
``select_share`` and ``5 × select_share`` of cells — what the plan is for; ``"deviance"``
the mean Poisson deviance (a proper score of the whole distribution, dominated by the many
quiet cells). On development weeks before the benchmark's evaluation window (events of
2020-03-30..06-22 in Chicago, 2018-04-02..07-30 in Denver; ``benchmarks.ranking``), choosing
by captures caught 0.90 × the best baseline's events in the top 1 % in Chicago against 0.56
by deviance (which always picked the linear model), and 0.99 × either way in Denver, hence
the default (measured before the KDE memory joined the bandwidth choice).

Speed (the backtest's 26 origins on 35k cells within 5 minutes): the trees are given bin
numbers from unweighted quantiles (:func:`_bin_edges`; scikit-learn's weighted binning took
~90 % of a tree fit). Two options trade exactness for time over a run of origins
(:func:`rolling_forecasts`; the defaults keep every origin independent): ``reselect_every = k``
runs the inner validation at every ``k``-th origin only and refits the model it chose at the
origins between (only earlier origins' choices are reused: no leakage); ``warm_iters = m`` starts
each linear fit from the coefficients fitted at the previous origin (26-week windows that share
all but one week) and runs ``m`` updates instead of 300 from scratch — on a SYNTHETIC 35k-cell
cube 30 warm updates reached a higher likelihood than 300 cold ones. ``hotspots backtest`` uses ``k = 4``,
``m = 60`` (``pipelines.backtest.BACKTEST_SPEEDUPS``); when its cube changes per origin
(``reported_at``) it calls :func:`forecast_next_week` with a ``state`` dict for the same effect.

Interval: ``expected_low``/``expected_high`` are the ``(1 − level)/2`` and ``(1 + level)/2``
quantiles of a Poisson distribution with the forecast mean — the spread of next week's count
if the mean were right (model uncertainty is not included; it is smaller than the Poisson
spread at the counts of one cell and one week).

Scoring of rankings (hit rate, PAI, PEI*: Chainey et al. 2008; Hunt 2016) is in
:mod:`analytics.forecast_eval`. Pure computation: numpy, pandas, scipy, scikit-learn.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.stats import poisson
from threadpoolctl import threadpool_limits

from analytics import grid
from analytics.errors import InvalidInputError
from analytics.evaluation import ring_kde_scores
from analytics.forecast_rise import RISE_FEATURES, gi_star, kendall_tau, recent_excess

__all__ = [
    "ForecastParams", "Forecast", "feature_names", "cube_features", "forecast_next_week", "rolling_forecasts",
    "poisson_interval", "expected_capture", "MODELS", "covariate_matrix",
]

MODELS = ("auto", "hgb", "glm", "linear", "base")
#: How ``model="auto"`` scores candidates on the held-out weeks (see the module docstring).
SELECT_BY = ("captures", "deviance")
#: Candidates of ``model="auto"``, most complex first (ties go to the simplest).
CANDIDATES = ("hgb", "glm", "linear", "base")
_MAX_SINCE = 104.0


@dataclass(frozen=True)
class ForecastParams:
    """Choices of the forecast; validated on creation (``InvalidInputError`` on bad values).

    Defaults are fixed from the literature or chosen per origin on the past only
    (``kde_sigmas`` and ``model="auto"``); none was tuned on evaluation weeks.
    """

    windows: tuple[int, ...] = (1, 2, 4, 13, 26, 52)
    half_lives: tuple[float, ...] = (4.0, 13.0, 26.0, 52.0)
    ring_windows: tuple[int, ...] = (1, 4, 13, 52)
    kde_weeks: int = 52
    kde_sigmas: tuple[float, ...] = (0.25, 0.5, 1.0, 1.5)
    kde_half_lives: tuple[float, ...] = (13.0, 26.0)
    base_floor: float = 0.1
    select_share: float = 0.01
    train_origins: int = 26
    min_train_origins: int = 4
    validation_origins: int = 6
    zero_keep: float = 0.25
    model: str = "auto"
    select_by: str = "captures"
    max_iter: int = 100
    learning_rate: float = 0.05
    max_leaf_nodes: int = 15
    min_samples_leaf: int = 40
    l2_regularization: float = 1.0
    glm_alpha: float = 1e-3
    level: float = 0.9
    seed: int = 0
    reselect_every: int = 1
    warm_iters: int = 0
    rise: bool = False
    places: bool = False

    def __post_init__(self) -> None:
        def ints(name, values, lo):
            if not values or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo
                                 for v in values):
                raise InvalidInputError(f"ForecastParams.{name} must be a non-empty tuple of integers >= {lo}; "
                                        f"received {values!r}.")

        def pos(name, value, lo=0.0, hi=math.inf, lo_open=True, hi_open=False):
            ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) \
                and math.isfinite(float(value))
            if ok:
                v = float(value)
                ok = (v > lo if lo_open else v >= lo) and (v < hi if hi_open else v <= hi)
            if not ok:
                raise InvalidInputError(f"ForecastParams.{name} out of range; received {value!r}.")

        ints("windows", self.windows, 1)
        ints("ring_windows", self.ring_windows, 1)
        if not self.half_lives:
            raise InvalidInputError("ForecastParams.half_lives must not be empty.")
        for h in self.half_lives:
            pos("half_lives", h)
        if not self.kde_sigmas:
            raise InvalidInputError("ForecastParams.kde_sigmas must not be empty.")
        for s in self.kde_sigmas:
            pos("kde_sigmas", s)
        for h in self.kde_half_lives:
            pos("kde_half_lives", h)
        for name in ("kde_weeks", "train_origins", "min_train_origins", "validation_origins", "max_iter",
                     "min_samples_leaf", "reselect_every"):
            ints(name, (getattr(self, name),), 1)
        ints("max_leaf_nodes", (self.max_leaf_nodes,), 2)
        ints("seed", (self.seed,), 0)
        ints("warm_iters", (self.warm_iters,), 0)
        if self.min_train_origins > self.train_origins:
            raise InvalidInputError(f"ForecastParams.min_train_origins ({self.min_train_origins}) exceeds "
                                    f"train_origins ({self.train_origins}).")
        pos("select_share", self.select_share, 0.0, 1.0)
        pos("zero_keep", self.zero_keep, 0.0, 1.0)
        pos("base_floor", self.base_floor)
        pos("learning_rate", self.learning_rate, 0.0, 1.0)
        pos("l2_regularization", self.l2_regularization, 0.0, lo_open=False)
        pos("glm_alpha", self.glm_alpha, 0.0, lo_open=False)
        pos("level", self.level, 0.0, 1.0, hi_open=True)
        for name in ("rise", "places"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidInputError(f"ForecastParams.{name} must be True or False; "
                                        f"received {getattr(self, name)!r}.")
        if self.select_by not in SELECT_BY:
            raise InvalidInputError(f"ForecastParams.select_by must be one of {', '.join(SELECT_BY)}; "
                                    f"received {self.select_by!r}.")
        if self.model not in MODELS:
            raise InvalidInputError(f"ForecastParams.model must be one of {', '.join(MODELS)}; "
                                    f"received {self.model!r}.")


@dataclass(frozen=True)
class Forecast:
    """Expected events next week per cell (``cells`` order) with a Poisson interval and the fitted choices."""

    cells: np.ndarray
    expected: np.ndarray
    expected_low: np.ndarray
    expected_high: np.ndarray
    origin: int
    choices: dict = field(default_factory=dict)

    def as_frame(self) -> pd.DataFrame:
        """One row per cell: cell, expected, expected_low, expected_high."""
        return pd.DataFrame({"cell": self.cells, "expected": self.expected, "expected_low": self.expected_low,
                             "expected_high": self.expected_high})


# ------------------------------------------------------------------------------------------------ features
def feature_names(params: ForecastParams, exposure: bool = False, covariates=()) -> list[str]:
    """Feature columns in order (the KDE column is the σ chosen at fit time); ``covariates``: their names."""
    names = [f"own_w{w}" for w in params.windows]
    names += [f"decay_h{h:g}" for h in params.half_lives]
    names += [f"ring1_w{w}" for w in params.ring_windows] + [f"ring2_w{w}" for w in params.ring_windows]
    names += ["near_repeat_1w", "near_repeat_2w", "weeks_since_event", "kde", "area_w4"]
    names += list(RISE_FEATURES) if params.rise else []
    return names + (["exposure"] if exposure else []) + [f"cov_{k}" for k in covariates]


def covariate_matrix(covariates, cells) -> tuple[np.ndarray, list[str]] | None:
    """Static per-cell covariates (a DataFrame indexed by cell, numeric columns) aligned to ``cells``.

    Cells absent from the frame get 0 (e.g. no place of that category in the cell). ``None``
    passes through. Values must be finite and ``>= 0`` (counts or shares).
    """
    if covariates is None:
        return None
    if not isinstance(covariates, pd.DataFrame):
        raise InvalidInputError("covariates must be a DataFrame indexed by cell (uint64 H3 ids), one column each.")
    try:
        frame = covariates.astype(np.float64)
        index = np.asarray(covariates.index, dtype=np.uint64)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"covariates must be numeric with H3 cell ids as index: {exc}") from exc
    if frame.index.has_duplicates:
        raise InvalidInputError("covariates has a cell more than once.")
    m = frame.set_axis(index).reindex(np.asarray(cells, dtype=np.uint64)).fillna(0.0).to_numpy()
    if not np.all(np.isfinite(m)) or (m.size and m.min() < 0):
        raise InvalidInputError("covariates must be finite numbers >= 0.")
    return m, [str(k) for k in frame.columns]


def _check_counts(counts) -> np.ndarray:
    c = np.asarray(counts, dtype=np.float64)
    if c.ndim != 2:
        raise InvalidInputError(f"counts must be a cells × weeks array; received shape {c.shape}.")
    if c.size and (not np.all(np.isfinite(c)) or c.min() < 0):
        raise InvalidInputError("counts must be finite numbers >= 0.")
    return c


def _check_exposure(exposure, shape) -> np.ndarray | None:
    if exposure is None:
        return None
    e = np.asarray(exposure, dtype=np.float64)
    if e.ndim == 1:
        e = np.repeat(e[:, None], shape[1], axis=1)
    if e.shape != shape:
        raise InvalidInputError(f"exposure must have one value per cell or per cell and week {shape}; "
                                f"received shape {np.asarray(exposure).shape}.")
    if not np.all(np.isfinite(e)) or (e.size and e.min() < 0):
        raise InvalidInputError("exposure must be finite numbers >= 0.")
    return e


def _rings(cells, rings) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    if rings is not None:
        return rings
    cells = np.asarray(cells, dtype=np.uint64)
    return grid.neighbour_matrix(cells, 1), grid.neighbour_matrix(cells, 2)


def cube_features(counts, origins, params: ForecastParams, rings, exposure=None, covariates=None) -> dict:
    """Features of every cell at each origin in ``origins`` (week indices into ``counts``).

    ``covariates``: ``(matrix cells × k, names)`` as :func:`covariate_matrix` returns, or None.

    Returns ``{"X": array (origins, cells, features) float32 without the KDE column filled,
    "kde": array (memories × sigmas, origins, cells), "kde_labels": [(memory, σ)], "names": [...]}``. Each origin's row uses weeks
    ``<= origin`` only (computed with prefix sums and recursions that never look ahead).
    """
    c = _check_counts(counts)
    n, T = c.shape
    origins = np.asarray(origins, dtype=np.int64)
    if origins.size and (origins.min() < 0 or origins.max() >= T):
        raise InvalidInputError(f"origins must be week indices from 0 to {T - 1}.")
    ring1, ring2 = rings
    if ring1.shape != (n, n) or ring2.shape != (n, n):
        raise InvalidInputError(f"ring matrices must be {n} × {n} (one row per cell of counts).")
    e = _check_exposure(exposure, c.shape)
    cov_m, cov_names = covariates if covariates is not None else (None, [])
    if cov_m is not None and cov_m.shape[0] != n:
        raise InvalidInputError(f"covariates must have one row per cell ({n}); received {cov_m.shape[0]}.")
    names = feature_names(params, exposure=e is not None, covariates=cov_names)
    cs = np.concatenate([np.zeros((n, 1)), np.cumsum(c, axis=1)], axis=1)  # cs[:, t + 1] = Σ_{k <= t}

    def window_rate(w):
        lo = np.maximum(origins - w + 1, 0)
        return (cs[:, origins + 1] - cs[:, lo]) / (origins + 1 - lo)  # (cells, origins)

    cols = [window_rate(w) for w in params.windows]

    def decayed(h):
        r = 0.5 ** (1.0 / h)
        d = np.empty_like(c)
        z = np.empty(T)
        acc, zacc = np.zeros(n), 0.0
        for t in range(T):
            acc = acc * r + c[:, t]
            zacc = zacc * r + 1.0
            d[:, t], z[t] = acc, zacc
        return d[:, origins] / z[origins]

    cols += [decayed(h) for h in params.half_lives]
    ring_rates = [window_rate(w) for w in params.ring_windows]
    disk1 = [ring1 @ x for x in ring_rates]
    disk2 = [ring2 @ x for x in ring_rates]
    cols += [d1 - x for d1, x in zip(disk1, ring_rates)]
    cols += [d2 - d1 for d2, d1 in zip(disk2, disk1)]
    last1 = c[:, origins]
    last2 = last1 + np.where(origins >= 1, c[:, np.maximum(origins - 1, 0)], 0.0)
    cols += [ring1 @ last1, ring1 @ last2]
    since = np.empty_like(c)
    cur = np.full(n, _MAX_SINCE)
    for t in range(T):
        cur = np.where(c[:, t] > 0, 0.0, np.minimum(cur + 1.0, _MAX_SINCE))
        since[:, t] = cur
    cols.append(since[:, origins])
    cols.append(np.zeros((n, len(origins))))  # kde: filled at fit time with the chosen σ
    cols.append(np.broadcast_to(window_rate(4).mean(axis=0, keepdims=True), (n, len(origins))))
    if params.rise:
        cols.append(kendall_tau(ring1 @ c, origins, 26))
        cols.append(recent_excess(c, origins, ring1, 4, 26))
        cols.append(np.maximum(gi_star(c, origins, ring1, 4), 0.0))  # local excess only: "quiet" is 0
    if e is not None:
        cols.append(e[:, origins])
    if cov_m is not None:
        cols += [np.broadcast_to(cov_m[:, k:k + 1], (n, len(origins))) for k in range(cov_m.shape[1])]
    X = np.stack(cols, axis=-1).transpose(1, 0, 2).astype(np.float32)  # (origins, cells, features)
    bases = [(f"{params.kde_weeks}-week rate", window_rate(params.kde_weeks))]
    bases += [(f"decayed, half-life {h:g} weeks", decayed(h)) for h in params.kde_half_lives]
    kde = np.stack([np.asarray(ring_kde_scores(rate, ring1, ring2, s)).T
                    for _, rate in bases for s in params.kde_sigmas]).astype(np.float32)
    labels = [(label, s) for label, _ in bases for s in params.kde_sigmas]  # (memory, σ) per kde row
    return {"X": X, "kde": kde, "kde_labels": labels, "names": names, "origins": origins}


# ------------------------------------------------------------------------------------------------ scoring
def expected_capture(scores, outcome, m: int) -> float:
    """Events caught by the top ``m`` cells by ``scores``, ties broken uniformly at random (expected value).

    Cells above the ``m``-th score are taken; the ``k`` remaining slots go to the cells tied at
    that score, each with probability ``k / tied``, so the tied group adds ``k / tied`` of its
    events. Deterministic, and neither a baseline with many tied counts nor the forecast is
    helped or hurt by an arbitrary order.

    Examples
    --------
    >>> expected_capture([3, 1, 1, 1, 0], [2, 3, 0, 0, 5], 2)
    3.0
    """
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(outcome, dtype=np.float64)
    if s.shape != y.shape or s.ndim != 1:
        raise InvalidInputError("scores and outcome must be 1-d arrays of the same length.")
    m = int(m)
    if m <= 0 or s.size == 0:
        return 0.0
    if m >= s.size:
        return float(y.sum())
    thr = np.partition(s, s.size - m)[s.size - m]  # the m-th largest score
    above = s > thr
    tied = s == thr
    k = m - int(above.sum())
    return float(y[above].sum() + k / int(tied.sum()) * y[tied].sum())


def poisson_interval(mean, level: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
    """Central ``level`` interval of a Poisson count with mean ``mean`` (quantiles, integers)."""
    mu = np.asarray(mean, dtype=np.float64)
    a = (1.0 - level) / 2.0
    lo = np.where(mu > 0, poisson.ppf(a, np.maximum(mu, 1e-12)), 0.0)
    hi = np.where(mu > 0, poisson.ppf(1.0 - a, np.maximum(mu, 1e-12)), 0.0)
    return lo, hi


# ------------------------------------------------------------------------------------------------ fitting
def _capture_score(scores, outcome, n_cells: int, params: ForecastParams) -> float:
    """Selection criterion: events caught by the top ``select_share`` and ``5 × select_share`` of cells."""
    m1 = max(1, math.ceil(params.select_share * n_cells))
    m5 = max(1, math.ceil(min(1.0, 5 * params.select_share) * n_cells))
    return expected_capture(scores, outcome, m1) + expected_capture(scores, outcome, m5)


def _deviance(y, mu) -> float:
    """Mean Poisson deviance of counts ``y`` under means ``mu`` (lower is better; a proper score)."""
    y = np.asarray(y, dtype=np.float64)
    mu = np.maximum(np.asarray(mu, dtype=np.float64), 1e-9)
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(y > 0, y * np.log(y / mu), 0.0)
    return float(2.0 * np.mean(term - (y - mu)))


def _select_sigma(feats: dict, c: np.ndarray, train_idx: np.ndarray, params: ForecastParams) -> int:
    """Index of the KDE (memory, σ) whose scores caught most next-week events over the training origins."""
    labels = feats["kde_labels"]
    got = [sum(_capture_score(feats["kde"][si, j], c[:, feats["origins"][j] + 1], c.shape[0], params)
               for j in train_idx) for si in range(len(labels))]
    best = max(got)
    # ties: the σ nearest one ring (the street-level default, ~350 m at resolution 9), then the flat window
    cands = [i for i, g in enumerate(got) if g >= best - 1e-9]
    return min(cands, key=lambda i: (abs(labels[i][1] - 1.0), i))


def _rows(feats: dict, j: int, si: int, params: ForecastParams) -> tuple[np.ndarray, np.ndarray]:
    """Features (KDE column filled with σ index ``si``) and the base rate ``b`` of origin position ``j``."""
    X = feats["X"][j].copy()
    kde = feats["kde"][si, j].astype(np.float64)
    X[:, feats["names"].index("kde")] = kde
    floor = params.base_floor * float(kde.mean()) if kde.any() else 1.0
    return X, kde + floor


def _design(feats: dict, c: np.ndarray, idx: np.ndarray, si: int, rng: np.random.Generator | None,
            params: ForecastParams):
    """Training rows for origin positions ``idx``: X, y/b, weight·b (zero rows merged / subsampled).

    With a base rate ``b`` the Poisson deviance satisfies d(y, b·f) = b·d(y/b, f), so a model of
    the multiplier ``f`` fitted on target ``y/b`` with weight ``b`` is the Poisson model with
    offset ``log b``.
    """
    names = feats["names"]
    drop_cols = [names.index("weeks_since_event"), names.index("area_w4")]  # never 0: not evidence of events
    Xs, ys, ws, bs = [], [], [], []
    for j in idx:
        X, b = _rows(feats, j, si, params)
        y = c[:, feats["origins"][j] + 1]
        empty = ~np.any(np.delete(X, drop_cols, axis=1) > 0, axis=1)
        if empty.any():  # identical all-zero rows (same b) merged exactly: the deviance is linear in y
            Xs.append(X[empty][:1])
            ys.append(np.array([y[empty].mean() / b[empty][0]]))
            ws.append(np.array([float(empty.sum()) * b[empty][0]]))
            bs.append(b[empty][:1])
        keep = ~empty
        w = np.ones(c.shape[0])
        if rng is not None and params.zero_keep < 1.0:
            zero = keep & (y == 0)
            keep &= ~(zero & (rng.random(y.size) >= params.zero_keep))
            w = np.where(zero, 1.0 / params.zero_keep, 1.0)
        Xs.append(X[keep])
        ys.append(y[keep] / b[keep])
        ws.append(w[keep] * b[keep])
        bs.append(b[keep])
    return np.concatenate(Xs), np.concatenate(ys), np.concatenate(ws), np.concatenate(bs)


def _monotone(names: list[str]) -> list[int]:
    """Constraints on the multiplier: recent events nearby never lower it (near-repeat, Mohler et al. 2011);
    the long-term terms are left free (the base rate already carries them and may need shrinking)."""
    recent = {"own_w1", "own_w2", "own_w4", "ring1_w1", "ring1_w4", "near_repeat_1w", "near_repeat_2w"}
    return [1 if n in recent else (-1 if n == "weeks_since_event" else 0) for n in names]


#: Long-term terms that also enter the linear model squared: a few events in 52 weeks are mostly
#: noise, many are a chronic place, so the intensity is convex in them (shrinkage of the tail).
_SQUARED = ("own_w26", "own_w52", "decay_h26", "decay_h52", "kde")


def _linear_terms(X, names) -> np.ndarray:
    X = np.maximum(X, 0.0).astype(np.float64)
    sq = [names.index(n) for n in _SQUARED if n in names]
    return np.concatenate([np.ones((X.shape[0], 1)), X, X[:, sq] ** 2], axis=1)


def _fit_linear(X, y, w, names, params: ForecastParams, iters: int = 300, beta0: np.ndarray | None = None):
    """Poisson regression with identity link and non-negative weights: λ = β₀ + Σ βₖ xₖ (β ≥ 0).

    The terms are the features plus the squares of the long-term ones (:data:`_SQUARED`).

    The discrete-time form of a self-exciting (ETAS/Hawkes) intensity — a background plus
    additive contributions of past events in windows and rings (Mohler et al. 2011) — fitted
    by the EM / multiplicative updates βₖ ← βₖ · Σᵢ wᵢ xᵢₖ yᵢ/λᵢ ÷ Σᵢ wᵢ xᵢₖ, which never leave
    β ≥ 0 and increase the Poisson likelihood at every step (Lee & Seung 2001, KL divergence).
    ``beta0`` (a fit on overlapping weeks) is a warm start: a coefficient at 0 would stay 0
    under the updates, so each starts at least at 1/1000 of the cold start's value.
    """
    A = _linear_terms(X, names)
    scale = np.average(A, axis=0, weights=w)
    scale = np.where(scale > 0, scale, 1.0)
    A /= scale
    denom = (w[:, None] * A).sum(0)
    beta = np.full(A.shape[1], float(np.sum(w * y) / np.sum(w)) / A.shape[1])
    if beta0 is not None and beta0.shape == beta.shape:
        beta = np.maximum(beta0 * scale, 1e-3 * beta)
    active = denom > 0
    for _ in range(iters):
        lam = np.maximum(A @ beta, 1e-12)
        beta = np.where(active, beta * ((w * y / lam) @ A) / np.where(active, denom, 1.0), 0.0)
    return beta / scale


def _fit(kind: str, X, y, w, b, names, params: ForecastParams, warm: dict | None = None):
    """Fit model ``kind``: ``linear`` on (y, w); hgb, glm or base as a multiplier of the base rate ``b``.

    ``warm``: state carried between origins; with ``params.warm_iters`` the linear model starts
    from the coefficients last fitted (``warm["beta"]``) and runs ``warm_iters`` updates.
    """
    if kind == "linear":
        yy, ww = y * b, w / b
        if yy.sum() <= 0:
            return ("base", 0.0)
        beta0 = warm.get("beta") if warm is not None and params.warm_iters else None
        iters = params.warm_iters if beta0 is not None else 300
        return ("linear", (_fit_linear(X, yy, ww, names, params, iters, beta0), names))
    if kind == "base" or y.sum() <= 0:
        return ("base", float(np.sum(w * y) / np.sum(w)) if np.sum(w) > 0 else 0.0)
    return _fit_one(kind, X, y, w, names, params)


#: Bins per feature of the boosted trees (scikit-learn's default ``max_bins``).
_MAX_BINS = 255


def _bin_edges(X) -> list[np.ndarray]:
    """Per feature, at most ``_MAX_BINS - 1`` cut points: unweighted quantiles of the training rows.

    The trees are given bin numbers, not values: with sample weights scikit-learn (≥ 1.6) finds
    its own cut points by a weighted percentile per cut and feature, which took ~90 % of a fit on
    35k cells (~6 s of ~6.5 s). Unweighted quantiles of the same rows are the same kind of cut
    points (the trees only split between bins) at a fraction of the cost.
    """
    q = np.linspace(0.0, 1.0, _MAX_BINS + 1)[1:-1]
    out = []
    for k in range(X.shape[1]):
        u = np.unique(X[:, k])
        if u.size <= _MAX_BINS:
            out.append((u[:-1] + u[1:]) / 2.0)
        else:
            out.append(np.unique(np.quantile(X[:, k], q)))
    return out


def _binned(X, edges) -> np.ndarray:
    """Bin number of every value (monotone in the value, so monotonic constraints keep their meaning)."""
    return np.stack([np.searchsorted(e, X[:, k], side="left") for k, e in enumerate(edges)], axis=1
                    ).astype(np.float32)


def _fit_one(kind: str, X, y, w, names, params: ForecastParams):
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.linear_model import PoissonRegressor

    if kind == "hgb":
        edges = _bin_edges(X)
        model = HistGradientBoostingRegressor(
            loss="poisson", max_iter=params.max_iter, learning_rate=params.learning_rate,
            max_leaf_nodes=params.max_leaf_nodes, min_samples_leaf=params.min_samples_leaf,
            l2_regularization=params.l2_regularization, monotonic_cst=_monotone(names),
            early_stopping=False, random_state=params.seed)
        model.fit(_binned(X, edges), y, sample_weight=w)
        return ("hgb", (model, edges))
    Z = np.log1p(np.maximum(X, 0.0).astype(np.float64))
    mu = np.average(Z, axis=0, weights=w)
    sd = np.sqrt(np.average((Z - mu) ** 2, axis=0, weights=w))
    sd = np.where(sd > 0, sd, 1.0)
    model = PoissonRegressor(alpha=params.glm_alpha, max_iter=300)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning on tiny data: the fit is still usable
        model.fit((Z - mu) / sd, y, sample_weight=w)
    return ("glm", (model, mu, sd))


def _predict(fitted, X, b) -> np.ndarray:
    """Expected count = base rate × fitted multiplier."""
    kind, model = fitted
    if kind == "base":
        return b * model
    if kind == "linear":
        beta, names = model
        return _linear_terms(X, names) @ beta
    if kind == "hgb":
        hgb, edges = model
        return b * np.asarray(hgb.predict(_binned(X, edges)), dtype=np.float64)
    glm, mu, sd = model
    return b * np.asarray(glm.predict((np.log1p(np.maximum(X, 0.0).astype(np.float64)) - mu) / sd),
                          dtype=np.float64)


def _forecast_at(feats: dict, c: np.ndarray, pos: int, params: ForecastParams, cells,
                 reuse: dict | None = None, warm: dict | None = None) -> Forecast:
    """Forecast for the origin at position ``pos`` of ``feats`` from earlier origins only.

    ``reuse``: the choices of an earlier origin whose selected model is refitted here without
    a new inner validation (``ForecastParams.reselect_every``); ``warm``: see :func:`_fit`.
    """
    # one thread for fits and predictions: on designs this small OpenMP start-up and spin-waits
    # cost more than they save (a 15-tree fit: 0.3 s on one thread, 11 s on two busy shared cores)
    with threadpool_limits(1):
        return _forecast_at_1(feats, c, pos, params, cells, reuse, warm)


def _forecast_at_1(feats: dict, c: np.ndarray, pos: int, params: ForecastParams, cells,
                   reuse: dict | None = None, warm: dict | None = None) -> Forecast:
    origins = feats["origins"]
    t = int(origins[pos])
    past = np.flatnonzero((origins + 1 <= t) & (origins >= t - params.train_origins))
    if past.size < params.min_train_origins:
        raise InvalidInputError(
            f"Not enough history to fit the forecast at week index {t}: {past.size} past origins with a known "
            f"next week, at least {params.min_train_origins} needed.")
    si = _select_sigma(feats, c, past, params)
    names = feats["names"]
    kind, scores, selected_at = params.model, {}, t
    if kind == "auto" and reuse is not None:
        kind, scores, selected_at = reuse["selected"], reuse["validation_scores"], reuse["selected_at"]
    elif kind == "auto":
        nv = min(params.validation_origins, past.size - 2)
        if nv < 1:
            kind = "hgb"
        else:
            inner, valid = past[:-nv], past[-nv:]
            inner = inner[origins[inner] + 1 <= origins[valid].min()]  # inner targets precede validation weeks
            X, y, w, b = _design(feats, c, inner, si, np.random.default_rng([params.seed, t, 1]), params)
            for cand in CANDIDATES:
                fitted = _fit(cand, X, y, w, b, names, params, warm)
                preds = [(c[:, origins[j] + 1], _predict(fitted, *_rows(feats, j, si, params))) for j in valid]
                if params.select_by == "deviance":  # lower is better: negate so that higher always wins
                    scores[cand] = -float(np.mean([_deviance(yv, mv) for yv, mv in preds]))
                else:
                    scores[cand] = float(sum(_capture_score(mv, yv, c.shape[0], params) for yv, mv in preds))
            best = max(scores.values())
            kind = next(k for k in reversed(CANDIDATES) if scores[k] >= best - 1e-12)  # ties: the simplest
    X, y, w, b = _design(feats, c, past, si, np.random.default_rng([params.seed, t]), params)
    fitted = _fit(kind, X, y, w, b, names, params, warm)
    if warm is not None and fitted[0] == "linear":
        warm["beta"] = fitted[1][0]
    mu = np.maximum(_predict(fitted, *_rows(feats, pos, si, params)), 0.0)
    lo, hi = poisson_interval(mu, params.level)
    choices = {"model": fitted[0], "selected": kind, "selected_at": selected_at,
               "kde_sigma_rings": feats["kde_labels"][si][1], "kde_memory": feats["kde_labels"][si][0],
               "features": list(names),
               "train_origins": int(past.size), "train_rows": int(y.size), "validation_scores": scores,
               "select_by": params.select_by,
               "interval": f"Poisson {params.level:.0%} quantiles of the expected count"}
    return Forecast(np.asarray(cells, dtype=np.uint64), mu, lo, hi, t, choices)


def forecast_next_week(counts, cells, origin: int, params: ForecastParams = ForecastParams(), exposure=None,
                       rings=None, covariates=None, state: dict | None = None) -> Forecast:
    """Expected events per cell in week ``origin + 1`` from weeks ``<= origin`` only.

    ``counts`` is the cube (cells × weeks), ``cells`` its uint64 H3 cells (unique, one
    resolution), ``exposure`` optional (per cell, or cells × weeks). ``rings`` may pass the
    ring-1 and ring-2 :func:`analytics.grid.neighbour_matrix` of ``cells`` to reuse them.
    ``covariates`` optional: static per-cell values (:func:`covariate_matrix`), e.g. counts of
    place categories in the cell. ``state``: a dict the caller keeps between calls at successive
    origins (e.g. a backtest whose cube changes per origin) so that ``reselect_every`` and
    ``warm_iters`` apply as in :func:`rolling_forecasts`; None: every call independent.
    """
    c = _check_counts(counts)
    cells = np.asarray(cells, dtype=np.uint64)
    if cells.shape[0] != c.shape[0]:
        raise InvalidInputError(f"cells ({cells.shape[0]}) and counts rows ({c.shape[0]}) differ.")
    if isinstance(origin, bool) or not isinstance(origin, (int, np.integer)) or not 0 <= origin < c.shape[1]:
        raise InvalidInputError(f"origin must be a week index from 0 to {c.shape[1] - 1}; received {origin!r}.")
    first = max(0, int(origin) - params.train_origins)
    feats = cube_features(c, np.arange(first, int(origin) + 1), params, _rings(cells, rings), exposure,
                          covariate_matrix(covariates, cells))
    if state is None:
        return _forecast_at(feats, c, int(origin) - first, params, cells)
    k = state.get("calls", 0)
    reuse = state.get("last") if k % params.reselect_every else None
    fc = _forecast_at(feats, c, int(origin) - first, params, cells, reuse, state.setdefault("warm", {}))
    state["calls"], state["last"] = k + 1, fc.choices
    return fc


def rolling_forecasts(counts, cells, origins, params: ForecastParams = ForecastParams(), exposure=None,
                      rings=None, progress=None, covariates=None) -> list[Forecast]:
    """:func:`forecast_next_week` at each origin, features computed once (each fit sees only its past).

    With ``params.reselect_every`` / ``warm_iters`` above their defaults, later origins reuse the
    model choice / linear coefficients of earlier ones (see the module docstring).
    """
    c = _check_counts(counts)
    origins = sorted(int(o) for o in origins)
    if not origins:
        return []
    first = max(0, origins[0] - params.train_origins)
    all_origins = np.arange(first, origins[-1] + 1)
    feats = cube_features(c, all_origins, params, _rings(cells, rings), exposure,
                          covariate_matrix(covariates, cells))
    out: list[Forecast] = []
    warm: dict = {}
    for i, o in enumerate(origins):
        reuse = out[-1].choices if i % params.reselect_every and out else None
        out.append(_forecast_at(feats, c, o - first, params, cells, reuse, warm))
        if progress:
            progress(i + 1, len(origins))
    return out
