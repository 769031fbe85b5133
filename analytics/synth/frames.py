"""SYNTHETIC output frames: episodes, location reports (streamed by week) and disruptions, contract-shaped."""

from __future__ import annotations

from typing import Iterator

import numpy as np
import pandas as pd
import shapely

from analytics.errors import InvalidInputError
from analytics.grid import latlng_to_cells
from analytics.synth.params import (BAD_DISRUPTIONS, BAD_EPISODES, BAD_REPORTS, BAD_SOURCE_WINDOW, DAY,
                                    DUPLICATE_REPORTS, GENDERS, GRADINGS, GRADING_P, RESOLUTION, RISK_LEVELS,
                                    S_BAD, S_DISRUPT, S_WEEK, VENUE_KINDS, WEEK, _pick, _rng, _round6)
from analytics.synth.geography import _cell_centres, _jitter, _keep_inside, _sample_around_centres, distance_km
from analytics.synth.rows import (_bad_row_records, _bad_value, _fill_sources, _ids, _insert_bad_rows,
                                  _insert_duplicates, _largest_remainder, _with_contract_dtypes)
from analytics.synth.episodes import _choose_place


class FramesMixin:
    """Output frames of :class:`~analytics.synth.SyntheticCity` (a mixin: reads and sets its attributes)."""

    # ---- output frames: episodes
    def episode_frames(self, rows_per_chunk: int = 250_000) -> Iterator[pd.DataFrame]:
        """Episodes in time order as contract-shaped frames (planted bad rows in the first)."""
        if isinstance(rows_per_chunk, bool) or not isinstance(rows_per_chunk, (int, np.integer)) \
                or rows_per_chunk < BAD_SOURCE_WINDOW:
            raise InvalidInputError(f"rows_per_chunk must be an integer >= {BAD_SOURCE_WINDOW}; "
                                    f"received {rows_per_chunk!r}.")
        n = len(self.ep)
        next_id = 0
        for a in range(0, max(n, 1), rows_per_chunk):
            df = self._episode_frame(slice(a, min(n, a + rows_per_chunk)))
            if a == 0:
                df = _insert_bad_rows(df, self._bad_episode_plan(), self._bad_episode_sources())
            df.insert(0, "episode_id", _ids("SYN-E", np.arange(next_id + 1, next_id + 1 + len(df)), self.ep_width))
            next_id += len(df)
            if a == 0:
                self.bad_rows["episodes"] = _bad_row_records(df, "episode_id")
            yield df.drop(columns=["_bad"], errors="ignore")
        self.counts["episodes_rows"] = next_id

    def _episode_frame(self, sl: slice) -> pd.DataFrame:
        ep, ch, pl, clock = self.ep.iloc[sl], self.children, self.placements, self.clock
        c = ep["child"].to_numpy()
        start = ep["start"].to_numpy()
        end = clock.normalise(np.minimum(start + ep["dur"].to_numpy(), self.horizon - 60))
        returned = ep["returned"].to_numpy()
        reported = clock.normalise(np.minimum(start + ep["delay"].to_numpy(), self.horizon - 60))
        found = ep["has_found"].to_numpy()
        pidx = ch["placement"].to_numpy()[c]
        age = np.floor((ch["age_start_days"].to_numpy()[c] + start / DAY) / 365.25).astype(np.int64)
        found = found & returned
        flat = np.where(found, _round6(ep["found_lat"].to_numpy()), np.nan)
        flon = np.where(found, _round6(ep["found_lon"].to_numpy()), np.nan)
        df = pd.DataFrame({
            "person_ref": _ids("SYN-P", c + 1, self.person_width),
            "missing_from": clock.iso(start).to_pandas(),
            "returned_at": clock.iso(end, returned).to_pandas(),
            "reported_at": clock.iso(reported).to_pandas(),
            "placement_ref": pl["placement_ref"].to_numpy()[pidx],
            "placement_type": pl["placement_type"].to_numpy()[pidx],
            "last_seen_lat": _round6(ep["last_lat"].to_numpy()),
            "last_seen_lon": _round6(ep["last_lon"].to_numpy()),
            "found_lat": flat, "found_lon": flon,
            "risk_level": np.array(RISK_LEVELS, dtype=object)[ep["risk"].to_numpy()],
            "cse_concern": ep["cse"].to_numpy(), "rhi_completed": ep["rhi"].to_numpy(),
            "age_years": age,
            "gender": np.array(GENDERS, dtype=object)[ch["gender"].to_numpy()[c]],
            "disability": ch["disability"].to_numpy()[c], "first_nations": ch["first_nations"].to_numpy()[c],
            "cald": ch["cald"].to_numpy()[c], "lgbtqia": ch["lgbtqia"].to_numpy()[c],
        })
        return _with_contract_dtypes(df, "episodes")

    def _bad_episode_plan(self) -> list[tuple[str, str, object]]:
        rng = _rng(self.seed, S_BAD, 1)
        return [(reason, col, _bad_value(reason, col, rng)) for reason, k, col in BAD_EPISODES for _ in range(k)]

    def _bad_episode_sources(self) -> np.ndarray:
        """Rows (among the first found-and-returned episodes) that bad copies are made from, in plan order."""
        if not hasattr(self, "_bad_ep_src"):
            ep = self.ep
            ok = np.flatnonzero((ep["has_found"] & ep["returned"]).to_numpy()[:BAD_SOURCE_WINDOW])
            n = sum(b[1] for b in BAD_EPISODES)
            self._bad_ep_src = _rng(self.seed, S_BAD, 0).choice(ok, size=n, replace=False)
        return self._bad_ep_src

    # ---- output frames: reports
    def iter_report_frames(self, chunk_weeks: int) -> Iterator[pd.DataFrame]:
        """Location reports, ``chunk_weeks`` weeks per frame, exactly ``n_reports`` valid rows.

        Also records observed weekly counts in planted and busy cells for the ground truth.
        """
        if isinstance(chunk_weeks, bool) or not isinstance(chunk_weeks, (int, np.integer)) or chunk_weeks < 1:
            raise InvalidInputError(f"chunk_weeks must be a positive integer; received {chunk_weeks!r}.")
        W = self.weeks
        targets = _largest_remainder(self.n_reports, 1 + 0.08 * np.sin(2 * np.pi * np.arange(W) / 52.18))
        self._observe_init()
        carry = 0
        n_bad = sum(b[1] for b in BAD_REPORTS)
        width = max(7, len(str(self.n_reports + n_bad + DUPLICATE_REPORTS)))
        next_id = 0
        ep_bounds = np.searchsorted(self.ep["start"].to_numpy() // WEEK, np.arange(W + 1))
        pl_bounds = np.searchsorted(self.planted["t"].to_numpy(), np.arange(W + 1) * WEEK)
        for a in range(0, W, chunk_weeks):
            parts = []
            for w in range(a, min(W, a + chunk_weeks)):
                frame, carry = self._week_reports(w, targets[w], carry, ep_bounds, pl_bounds, last=(w == W - 1))
                parts.append(frame)
            week0 = len(parts[0])
            df = pd.concat(parts, ignore_index=True)
            df = self._format_reports(df)
            if a == 0:
                n_bad_rows = sum(b[1] for b in BAD_REPORTS)
                src = _rng(self.seed, S_BAD, 2).choice(min(week0, BAD_SOURCE_WINDOW), size=n_bad_rows, replace=False)
                df = _insert_bad_rows(df, self._bad_report_plan(), src)
            df.insert(0, "report_id", _ids("SYN-R", np.arange(next_id + 1, next_id + 1 + len(df)), width))
            next_id += len(df)
            if a == 0:
                self.bad_rows["location_reports"] = _bad_row_records(df, "report_id")
                df = _insert_duplicates(df, _rng(self.seed, S_BAD, 3), DUPLICATE_REPORTS, week0 + n_bad_rows)
                self.duplicate_ids = sorted(df.loc[df.duplicated(keep="first"), "report_id"].tolist())
            yield df.drop(columns=["_bad"], errors="ignore")
        self.counts["location_reports_rows"] = next_id + DUPLICATE_REPORTS
        self.counts["location_reports_valid"] = next_id - n_bad

    def _week_reports(self, w: int, target: int, carry: int, ep_bounds, pl_bounds, last: bool):
        """One week's reports: episode-linked, venue background, planted, then diffuse filler."""
        rng = _rng(self.seed, S_WEEK, w)
        eps = np.arange(ep_bounds[w], ep_bounds[w + 1])
        parts = [self._episode_reports(rng, eps), self._venue_reports(rng, w),
                 self.planted.iloc[pl_bounds[w]:pl_bounds[w + 1]].assign(droppable=False, thin=True,
                                                                          source=None)]
        df = pd.concat([p for p in parts if len(p)], ignore_index=True)
        df = self._thin_intervention(rng, df)
        need = target + carry - len(df)
        filler = self._filler_reports(rng, w, max(need, 0))
        df = pd.concat([df, filler], ignore_index=True) if len(filler) else df
        carry = need - len(filler)
        if last and carry < 0:
            drop = np.flatnonzero(df["droppable"].to_numpy())
            if drop.size < -carry:
                raise RuntimeError("synthetic report budget could not be met; raise the scale")
            df = df.drop(index=rng.choice(drop, size=-carry, replace=False)).reset_index(drop=True)
            carry = 0
        df["source"] = _fill_sources(rng, df)
        df["grading"] = rng.choice(len(GRADINGS), size=len(df), p=GRADING_P)
        df = df.sort_values("t", kind="stable").reset_index(drop=True)
        self._observe(df)
        return df, carry

    def _episode_reports(self, rng, eps: np.ndarray) -> pd.DataFrame:
        ep = self.ep
        if eps.size == 0:
            return pd.DataFrame()
        start = ep["start"].to_numpy()[eps]
        dur = np.minimum(ep["dur"].to_numpy()[eps], self.horizon - 60 - start)
        llat, llon = ep["last_lat"].to_numpy()[eps], ep["last_lon"].to_numpy()[eps]
        has_found = ep["has_found"].to_numpy()[eps] & ep["returned"].to_numpy()[eps]
        flat = np.where(has_found, ep["found_lat"].to_numpy()[eps], llat)
        flon = np.where(has_found, ep["found_lon"].to_numpy()[eps], llon)
        # found: at the found location, when the episode ended
        f = np.flatnonzero(has_found)
        found = pd.DataFrame({"t": start[f] + dur[f], "lat": flat[f], "lon": flon[f], "kind": "found",
                              "episode": eps[f], "thin": False})
        # sightings: along the way or at a venue near the route
        k = np.repeat(np.arange(eps.size), ep["n_sight"].to_numpy()[eps])
        frac = rng.random(k.size)
        at_venue = rng.random(k.size) < 0.5
        slat = llat[k] + frac * (flat[k] - llat[k])
        slon = llon[k] + frac * (flon[k] - llon[k])
        slat, slon = _jitter(rng, slat, slon, 0.15, 0.5)
        if at_venue.any():
            v = _choose_place(rng, slat[at_venue], slon[at_venue], self.places,
                              np.ones(len(self.places), bool), scale_km=1.5)
            slat[at_venue], slon[at_venue] = _jitter(rng, self.places["lat"].to_numpy()[v],
                                                     self.places["lon"].to_numpy()[v], 0.05, 0.15)
        slat, slon = _keep_inside(self.poly, slat, slon, llat[k], llon[k])
        sight = pd.DataFrame({"t": start[k] + (frac * dur[k]).astype(np.int64), "lat": slat, "lon": slon,
                              "kind": "sighting", "episode": eps[k], "thin": True})
        # return-interview disclosures: a venue the young person says they went to
        r = np.flatnonzero(ep["rhi_report"].to_numpy()[eps])
        v = _choose_place(rng, flat[r], flon[r], self.places, np.ones(len(self.places), bool), scale_km=3.0)
        rlat, rlon = _jitter(rng, self.places["lat"].to_numpy()[v], self.places["lon"].to_numpy()[v], 0.05, 0.15)
        rhi = pd.DataFrame({"t": start[r] + (rng.random(r.size) * dur[r]).astype(np.int64), "lat": rlat,
                            "lon": rlon, "kind": "rhi_disclosure", "episode": eps[r], "thin": True})
        out = pd.concat([found, sight, rhi], ignore_index=True)
        out["t"] = self.clock.normalise(out["t"].to_numpy() // 60 * 60)
        out["droppable"] = False
        out["site"] = -1
        return out

    def _venue_reports(self, rng, w: int) -> pd.DataFrame:
        """Reports about places with no young person named (busy venues are busy)."""
        p = self.places
        wts = p["weight"].to_numpy()
        rate = wts / wts.sum() * 60.0 * self.f
        k = np.repeat(np.arange(len(p)), rng.poisson(rate))
        lat, lon = _jitter(rng, p["lat"].to_numpy()[k], p["lon"].to_numpy()[k], 0.06, 0.2)
        kinds = _pick(rng, VENUE_KINDS, k.size)
        hotel = np.isin(p["category"].to_numpy()[k], ["hotel", "licensed_premises"])
        kinds = np.where((kinds == "premises_of_concern") & ~hotel, "adult_of_concern", kinds)
        return pd.DataFrame({"t": self.clock.normalise(self._week_times(rng, np.full(k.size, w))),
                             "lat": lat, "lon": lon, "kind": kinds, "episode": -1, "thin": True,
                             "droppable": True, "site": -1})

    def _filler_reports(self, rng, w: int, n: int) -> pd.DataFrame:
        """Diffuse background across the city, kept out of the intervention area."""
        if n == 0:
            return pd.DataFrame()
        iv = self.intervention
        ilat, ilon = self.places["lat"].iat[iv.place], self.places["lon"].iat[iv.place]
        lat, lon = np.empty(0), np.empty(0)
        while lat.size < n:
            m = 2 * (n - lat.size) + 8
            clat, clon = _sample_around_centres(rng, m, 5.0)
            ulat = rng.uniform(-34.22, -33.50, m)
            ulon = rng.uniform(150.55, 151.32, m)
            uni = rng.random(m) < 0.3
            clat, clon = np.where(uni, ulat, clat), np.where(uni, ulon, clon)
            ok = shapely.contains_xy(self.poly, clon, clat) & (distance_km(clat, clon, ilat, ilon) > 1.5)
            lat, lon = np.concatenate([lat, clat[ok]]), np.concatenate([lon, clon[ok]])
        kinds = _pick(rng, (("sighting", .5), ("other", .2), ("adult_of_concern", .15),
                            ("vehicle_of_concern", .1), ("premises_of_concern", .05)), n)
        t = np.sort(rng.integers(0, WEEK // 60, n)) * 60 + w * WEEK
        return pd.DataFrame({"t": self.clock.normalise(t), "lat": lat[:n], "lon": lon[:n], "kind": kinds,
                             "episode": -1, "thin": False, "droppable": True, "site": -1})

    def _thin_intervention(self, rng, df: pd.DataFrame) -> pd.DataFrame:
        """Remove the treated share of events in treated cells during the intervention."""
        iv = self.intervention
        live = iv.active(df["t"].to_numpy() // WEEK) & df["thin"].to_numpy().astype(bool)
        near = live & (distance_km(df["lat"].to_numpy(), df["lon"].to_numpy(), self.places["lat"].iat[iv.place],
                                   self.places["lon"].iat[iv.place]) < 0.9)
        idx = np.flatnonzero(near)
        if idx.size == 0:
            return df
        cells = latlng_to_cells(df["lat"].to_numpy()[idx], df["lon"].to_numpy()[idx], RESOLUTION)
        gone = idx[np.isin(cells, iv.treated) & (rng.random(idx.size) < -iv.effect)]
        return df.drop(index=gone).reset_index(drop=True)

    def _format_reports(self, df: pd.DataFrame) -> pd.DataFrame:
        ep, ch = self.ep, self.children
        e = df["episode"].to_numpy().astype(np.int64)
        linked = e >= 0
        safe = np.where(linked, e, 0)
        ep_ids = _ids("SYN-E", self._episode_number(safe), self.ep_width, linked)
        persons = _ids("SYN-P", ep["child"].to_numpy()[safe] + 1, self.person_width, linked)
        grading = np.array(GRADINGS, dtype=object)[df["grading"].to_numpy()]
        grading[grading == ""] = None
        out = pd.DataFrame({
            "observed_at": self.clock.iso(df["t"].to_numpy()).to_pandas(),
            "lat": _round6(df["lat"].to_numpy()), "lon": _round6(df["lon"].to_numpy()),
            "source": df["source"].to_numpy(), "kind": df["kind"].to_numpy(),
            "episode_id": ep_ids, "person_ref": persons, "grading": grading,
        })
        return _with_contract_dtypes(out, "location_reports")

    def _episode_number(self, idx: np.ndarray) -> np.ndarray:
        """Episode row index -> 1-based id number (each bad copy sits right after its source row)."""
        return idx + 1 + np.searchsorted(np.sort(self._bad_episode_sources()), idx, side="left")

    def _bad_report_plan(self) -> list[tuple[str, str, object]]:
        rng = _rng(self.seed, S_BAD, 4)
        return [(reason, col, _bad_value(reason, col, rng)) for reason, k, col in BAD_REPORTS for _ in range(k)]

    # ---- observation (for honest ground truth)
    def _observe_init(self) -> None:
        W = self.weeks
        iv = self.intervention
        self._obs_cells = {s.id: s.core for s in self.sites}
        self._obs_cells[iv.id + ":treated"] = iv.treated
        self._obs_cells[iv.id + ":buffer"] = iv.buffer
        self._obs = {k: np.zeros(W, np.int64) for k in self._obs_cells}
        self._obs_persons = {s.id: {} for s in self.sites if s.kind == "convergence"}
        self._place_cells = self.places["cell"].to_numpy()
        self._place_counts = np.zeros((len(self.places), W), np.int64)

    def _observe(self, df: pd.DataFrame) -> None:
        """Count this week's reports in planted cells and in every place's cell."""
        cells = latlng_to_cells(df["lat"].to_numpy(), df["lon"].to_numpy(), RESOLUTION)
        wk = np.minimum(df["t"].to_numpy() // WEEK, self.weeks - 1)
        for key, target in self._obs_cells.items():
            hit = np.isin(cells, target)
            np.add.at(self._obs[key], wk[hit], 1)
        order = np.argsort(self._place_cells)
        pos = np.searchsorted(self._place_cells[order], cells)
        pos = np.minimum(pos, order.size - 1)
        hit = self._place_cells[order][pos] == cells
        np.add.at(self._place_counts, (order[pos[hit]], wk[hit]), 1)

    # ---- disruptions
    def disruptions_frame(self) -> pd.DataFrame:
        """Disruption activities at busy venues, plus the intervention's presence patrols (cached)."""
        if not hasattr(self, "_disruptions"):
            self._disruptions = self._build_disruptions()
        return self._disruptions.copy()

    def _build_disruptions(self) -> pd.DataFrame:
        rng = _rng(self.seed, S_DISRUPT)
        p, iv, W = self.places, self.intervention, self.weeks
        wts = p["weight"].to_numpy()
        n_w = rng.poisson(6.0 * self.f, W)
        wk = np.repeat(np.arange(W), n_w)
        k = rng.choice(len(p), size=wk.size, p=wts / wts.sum())
        kinds = _pick(rng, (("presence_patrol", .45), ("warning_notice", .1), ("premises_visit", .15),
                            ("outreach", .2), ("licensing_check", .05), ("other", .05)), wk.size)
        lat, lon = _jitter(rng, p["lat"].to_numpy()[k], p["lon"].to_numpy()[k], 0.05, 0.15)
        # intervention patrols: 7 a week, 10-15 minute visits, in the treated cells
        iv_weeks = np.arange(iv.start_week, iv.end_week + 1)
        pw = np.repeat(iv_weeks, 7)
        tlat, tlon = _cell_centres(iv.treated)
        j = rng.integers(0, iv.treated.size, pw.size)
        plat, plon = _jitter(rng, tlat[j], tlon[j], 0.03, 0.06)
        weeks = np.concatenate([wk, pw])
        start = self.clock.normalise(self._week_times(rng, weeks))
        minutes = np.concatenate([rng.integers(15, 121, wk.size), rng.integers(10, 16, pw.size)])
        end = self.clock.normalise(np.minimum(start + minutes * 60, self.horizon - 60))
        by_place = np.concatenate([rng.random(wk.size) < 0.5, np.zeros(pw.size, bool)])
        place_ids = np.concatenate([p["place_id"].to_numpy()[k], np.full(pw.size, None, object)])
        df = pd.DataFrame({
            "t": start, "kind": np.concatenate([kinds, np.full(pw.size, "presence_patrol", object)]),
            "start": self.clock.iso(start).to_pandas(), "end": self.clock.iso(end).to_pandas(),
            "lat": np.where(by_place, np.nan, _round6(np.concatenate([lat, plat]))),
            "lon": np.where(by_place, np.nan, _round6(np.concatenate([lon, plon]))),
            "place_id": np.where(by_place, place_ids, None),
            "intervention": np.concatenate([np.zeros(wk.size, bool), np.ones(pw.size, bool)]),
        }).sort_values("t", kind="stable").reset_index(drop=True)
        self._n_patrols = int(pw.size)
        ivmask = df.pop("intervention").to_numpy()
        df = _with_contract_dtypes(df.drop(columns=["t"]), "disruptions")
        bad = [(r, c, _bad_value(r, c, rng)) for r, k_, c in BAD_DISRUPTIONS for _ in range(k_)]
        df["_iv"] = ivmask
        ok = np.flatnonzero(df["lat"].notna().to_numpy() & ~ivmask)[:BAD_SOURCE_WINDOW]
        df = _insert_bad_rows(df, bad, rng.choice(ok, size=len(bad), replace=False))
        width = max(4, len(str(len(df))))
        df.insert(0, "activity_id", _ids("SYN-A", np.arange(1, len(df) + 1), width))
        self.bad_rows["disruptions"] = _bad_row_records(df, "activity_id")
        self._patrol_ids = df.loc[df["_iv"].fillna(False).astype(bool) & df["_bad"].isna(), "activity_id"].tolist()
        self.counts["disruptions_rows"] = len(df)
        return df.drop(columns=["_bad", "_iv"])
