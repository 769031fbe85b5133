"""The hotspot engine's analysis, pure: a (cells x weeks) cube in, Gi* -> Mann-Kendall -> emerging
categories -> prospective scan out; and the space-time (ST-DBSCAN) clusters of an event table.

:class:`HotspotParams` holds every tunable of an engine run (recorded in run.json); the rule sets
(``--rules``) decide the p-value, FDR family and 90 % share basis unless given explicitly. Time bins
(``bin_weeks``, :mod:`analytics.bins`) apply to Gi*, the trend and the categories; the scan runs on
weekly counts. The store, the files and run.json belong to :mod:`pipelines.hotspots_run`, which reads
the cube and the events and hands them in.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from datetime import date
from typing import ContextManager, Protocol

import geopandas as gpd
import numpy as np
import pandas as pd

from analytics import grid
from analytics.bins import (AUTO, BinChoice, aggregate_bins, check_bin_weeks, choose_bin_weeks, min_trend_bins,
                            name_bins)
from analytics.cluster_sources import DEFAULT_MIN_SOURCES, cluster_sources
from analytics.clusters import cluster_summaries, st_dbscan
from analytics.emerging import EmergingParams, classify_emerging
from analytics.errors import InvalidInputError
from analytics.gistar import gi_star
from analytics.places import choose_projected_crs
from analytics.scan import space_time_permutation_scan, track_clusters
from analytics.trend import mann_kendall
from analytics.weeks import week_label

#: What the emerging rules' 90 % share counts (``--share-basis``).
SHARE_BASES = ("uncorrected", "fdr")

#: Rule sets (``--rules``): what each gives for the options it decides. ``arcgis`` is ESRI's published
#: Emerging Hot Spot Analysis (normal p, FDR over the cube, the 90 % share on the corrected classes, no
#: evidence for a rise); ``default`` is this product's (analytics.emerging, module docstring, says where and why).
RULE_SETS: dict[str, dict[str, str]] = {
    "default": {"p_method": "poisson", "fdr": "cube", "share_basis": "uncorrected"},
    "arcgis": {"p_method": "normal", "fdr": "cube", "share_basis": "fdr"},
}
#: The options a rule set decides unless given explicitly (an explicit value wins).
RULE_OPTIONS = ("p_method", "fdr", "share_basis")
#: Cube columns that can be analysed (``--measure``).
MEASURES = ("reports", "found_episodes", "reports_sighting", "reports_found", "reports_rhi_disclosure")



@dataclass(frozen=True)
class HotspotParams:
    """Every tunable of the engine run, recorded in run.json."""

    week: str | None = None
    resolution: int | None = None
    weeks_back: int = 26
    measure: str = "reports"
    k: int = 1
    time_step: int = 1
    # Weeks per time bin of Gi*, Mann-Kendall and the emerging categories (1, 2, 4) or "auto": the
    # sparse-data rule of analytics.bins (the engine run may then also coarsen the resolution).
    bin_weeks: int | str = AUTO
    # Rule set (RULE_SETS): p_method, fdr and share_basis left as None take its values; the emerging
    # categories need evidence for a rise under "default" only (analytics.emerging.EmergingParams.arcgis).
    rules: str = "default"
    p_method: str | None = None
    fdr: str | None = None
    trend_method: str = "original"
    # Weeks counted toward the emerging rules' "90 % of weeks": each bin's own test ("uncorrected": the
    # share is one decision per cell, so the share itself is the error control) or the FDR classes ("fdr",
    # ArcGIS Pro). See analytics.emerging, "Counting the 90 % share".
    share_basis: str | None = None
    # Scan zones: rings 0..1 (the Gi* neighbourhood, ~350 m across at res 9). Rings 0..2 gave the same
    # recall on SYNTHETIC cities but flagged the empty outer ring around clusters (precision 0.73 vs 0.87).
    scan_radius: int = 1
    scan_window: int = 4
    scan_min_sources: int = DEFAULT_MIN_SOURCES  # young people + unnamed reports that make a cluster a place signal
    scan_replicates: int = 999
    seed: int = 0
    eps_space_m: float = 300.0
    eps_time_days: float = 14.0
    min_samples: int = 4
    cluster_weeks: int = 8
    st_max_events: int = 100_000     # ST-DBSCAN input cap (memory); above it a fixed-seed sample is used
    convergence_weeks: int = 8
    convergence_young_people: int = 3
    convergence_placements: int = 2
    places_radius_m: float = 400.0
    max_places: int = 3
    # Units of analysis (pipelines.area_hotspots.UNITS): "areas" adds Gi* / trend / categories per area of
    # one stored layer (area_layer; default the only one) -- the plan and the scan stay on cells.
    units: str = "cells"
    area_layer: str | None = None
    #: Where each of RULE_OPTIONS came from: ((name, value, "rules <set>" | "explicit"), ...); set on creation
    #: ("explicit" when given and different from the rule set's value, so dataclasses.replace keeps the record).
    rule_sources: tuple = field(default=(), init=False)

    def __post_init__(self) -> None:
        problems = []
        if self.rules not in RULE_SETS:
            problems.append(f"rules must be one of {', '.join(RULE_SETS)}; received {self.rules!r}")
        else:
            sources = []
            for name in RULE_OPTIONS:
                given = getattr(self, name)
                if given is None:
                    object.__setattr__(self, name, RULE_SETS[self.rules][name])
                explicit = given is not None and given != RULE_SETS[self.rules][name]
                sources.append((name, getattr(self, name), "explicit" if explicit else f"rules {self.rules}"))
            object.__setattr__(self, "rule_sources", tuple(sources))
        if self.measure not in MEASURES:
            problems.append(f"measure must be one of {', '.join(MEASURES)}; received {self.measure!r}")
        if self.weeks_back < 4:
            problems.append(f"weeks_back must be at least 4; received {self.weeks_back}")
        try:
            object.__setattr__(self, "bin_weeks", check_bin_weeks(self.bin_weeks))
        except InvalidInputError as exc:
            problems.append(str(exc))
        else:
            min_bins = min_trend_bins()
            if self.bin_weeks not in (AUTO, 1) and self.weeks_back // self.bin_weeks < min_bins:
                problems.append(f"bin_weeks {self.bin_weeks} leaves {self.weeks_back // self.bin_weeks} bins in "
                                f"weeks_back {self.weeks_back}; the trend and categories need at least {min_bins} "
                                f"(use weeks_back >= {min_bins * self.bin_weeks} or fewer weeks per bin)")
        if self.time_step < 0 or self.k < 0:
            problems.append("time_step and k must be >= 0")
        if self.scan_replicates < 0:
            problems.append("scan_replicates must be >= 0")
        if self.share_basis is not None and self.share_basis not in SHARE_BASES:
            problems.append(f"share_basis must be one of {', '.join(SHARE_BASES)}; received {self.share_basis!r}")
        if self.units not in ("cells", "areas"):
            problems.append(f"units must be cells or areas; received {self.units!r}")
        if self.scan_min_sources < 1:
            problems.append(f"scan_min_sources must be >= 1; received {self.scan_min_sources}")
        if problems:
            raise InvalidInputError("Invalid hotspot parameters:\n- " + "\n- ".join(problems))




class StepTimer(Protocol):
    """What the analysis times its steps with (``pipelines.timing.StepTimer`` is one): ``with t.step(name):``."""

    def step(self, name: str) -> ContextManager[None]: ...


class _NoTimer:
    """The default: steps are not timed."""

    def step(self, name: str) -> ContextManager[None]:
        return nullcontext()


@dataclass(frozen=True)
class CubeAnalysis:
    """The statistics of one analysed window: Gi*, trend, emerging categories, scan clusters.

    ``gi``, ``mk`` and ``emerging`` are per time bin (``bins.bin_weeks`` weeks, the last ending at the
    analysed week; ``counts`` are the binned counts they ran on); ``scan`` is on weekly counts.
    """

    gi: object
    mk: object
    emerging: pd.DataFrame
    scan: pd.DataFrame
    bins: BinChoice | None = None
    counts: np.ndarray | None = None
    dropped_weeks: int = 0


def choose_bins(counts: np.ndarray, cells: np.ndarray, params: HotspotParams, spatial=None) -> BinChoice:
    """The run's bin width: ``params.bin_weeks`` when given, else the sparse-data rule of
    :func:`analytics.bins.choose_bin_weeks` on these weekly counts and the run's Gi* neighbourhood
    (``spatial``: its neighbour matrix, when already built)."""
    rules = emerging_params(params)
    if params.bin_weeks != AUTO:
        return BinChoice(int(params.bin_weeks), False, int(counts.shape[1]), rules.hot_share, auto=False)
    return choose_bin_weeks(counts, cells, params.k, params.time_step, rules.hot_share, spatial=spatial)


def binned_emerging_params(params: HotspotParams, bin_weeks: int):
    """The emerging rules for bins of ``bin_weeks`` weeks: wider bins accept from :func:`analytics.bins.min_trend_bins`
    bins (the fewest a Mann-Kendall trend can be significant on) instead of ArcGIS's 10 time steps."""
    rules = emerging_params(params)
    return rules if bin_weeks == 1 else replace(rules, min_weeks=min(rules.min_weeks, min_trend_bins()))


