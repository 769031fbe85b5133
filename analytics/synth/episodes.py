"""SYNTHETIC episodes: Hawkes starts per child, found locations, the convergence cohort, the repeat-home plant."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import shapely

from analytics.grid import latlng_to_cells
from analytics.synth.params import (AWAY_KM_Q, AWAY_KM_X, BAD_EPISODES, DAY, DOW_ACCEPT, FOUND_MIX, HOUR,
                                    HOURS_OTHER_CARE, HOURS_RESIDENTIAL, RESOLUTION, S_EPISODES, S_PLANT, WEEK,
                                    _rng)
from analytics.synth.geography import _jitter, _keep_inside, _offset, distance_km


# --------------------------------------------------------------------------- episodes
def _hawkes(rng, children: pd.DataFrame, alpha: float = 0.5, kernel_days: float = 12.0):
    """Episode start times per child: Poisson immigrants plus self-excited offspring."""
    t0 = children["active_from"].to_numpy()
    t1 = children["active_to"].to_numpy()
    span = np.maximum(t1 - t0, 0)
    n0 = rng.poisson(children["mu_per_year"].to_numpy() * span / (365.25 * DAY))
    c = np.repeat(np.arange(len(children)), n0)
    t = t0[c] + (rng.random(c.size) * span[c]).astype(np.int64)
    cs, ts = [c], [t]
    branching = np.where(children["one_off"].to_numpy(), 0.1, alpha)
    while c.size:
        k = rng.poisson(branching[c])
        c = np.repeat(c, k)
        t = np.repeat(t, k) + (rng.exponential(kernel_days, c.size) * DAY).astype(np.int64)
        keep = t < t1[c]
        c, t = c[keep], t[keep]
        cs.append(c)
        ts.append(t)
    return np.concatenate(cs), np.concatenate(ts)


def _time_of_day(rng, day: np.ndarray, residential: np.ndarray) -> np.ndarray:
    """Local seconds at a profile-drawn hour on the given day index."""
    n = day.size
    h_res = rng.choice(24, size=n, p=HOURS_RESIDENTIAL / HOURS_RESIDENTIAL.sum())
    h_oth = rng.choice(24, size=n, p=HOURS_OTHER_CARE / HOURS_OTHER_CARE.sum())
    hour = np.where(residential, h_res, h_oth)
    return day * DAY + hour * HOUR + rng.integers(0, 60, n) * 60


def _drop_overlaps(child: np.ndarray, start: np.ndarray, end: np.ndarray, priority: np.ndarray) -> np.ndarray:
    """Mask keeping episodes that do not start before the same child's previous one ended."""
    order = np.lexsort((start, child))
    keep = np.ones(child.size, bool)
    while True:
        idx = order[keep[order]]
        same = child[idx][1:] == child[idx][:-1]
        clash = same & (start[idx][1:] < end[idx][:-1] + HOUR)
        if not clash.any():
            return keep
        prev, nxt = idx[:-1][clash], idx[1:][clash]
        drop = np.where(priority[nxt] > priority[prev], prev, nxt)
        keep[np.unique(drop)] = False


def _away_distance_km(rng, n: int) -> np.ndarray:
    return np.exp(np.interp(rng.random(n), AWAY_KM_Q, np.log(AWAY_KM_X)))


def _choose_place(rng, lat, lon, places: pd.DataFrame, mask: np.ndarray, target_km=None,
                  scale_km: float = 2.0, chunk: int = 100_000) -> np.ndarray:
    """Index into ``places`` for each point (Gumbel-max over busyness and distance).

    With ``target_km`` the place whose distance is closest (in log) to the target wins
    (keeps the distance decay); otherwise nearer and busier places are likelier.
    """
    cand = np.flatnonzero(mask)
    plat = places["lat"].to_numpy()[cand]
    plon = places["lon"].to_numpy()[cand]
    logw = np.log(places["weight"].to_numpy()[cand])
    out = np.empty(len(lat), np.int64)
    for a in range(0, len(lat), chunk):
        b = min(a + chunk, len(lat))
        d = distance_km(lat[a:b, None], lon[a:b, None], plat[None, :], plon[None, :])
        if target_km is None:
            score = 0.5 * logw - d / scale_km
        else:
            score = 0.3 * logw - np.abs(np.log(d + 0.05) - np.log(target_km[a:b, None])) / 0.3
        score = score + rng.gumbel(size=score.shape)
        out[a:b] = cand[np.argmax(score, axis=1)]
    return out


