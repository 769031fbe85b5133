"""SYNTHETIC planted sites and the intervention: where they are, their rates, their planted events."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analytics.grid import grid_disk_cells
from analytics.synth.params import (DAY, DOW_VENUE, EMERGING_ONSET_RATE, HOUR, HOURS_VENUE, SITE_KINDS, S_PLANT,
                                    VENUE_KINDS, WEEK, _pick, _rng)
from analytics.synth.geography import _cell_centres, _jitter, distance_km


@dataclass
class Site:
    """A planted site: where, what kind, and its expected planted reports per week."""

    id: str
    kind: str
    place: int
    core: np.ndarray                 # uint64 cells that carry most planted events
    halo: np.ndarray                 # ring-1 cells around the core
    rate: np.ndarray                 # expected planted events per week (at this scale)
    onset_week: int | None = None
    end_week: int | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class Intervention:
    """Presence patrols with a known effect on events in treated cells, and a displaced buffer."""

    id: str
    place: int
    treated: np.ndarray
    buffer: np.ndarray
    start_week: int
    end_week: int
    effect: float
    buffer_effect: float
    treated_rate: float
    buffer_rate: float

    def active(self, week: np.ndarray) -> np.ndarray:
        return (week >= self.start_week) & (week <= self.end_week)


class SitesMixin:
    """Planted sites of :class:`~analytics.synth.SyntheticCity` (a mixin: reads and sets its attributes)."""

    # ---- sites
    def _choose_sites(self) -> None:
        """Pick isolated places for the planted sites and set their rates."""
        rng = _rng(self.seed, S_PLANT, 0)
        p = self.places
        lat, lon = p["lat"].to_numpy(), p["lon"].to_numpy()
        d = distance_km(lat[:, None], lon[:, None], lat[None, :], lon[None, :])
        np.fill_diagonal(d, np.inf)
        nearest = d.min(axis=1)
        specs = (("S1", "persistent", "shopping_centre"), ("S2", "persistent", "train_station"),
                 ("S3", "emerging", "fast_food"), ("S4", "emerging", "park"),
                 ("S5", "diminishing", "hotel"), ("S6", "convergence", "bus_interchange"),
                 ("I1", "intervention", "shopping_centre"))
        chosen: list[int] = []
        for sid, kind, category in specs:
            ok = (p["category"].to_numpy() == category)
            if chosen:
                ok &= d[:, chosen].min(axis=1) > 4.0
            ok &= np.isfinite(nearest)
            iso = nearest > (1.5 if kind == "intervention" else 1.0)
            pool = np.flatnonzero(ok & iso)
            if pool.size == 0:
                pool = np.flatnonzero(ok)
                pool = pool[np.argsort(-nearest[pool], kind="stable")[:1]]
            chosen.append(int(pool[rng.integers(pool.size)]))
        weights = p["weight"].to_numpy().copy()
        quiet = np.median(weights) * 0.3
        weights[chosen] = quiet  # sites' own background is modest: the plant is the signal
        self.places["weight"] = weights
        W = self.weeks
        w = np.arange(W)
        f = self.f
        for (sid, kind, _), place in zip(specs, chosen):
            cell = np.array([p["cell"].iat[place]], np.uint64)
            halo = np.setdiff1d(grid_disk_cells(cell, 1), cell)
            if kind == "persistent":
                rate = np.full(W, 4.0 if sid == "S1" else 3.5)
                site = Site(sid, kind, place, cell, halo, rate * f)
            elif kind == "emerging":
                onset = int(round((0.62 if sid == "S3" else 0.8) * W))
                peak, ramp = (6.0, 12) if sid == "S3" else (5.0, 10)
                start = EMERGING_ONSET_RATE
                rate = np.where(w >= onset, start + (peak - start) * np.minimum(1, (w - onset) / ramp), 0.0)
                site = Site(sid, kind, place, cell, halo, rate * f, onset_week=onset)
            elif kind == "diminishing":
                rate = 1.5 + 6.0 * np.exp(-3.0 * w / W)
                site = Site(sid, kind, place, cell, halo, rate * f)
            elif kind == "convergence":
                site = Site(sid, kind, place, cell, halo, np.full(W, 0.4) * f)
            else:
                treated = grid_disk_cells(cell, 1)
                buffer = np.setdiff1d(grid_disk_cells(cell, 3), treated)
                start = int(round(0.55 * W))
                length = max(6, int(round(0.15 * W)))
                self.intervention = Intervention(sid, place, treated, buffer, start, start + length - 1,
                                                 effect=-0.3, buffer_effect=0.25,
                                                 treated_rate=8.0 * f, buffer_rate=5.0 * f)
                continue
            self.sites.append(site)

    # ---- planted events
    def _plan_planted(self) -> None:
        """Planted site events: relocate some found locations, queue planted reports."""
        rng = _rng(self.seed, S_PLANT, 1)
        ep = self.ep
        start = ep["start"].to_numpy()
        week_of = start // WEEK
        bounds = np.searchsorted(week_of, np.arange(self.weeks + 1))
        eligible = (ep["has_found"] & ep["returned"] & (ep["planted"] == 0)).to_numpy().copy()
        rows: list[pd.DataFrame] = []
        for si, site in enumerate(self.sites):
            rows.append(self._site_reports(rng, si, site, bounds, eligible))
        conv = next(i for i, s in enumerate(self.sites) if s.kind == "convergence")
        rows.append(self._cohort_events(rng, conv))
        rows.append(self._intervention_stream(rng))
        planted = pd.concat(rows, ignore_index=True)
        planted["t"] = self.clock.normalise(planted["t"].to_numpy())
        planted = planted[planted["t"] < self.horizon]
        self.planted = planted.sort_values(["t", "site"], kind="stable").reset_index(drop=True)

    def _site_points(self, rng, site_place: int, core: np.ndarray, halo: np.ndarray, n: int,
                     core_share: float = 0.9):
        """Points in the core cell (around the place) or, less often, in a halo cell."""
        p = self.places
        lat, lon = _jitter(rng, np.full(n, p["lat"].iat[site_place]), np.full(n, p["lon"].iat[site_place]), 0.035, 0.07)
        in_halo = rng.random(n) >= core_share
        if in_halo.any() and halo.size:
            hlat, hlon = _cell_centres(halo)
            k = rng.integers(0, halo.size, int(in_halo.sum()))
            lat[in_halo], lon[in_halo] = _jitter(rng, hlat[k], hlon[k], 0.03, 0.06)
        return lat, lon

    def _week_times(self, rng, weeks: np.ndarray) -> np.ndarray:
        """Times within the given weeks following venue day/hour profiles."""
        n = weeks.size
        dow = rng.choice(7, size=n, p=DOW_VENUE / DOW_VENUE.sum())
        hour = rng.choice(24, size=n, p=HOURS_VENUE / HOURS_VENUE.sum())
        return weeks * WEEK + dow * DAY + hour * HOUR + rng.integers(0, 60, n) * 60

    def _site_reports(self, rng, si: int, site: Site, bounds: np.ndarray, eligible: np.ndarray) -> pd.DataFrame:
        ep = self.ep
        counts = rng.poisson(site.rate)
        weeks = np.repeat(np.arange(self.weeks), counts)
        kinds = _pick(rng, SITE_KINDS, weeks.size)
        t = self._week_times(rng, weeks)
        lat, lon = self._site_points(rng, site.place, site.core, site.halo, weeks.size)
        epi = self._link_episodes(rng, site.place, weeks, kinds, bounds, eligible)
        found = (kinds == "found") & (epi >= 0)
        kinds[(kinds == "found") & (epi < 0)] = "sighting"
        j = epi[found]
        ep.loc[j, "found_lat"], ep.loc[j, "found_lon"] = lat[found], lon[found]
        ep.loc[j, "site"] = si
        linked = epi >= 0
        s = ep["start"].to_numpy()[epi[linked]]
        dmax = np.minimum(ep["dur"].to_numpy()[epi[linked]], 18 * HOUR)
        t[linked] = s + (rng.random(linked.sum()) * dmax).astype(np.int64) // 60 * 60
        keep = ~found  # found events are emitted from the episode itself
        return pd.DataFrame({"t": t[keep], "lat": lat[keep], "lon": lon[keep], "kind": kinds[keep],
                             "episode": epi[keep], "site": si})

    def _link_episodes(self, rng, place: int, weeks: np.ndarray, kinds: np.ndarray, bounds: np.ndarray,
                       eligible: np.ndarray) -> np.ndarray:
        """Episode behind each person-linked planted event, drawn from that week's episodes.

        Young people placed nearby are likelier (weight exp(-km / 5)), as with real finds;
        a "found" takes an eligible episode without replacement. Vectorised per week.
        """
        ep = self.ep
        plat, plon = self.places["lat"].iat[place], self.places["lon"].iat[place]
        near = -distance_km(ep["last_lat"].to_numpy(), ep["last_lon"].to_numpy(), plat, plon) / 5.0
        epi = np.full(weeks.size, -1, np.int64)
        person = np.isin(kinds, ["found", "sighting", "rhi_disclosure"])
        ev_bounds = np.searchsorted(weeks, np.arange(self.weeks + 1))
        for w in range(self.weeks):
            lo, hi = bounds[w], bounds[w + 1]
            ev = np.arange(ev_bounds[w], ev_bounds[w + 1])
            ev = ev[person[ev]]
            if ev.size == 0 or hi == lo:
                continue
            score = near[lo:hi] + rng.gumbel(size=hi - lo)
            fnd = ev[kinds[ev] == "found"]
            score_f = np.where(eligible[lo:hi], score, -np.inf)
            m = int(min(fnd.size, eligible[lo:hi].sum()))
            top = lo + np.argsort(-score_f, kind="stable")[:m]
            epi[fnd[:m]] = top
            eligible[top] = False
            oth = ev[kinds[ev] != "found"]
            p = np.exp(near[lo:hi] - near[lo:hi].max())
            epi[oth] = lo + rng.choice(hi - lo, size=oth.size, p=p / p.sum())
        return epi

    def _cohort_events(self, rng, si: int) -> pd.DataFrame:
        """Convergence cohort episodes: found at the site (60 %) or sighted there."""
        site = self.sites[si]
        ep = self.ep
        idx = np.flatnonzero(ep["planted"].to_numpy() == 1)
        found_there = rng.random(idx.size) < 0.6
        lat, lon = self._site_points(rng, site.place, site.core, site.halo, idx.size)
        f_idx = idx[found_there]
        ep.loc[f_idx, "found_lat"], ep.loc[f_idx, "found_lon"] = lat[found_there], lon[found_there]
        ep.loc[f_idx, "has_found"] = True
        ep.loc[f_idx, "returned"] = True
        ep.loc[f_idx, "site"] = si
        s_idx = idx[~found_there]
        s = ep["start"].to_numpy()[s_idx]
        span = np.minimum(ep["dur"].to_numpy()[s_idx], 12 * HOUR)
        t = s + (rng.random(s_idx.size) * span).astype(np.int64) // 60 * 60
        return pd.DataFrame({"t": t, "lat": lat[~found_there], "lon": lon[~found_there],
                             "kind": "sighting", "episode": s_idx, "site": si})

    def _intervention_stream(self, rng) -> pd.DataFrame:
        """Planted events in the treated cells and, raised during the intervention, the buffer."""
        iv = self.intervention
        w = np.arange(self.weeks)
        p = self.places
        t_weeks = np.repeat(w, rng.poisson(np.full(self.weeks, iv.treated_rate)))
        core = np.array([p["cell"].iat[iv.place]], np.uint64)
        ring = np.setdiff1d(iv.treated, core)
        tlat, tlon = self._site_points(rng, iv.place, core, ring, t_weeks.size, core_share=0.6)
        b_rate = iv.buffer_rate * np.where(iv.active(w), 1 + iv.buffer_effect, 1.0)
        b_weeks = np.repeat(w, rng.poisson(b_rate))
        blat, blon = _cell_centres(iv.buffer)
        k = rng.integers(0, iv.buffer.size, b_weeks.size)
        blat, blon = _jitter(rng, blat[k], blon[k], 0.03, 0.06)
        weeks = np.concatenate([t_weeks, b_weeks])
        return pd.DataFrame({"t": self._week_times(rng, weeks), "lat": np.concatenate([tlat, blat]),
                             "lon": np.concatenate([tlon, blon]), "kind": _pick(rng, VENUE_KINDS, weeks.size),
                             "episode": -1, "site": len(self.sites)})