def emerging_params(params: HotspotParams) -> EmergingParams:
    """The emerging rules of the run's rule set: ESRI's for ``arcgis``, with evidence for a rise for ``default``."""
    return EmergingParams.arcgis() if params.rules == "arcgis" else EmergingParams()


def rules_record(params: HotspotParams) -> dict:
    """What run.json records about the rule set: its name and, per option, the value used and where it came from."""
    record: dict = {"set": params.rules, "evidence_for_rise": emerging_params(params).needs_evidence}
    for name, value, source in params.rule_sources:
        record[name] = {"value": value, "from": source}
    return record


def analyse_statistics(counts: np.ndarray, cells: np.ndarray, exposure: np.ndarray | None,
                       params: HotspotParams, timer: StepTimer | None = None) -> CubeAnalysis:
    """Gi* -> Mann-Kendall -> emerging categories on a (cells x weeks) window; no scan (``scan`` empty).

    The weekly counts are first summed into bins of ``params.bin_weeks`` weeks (``"auto"``: chosen by
    :func:`choose_bins`), the last bin ending at the window's last week. What the weekly run needs for
    last week's headline and plan, without the Monte Carlo.
    """
    timer = timer or _NoTimer()
    with timer.step("gi_star"):
        spatial = grid.neighbour_matrix(cells, params.k)
        choice = choose_bins(counts, cells, params, spatial)
        uniform = exposure is None or bool(np.all(exposure == 1.0))
        binned = aggregate_bins(counts, None, choice.bin_weeks, None if uniform else exposure)
        counts_b = binned.counts
        gi = gi_star(counts_b, spatial, params.time_step, binned.exposure, params.p_method, params.fdr)
    with timer.step("trend_and_categories"):
        mk = mann_kendall(gi.z, method=params.trend_method)
        share = gi.uncorrected_class if params.share_basis == "uncorrected" else None
        emerging = classify_emerging(gi.gi_class, mk, counts_b, binned_emerging_params(params, choice.bin_weeks),
                                     spatial=spatial, share_class=share)
        if choice.bin_weeks > 1:  # the reasons count bins, not weeks
            emerging["reason"] = [name_bins(r, choice.bin_weeks) for r in emerging["reason"]]
    return CubeAnalysis(gi, mk, emerging, pd.DataFrame(), choice, counts_b, binned.dropped_weeks)