class EpisodesMixin:
    """Episode simulation of :class:`~analytics.synth.SyntheticCity` (a mixin: reads and sets its attributes)."""

    # ---- episodes
    def _simulate_episodes(self) -> None:
        """Hawkes episode starts, weekend/hour profiles, convergence cohort, durations."""
        rng = _rng(self.seed, S_EPISODES)
        ch = self.children
        cohort = self._pick_cohort()
        child, t = _hawkes(rng, ch)
        day = t // DAY
        accept = rng.random(day.size) < DOW_ACCEPT[day % 7]
        child, day = child[accept], day[accept]
        residential = ch["ptype"].to_numpy()[child] == 0
        start = _time_of_day(rng, day, residential)
        planted = np.zeros(child.size, np.int8)
        cc, cs = self._cohort_episodes(rng, cohort)
        child = np.concatenate([child, cc])
        start = np.concatenate([start, cs])
        planted = np.concatenate([planted, np.ones(cc.size, np.int8)])
        dur = np.clip(rng.lognormal(math.log(10 * HOUR), 1.15, child.size), 1800, 60 * DAY).astype(np.int64) // 60 * 60
        dur[planted == 1] = np.minimum(dur[planted == 1], 36 * HOUR)
        start = self.clock.normalise(start)
        ok = (start >= ch["active_from"].to_numpy()[child]) & (start < self.horizon - 6 * HOUR)
        child, start, dur, planted = child[ok], start[ok], dur[ok], planted[ok]
        keep = _drop_overlaps(child, start, start + dur, planted)
        order = np.lexsort((child[keep], start[keep]))
        self.ep = pd.DataFrame({"child": child[keep][order], "start": start[keep][order],
                                "dur": dur[keep][order], "planted": planted[keep][order]})
        self._episode_places(rng)

    def _pick_cohort(self) -> np.ndarray:
        """Convergence cohort: 5 young people from 3 residential homes, in care all period."""
        ch = self.children
        res = ch.index[(ch["ptype"] == 0)].to_numpy()
        homes, counts = np.unique(ch["placement"].to_numpy()[res], return_counts=True)
        homes = homes[counts >= 2][:3]
        if homes.size < 3:
            raise RuntimeError("too few residential homes for the convergence cohort")
        cohort = np.concatenate([res[ch["placement"].to_numpy()[res] == h][:n] for h, n in zip(homes, (2, 2, 1))])
        ch.loc[cohort, "active_from"] = 0
        ch.loc[cohort, "active_to"] = self.horizon
        ch.loc[cohort, "age_start_days"] = np.minimum(ch.loc[cohort, "age_start_days"].to_numpy(), 14.5 * 365.25)
        ch.loc[cohort, "one_off"] = False
        ch.loc[cohort, "mu_per_year"] = np.maximum(ch.loc[cohort, "mu_per_year"].to_numpy(), 6.0)
        return cohort

    def _cohort_episodes(self, rng, cohort: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Extra episodes for the cohort inside three 6-week windows."""
        site = next(s for s in self.sites if s.kind == "convergence")
        W = self.weeks
        windows = [(int(round(a * W)), int(round(a * W)) + 5) for a in (0.25, 0.5, 0.8)]
        cc, cs = [], []
        for ws, we in windows:
            n = rng.poisson(0.9 * (we - ws + 1), cohort.size)
            c = np.repeat(cohort, n)
            day = rng.integers(ws * 7, (we + 1) * 7, c.size)
            cc.append(c)
            cs.append(_time_of_day(rng, day, np.ones(c.size, bool)))
        site.extra = {"cohort": cohort, "windows": windows}
        return np.concatenate(cc), np.concatenate(cs)

    def _episode_places(self, rng) -> None:
        """Last-seen and found locations (found-location mix and distance decay)."""
        ep, ch, pl = self.ep, self.children, self.placements
        n = len(ep)
        pidx = ch["placement"].to_numpy()[ep["child"].to_numpy()]
        plat, plon = pl["lat"].to_numpy()[pidx], pl["lon"].to_numpy()[pidx]
        near = rng.random(n) < 0.8
        llat, llon = _jitter(rng, plat, plon, 0.15, 0.4)
        flat, flon = _jitter(rng, plat, plon, 1.5, 4.0)
        llat, llon = np.where(near, llat, flat), np.where(near, llon, flon)
        llat, llon = _keep_inside(self.poly, llat, llon, plat, plon)
        cat = rng.choice(len(FOUND_MIX), size=n, p=[m[1] for m in FOUND_MIX])
        d = _away_distance_km(rng, n)
        at_home = (cat == 0) & (rng.random(n) < 0.8)
        d = np.where(at_home, rng.uniform(0.0, 0.5, n), d)
        theta = rng.uniform(0, 2 * np.pi, n)
        glat, glon = _offset(llat, llon, d * np.cos(theta), d * np.sin(theta))
        for _ in range(8):  # re-aim points that fell outside the study area
            out = ~shapely.contains_xy(self.poly, glon, glat)
            if not out.any():
                break
            theta[out] = rng.uniform(0, 2 * np.pi, int(out.sum()))
            d[out] *= 0.8
            dx, dy = d[out] * np.cos(theta[out]), d[out] * np.sin(theta[out])
            glat[out], glon[out] = _offset(llat[out], llon[out], dx, dy)
        glat, glon = _keep_inside(self.poly, glat, glon, llat, llon)
        cats = self.places["category"].to_numpy()
        for code, mask in ((4, np.isin(cats, ["shopping_centre", "fast_food"])),
                           (5, np.isin(cats, ["train_station", "bus_interchange"])),
                           (2, cats == "park")):
            sel = np.flatnonzero((cat == code) & ((code != 2) | (rng.random(n) < 0.5)))
            if sel.size:
                k = _choose_place(rng, llat[sel], llon[sel], self.places, mask, target_km=d[sel])
                glat[sel], glon[sel] = _jitter(rng, self.places["lat"].to_numpy()[k],
                                               self.places["lon"].to_numpy()[k], 0.04, 0.12)
        ep["last_lat"], ep["last_lon"] = llat, llon
        ep["found_lat"], ep["found_lon"] = glat, glon
        ep["found_cat"] = cat.astype(np.int8)
        ep["has_found"] = rng.random(n) < 0.88
        ep["returned"] = (ep["start"].to_numpy() + ep["dur"].to_numpy() < self.horizon) & (rng.random(n) > 0.015)
        ep["site"] = np.int8(-1)

    def _plant_repeat_home(self) -> None:
        """One young person missing from, and found at, their own residential placement every second day.

        The young person (a resident of the first residential home more than 2 km from every
        planted site and the intervention, outside the convergence cohort) is in care all
        period; their own episodes are replaced by one every second day, 18:00-22:00 local,
        lasting 2-8 hours, last seen and found within about 20 m of the home. Drawn from its
        own random stream, so nothing else in the city changes except through these episodes.
        """
        rng = _rng(self.seed, S_PLANT, 3)
        ch, pl = self.children, self.placements
        cohort = set(next(s for s in self.sites if s.kind == "convergence").extra["cohort"].tolist())
        spots = [s.place for s in self.sites] + [self.intervention.place]
        slat, slon = self.places["lat"].to_numpy()[spots], self.places["lon"].to_numpy()[spots]
        child = None
        for c in ch.index[ch["ptype"].to_numpy() == 0].tolist():
            home = int(ch["placement"].iat[c])
            if c not in cohort and distance_km(pl["lat"].iat[home], pl["lon"].iat[home], slat, slon).min() > 2.0:
                child = c
                break
        if child is None:
            raise RuntimeError("no residential home far enough from the planted sites for plant_repeat_home")
        home = int(ch["placement"].iat[child])
        ch.loc[child, ["active_from", "active_to"]] = (0, self.horizon)
        ch.loc[child, "one_off"] = False
        ch.loc[child, "age_start_days"] = min(float(ch["age_start_days"].iat[child]), 14.5 * 365.25)
        days = np.arange(0, self.weeks * 7, 2)
        start = self.clock.normalise(days * DAY + 18 * HOUR + rng.integers(0, 4 * 60, days.size) * 60)
        dur = rng.integers(2 * 60, 8 * 60, days.size).astype(np.int64) * 60
        ok = start + dur < self.horizon - 6 * HOUR
        start, dur = start[ok], dur[ok]
        n = start.size
        plat, plon = np.full(n, pl["lat"].iat[home]), np.full(n, pl["lon"].iat[home])
        llat, llon = _jitter(rng, plat, plon, 0.01, 0.02)
        flat, flon = _jitter(rng, plat, plon, 0.01, 0.02)
        mine = pd.DataFrame({
            "child": np.full(n, child, dtype=self.ep["child"].dtype), "start": start.astype(np.int64),
            "dur": dur, "planted": np.full(n, 2, np.int8), "last_lat": llat, "last_lon": llon,
            "found_lat": flat, "found_lon": flon, "found_cat": np.zeros(n, np.int8),
            "has_found": np.ones(n, bool), "returned": np.ones(n, bool), "site": np.full(n, -1, np.int8)})
        ep = pd.concat([self.ep[self.ep["child"] != child], mine[self.ep.columns]], ignore_index=True)
        order = np.lexsort((ep["child"].to_numpy(), ep["start"].to_numpy()))
        self.ep = ep.iloc[order].reset_index(drop=True).astype(self.ep.dtypes.to_dict())
        self.repeat_home = {"child": int(child), "placement": home, "episodes": int(n)}

    def _apply_intervention_to_episodes(self) -> None:
        """During the intervention, 30 % of finds in treated cells happen elsewhere instead."""
        rng = _rng(self.seed, S_PLANT, 2)
        iv, ep = self.intervention, self.ep
        found_t = ep["start"].to_numpy() + ep["dur"].to_numpy()
        cand = np.flatnonzero(iv.active(found_t // WEEK) & ep["has_found"].to_numpy() & ep["returned"].to_numpy()
                              & (distance_km(ep["found_lat"].to_numpy(), ep["found_lon"].to_numpy(),
                                             self.places["lat"].iat[iv.place], self.places["lon"].iat[iv.place]) < 1.0))
        if cand.size == 0:
            return
        cells = latlng_to_cells(ep["found_lat"].to_numpy()[cand], ep["found_lon"].to_numpy()[cand], RESOLUTION)
        hit = cand[np.isin(cells, iv.treated) & (rng.random(cand.size) < -iv.effect)]
        ep.loc[hit, "found_lat"] = ep.loc[hit, "last_lat"].to_numpy()
        ep.loc[hit, "found_lon"] = ep.loc[hit, "last_lon"].to_numpy()
        ep.loc[hit, "site"] = -1

    def _finalise_episodes(self) -> None:
        """Per-episode attributes and report counts; ids in time order."""
        rng = _rng(self.seed, S_EPISODES, 1)
        ep, ch = self.ep, self.children
        n = len(ep)
        c = ep["child"].to_numpy()
        frequent = ~ch["one_off"].to_numpy()[c]
        female = ch["gender"].to_numpy()[c] == 0
        u = rng.random(n) + 0.12 * frequent
        ep["risk"] = np.digitize(u, [0.2, 0.6, 0.9]).astype(np.int8)
        ep["cse"] = rng.random(n) < 0.08 + 0.12 * frequent + 0.06 * female + 0.3 * (ep["site"].to_numpy() >= 0)
        ep["rhi"] = rng.random(n) < 0.72
        ep["n_sight"] = rng.poisson(0.9, n).astype(np.int8)
        ep["rhi_report"] = ep["rhi"].to_numpy() & (rng.random(n) < 0.35)
        ep["delay"] = np.clip(rng.lognormal(math.log(1.5 * HOUR), 0.8, n), 300, 48 * HOUR).astype(np.int64) // 60 * 60
        self.ep_width = max(6, len(str(n + sum(b[1] for b in BAD_EPISODES))))
        self.person_width = max(5, len(str(len(ch))))
