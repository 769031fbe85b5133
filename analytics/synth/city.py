"""SYNTHETIC city: :class:`SyntheticCity` (built by :func:`build_city`) puts the generator's parts together."""

from __future__ import annotations

import shapely

from analytics.synth.params import BASE_REPORTS, WEEK, _check_seed, _check_weeks, resolve_scale
from analytics.synth.clock import LocalClock
from analytics.synth.geography import boundary_polygon, build_placements_and_children, build_places
from analytics.synth.episodes import EpisodesMixin
from analytics.synth.sites import Intervention, Site, SitesMixin
from analytics.synth.frames import FramesMixin
from analytics.synth.truth import TruthMixin


# --------------------------------------------------------------------------- the city
class SyntheticCity(SitesMixin, EpisodesMixin, FramesMixin, TruthMixin):
    """Everything SYNTHETIC about one seed: geography, children, episodes, plants, reports.

    Build with :func:`build_city`; then read :attr:`places`, :attr:`placements`,
    :meth:`episode_frames`, :meth:`iter_report_frames` (consume fully before calling
    :meth:`ground_truth`), :meth:`disruptions_frame`.
    """

    def __init__(self, seed: int, weeks: int, n_reports: int, plant_repeat_home: bool = False):
        self.seed = _check_seed(seed)
        self.weeks = _check_weeks(weeks)
        self.n_reports = n_reports
        self.f = n_reports / BASE_REPORTS
        self.horizon = self.weeks * WEEK
        self.clock = LocalClock(self.weeks)
        self.poly = boundary_polygon()
        shapely.prepare(self.poly)
        self.places = build_places(seed, self.poly)
        self.placements, self.children = build_placements_and_children(seed, self.poly, self.f, self.weeks)
        self.sites: list[Site] = []
        self.intervention: Intervention | None = None
        self.bad_rows: dict[str, list[dict]] = {}
        self.counts: dict[str, int] = {}
        self.duplicate_ids: list[str] = []
        self.repeat_home: dict | None = None
        self._choose_sites()
        self._simulate_episodes()
        if plant_repeat_home:
            self._plant_repeat_home()
        self._plan_planted()
        self._apply_intervention_to_episodes()
        self._finalise_episodes()


# --------------------------------------------------------------------------- helpers
def build_city(seed: int = 7, weeks: int = 104, scale: str | int = "small",
               plant_repeat_home: bool = False) -> SyntheticCity:
    """Build the SYNTHETIC city for ``seed``: validate, then simulate everything up front except reports.

    ``plant_repeat_home``: also plant one young person missing from, and found at, their own
    residential placement every second day (ground truth ``repeat_home``); off by default, so
    the committed sample stays byte-identical.
    """
    n = resolve_scale(scale)
    return SyntheticCity(seed, weeks, n, plant_repeat_home=bool(plant_repeat_home))