def analyse_cube(counts: np.ndarray, cells: np.ndarray, exposure: np.ndarray | None, weeks: list[date],
                 params: HotspotParams, timer: StepTimer | None = None) -> CubeAnalysis:
    """Gi* -> Mann-Kendall -> emerging categories -> prospective scan on a (cells x weeks) window.

    The window's last week is the analysed week. Used by the weekly run and by the
    recovery benchmark (which slides the window over a SYNTHETIC history).
    """
    timer = timer or _NoTimer()
    stats = analyse_statistics(counts, cells, exposure, params, timer)
    with timer.step("scan"):
        scan = prospective_scan(counts, cells, params, weeks)
    return replace(stats, scan=scan)


def prospective_scan(counts: np.ndarray, cells: np.ndarray, params: HotspotParams, weeks: list[date]) -> pd.DataFrame:
    """Significant clusters of the prospective space-time scan ending at the window's last week, tracked
    against the scan ending a week earlier (``new`` / ``ongoing``); weekly counts."""
    # Cells with no event in the period add nothing to any zone's observed or expected
    # count, so scanning only cells with events gives the same statistic, much faster.
    active = counts.sum(axis=1) > 0
    counts, cells = counts[active], cells[active]

    def scan(window: np.ndarray) -> pd.DataFrame:
        # Only significant clusters are used below, so the Monte Carlo may stop as soon as none
        # can be significant (sequential Monte Carlo: the same clusters, fewer replicates).
        return space_time_permutation_scan(window, cells, params.scan_radius, params.scan_window,
                                           params.scan_replicates, params.seed, stop_early=True).clusters

    previous = None
    if counts.shape[1] > params.scan_window + 1:
        # The two scans are independent (each seeds its own generator), and their numpy work
        # releases the GIL: run them side by side (same results, ~2 cores instead of 1).
        with ThreadPoolExecutor(max_workers=2) as pool:
            fut_previous = pool.submit(scan, counts[:, :-1])
            current = scan(counts)
            previous = fut_previous.result()
        # astype(bool): an empty result's column is object dtype, and a frame indexed by an empty
        # object Series selects no *columns* (then track_clusters finds no 'cells'; issue 13, item 5)
        previous = track_clusters(None, previous[previous["significant"].astype(bool)], week=week_label(weeks[-2]))
    else:
        current = scan(counts)
    significant = current[current["significant"].astype(bool)]
    return track_clusters(previous, significant, week=week_label(weeks[-1]))


def space_time_clusters(events: pd.DataFrame, params: HotspotParams, first: date,
                 choices: list[str]) -> gpd.GeoDataFrame:
    """ST-DBSCAN over the events from week ``first`` on (``events``: ``at``, ``cell``, ``lat``, ``lon``, ``event``,
    ``person_key``, ``week_start``); above ``st_max_events`` a fixed-seed sample keeps memory bounded (noted in
    ``choices``)."""
    recent = events[pd.to_datetime(events["week_start"]) >= pd.Timestamp(first)].dropna(subset=["lat", "lon"]).reset_index(drop=True)
    empty = gpd.GeoDataFrame({"label": []}, geometry=[], crs=4326)
    min_samples = params.min_samples
    if len(recent) > params.st_max_events:
        # The neighbour graph grows with the square of the events at busy places; a uniform
        # sample with min_samples scaled by the sampling fraction keeps the same density rule.
        share = params.st_max_events / len(recent)
        # DuckDB returns rows in no fixed order: sort first, so that the seed fixes the sample.
        recent = recent.sort_values(["at", "cell", "lat", "lon", "event"], kind="stable", ignore_index=True)
        recent = recent.sample(n=params.st_max_events, random_state=params.seed).reset_index(drop=True)
        min_samples = max(2, int(round(params.min_samples * share)))
        choices.append(f"ST-DBSCAN ran on a fixed-seed sample of {params.st_max_events:,} of the recent events "
                       f"({share:.0%}), with min_samples scaled to {min_samples}.")
    if len(recent) < min_samples:
        return empty
    crs = choose_projected_crs(recent["lon"].to_numpy(), recent["lat"].to_numpy())
    pts = gpd.GeoSeries(gpd.points_from_xy(recent["lon"], recent["lat"]), crs=4326).to_crs(crs)
    t_days = (pd.to_datetime(recent["at"], utc=True) - pd.Timestamp("1970-01-01", tz="UTC")).dt.total_seconds() / 86400
    labels = st_dbscan(pts.x.to_numpy(), pts.y.to_numpy(), t_days.to_numpy(), params.eps_space_m,
                       params.eps_time_days, min_samples)
    if (labels < 0).all():
        return empty
    frame = pd.DataFrame({"lon": recent["lon"], "lat": recent["lat"], "t": pd.to_datetime(recent["at"], utc=True),
                          "person_key": recent["person_key"]})
    return cluster_summaries(frame, labels)


def scan_sources(scan: pd.DataFrame, events: pd.DataFrame, last_week: int, params: HotspotParams) -> pd.DataFrame:
    """Scan clusters with their sources and pattern (``place`` / ``repeat_missing``), see
    :mod:`analytics.cluster_sources`. ``events`` carry ``week_index`` counted from the cube's first week."""
    return cluster_sources(scan, events, last_week, params.scan_min_sources)
