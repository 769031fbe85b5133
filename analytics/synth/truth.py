"""SYNTHETIC ground truth (what was planted where and when, observed counts, calibration) and the
static inputs as GeoJSON."""

from __future__ import annotations

import h3
import numpy as np
import pandas as pd

from analytics.grid import cells_to_hex
from analytics.synth.params import BOUNDARY_LONLAT, DAY, DUPLICATE_REPORTS, FOUND_MIX, RESOLUTION, TIMEZONE
from analytics.synth.clock import week_label
from analytics.synth.geography import distance_km
from analytics.synth.rows import _count_reasons
from analytics.synth.sites import Site


class TruthMixin:
    """Ground truth and static outputs of :class:`~analytics.synth.SyntheticCity` (a mixin)."""

    # ---- static outputs
    def placements_frame(self) -> pd.DataFrame:
        """SYNTHETIC care placements (only so tests can check they are never shown)."""
        return self.placements.copy()

    def places_geojson(self) -> dict:
        """Places as a GeoJSON FeatureCollection of Points, marked SYNTHETIC."""
        p = self.places
        feats = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [float(lon), float(lat)]},
                  "properties": {"place_id": pid, "name": name, "category": cat}}
                 for pid, name, cat, lat, lon in zip(p["place_id"], p["name"], p["category"], p["lat"], p["lon"])]
        return {"type": "FeatureCollection", "name": "SYNTHETIC places (safeguard-hotspots synthetic city)",
                "synthetic": True, "features": feats}

    def boundary_geojson(self) -> dict:
        """The study-area polygon as a one-feature GeoJSON FeatureCollection, marked SYNTHETIC."""
        ring = [[float(x), float(y)] for x, y in BOUNDARY_LONLAT]
        return {"type": "FeatureCollection", "name": "SYNTHETIC study area (simplified Greater Sydney outline)",
                "synthetic": True,
                "features": [{"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
                              "properties": {"name": "SYNTHETIC study area", "synthetic": True}}]}

    # ---- ground truth
    def ground_truth(self) -> dict:
        """What was planted, where and when, plus observed counts and calibration figures."""
        if not hasattr(self, "_obs"):
            raise RuntimeError("consume iter_report_frames() before asking for the ground truth")
        self.disruptions_frame()
        W = self.weeks
        hexes = lambda cells: cells_to_hex(np.sort(np.asarray(cells, np.uint64)))  # noqa: E731
        p = self.places
        persons = lambda idx: [f"SYN-P{int(c) + 1:0{self.person_width}d}" for c in idx]  # noqa: E731
        sites = []
        for s in self.sites:
            entry = {
                "id": s.id, "kind": s.kind, "place_id": p["place_id"].iat[s.place],
                "place_name": p["name"].iat[s.place],
                "category": p["category"].iat[s.place], "cells": hexes(s.core), "halo_cells": hexes(s.halo),
                "onset_week": None if s.onset_week is None else week_label(s.onset_week),
                "end_week": None if s.end_week is None else week_label(s.end_week),
                "rate_per_week": _rate_summary(s), "expected_planted_weekly": [round(float(x), 3) for x in s.rate],
                "observed_reports_weekly": self._obs[s.id].tolist(),
            }
            if s.kind == "convergence":
                cohort = s.extra["cohort"]
                pl_refs = self.placements["placement_ref"].to_numpy()[self.children["placement"].to_numpy()[cohort]]
                entry["windows"] = [{"start_week": week_label(a), "end_week": week_label(b)}
                                    for a, b in s.extra["windows"]]
                entry["person_refs"] = persons(cohort)
                entry["placement_refs"] = sorted(set(pl_refs.tolist()))
                entry["rule"] = ">= 3 young people from >= 2 placements found or seen in the cells within 8 weeks"
                entry["rate_per_week"]["cohort_episodes_per_person_week_in_window"] = 0.9
            sites.append(entry)
        iv = self.intervention
        interventions = [{
            "id": iv.id, "place_id": p["place_id"].iat[iv.place], "place_name": p["name"].iat[iv.place],
            "category": p["category"].iat[iv.place], "cells": hexes(iv.treated), "buffer_cells": hexes(iv.buffer),
            "start_week": week_label(iv.start_week), "end_week": week_label(iv.end_week),
            "effect": iv.effect, "buffer_effect": iv.buffer_effect, "buffer_kind": "displacement",
            "outcome": "episodes found and location reports in the cells (all kinds and sources); the diffuse "
                       "background is kept out of the area, so the effect applies to every event there",
            "planted_rate_per_week": {"treated": round(iv.treated_rate, 3), "buffer": round(iv.buffer_rate, 3)},
            "patrols": {"kind": "presence_patrol", "per_week": 7, "minutes": "10-15", "count": self._n_patrols,
                        "activity_ids": self._patrol_ids if len(self._patrol_ids) <= 500 else None},
            "observed_reports_weekly": {"treated": self._obs[iv.id + ":treated"].tolist(),
                                        "buffer": self._obs[iv.id + ":buffer"].tolist()},
        }]
        extra = {}
        if self.repeat_home is not None:
            rh = self.repeat_home
            home = self.placements.iloc[rh["placement"]]
            extra["repeat_home"] = {
                "person_ref": persons([rh["child"]])[0], "placement_ref": home["placement_ref"],
                "placement_type": home["placement_type"],
                "cell": h3.latlng_to_cell(float(home["lat"]), float(home["lon"]), RESOLUTION),
                "episodes": rh["episodes"],
                "rule": "missing from, and found at, their own residential placement every second day: "
                        "a safeguarding referral, never a place to patrol in a shared output",
            }
        return {
            "synthetic": True,
            "name": "SYNTHETIC ground truth (safeguard-hotspots synthetic city)",
            "seed": self.seed, "resolution": RESOLUTION, "timezone": TIMEZONE,
            "weeks": [week_label(0), week_label(W - 1)], "n_weeks": W, "scale_reports": self.n_reports,
            "sites": sites, "background_hot": self._background_hot(), "interventions": interventions,
            "planted_bad_rows": {k: _count_reasons(v) for k, v in sorted(self.bad_rows.items())},
            "planted_bad_row_ids": self.bad_rows,
            "planted_duplicate_rows": {"location_reports": DUPLICATE_REPORTS},
            "planted_duplicate_ids": {"location_reports": self.duplicate_ids},
            "counts": self._counts(), "calibration": self.calibration(),
            "notes": [
                "Every id starts with SYN- and every file is SYNTHETIC: no real person, placement or venue.",
                "location_reports rows = counts.location_reports_valid + planted bad rows + planted duplicates.",
                "Sites' cells are the core res-9 cells (about 90 % of planted events); halo_cells are ring 1.",
                "lat_out_of_range and null_island rows are also outside the study area; "
                "the specific reason is the expected one.",
                "repeat_child_share is the share of young people with more than one episode (see calibration).",
            ],
            **extra,
        }

    def _background_hot(self) -> list[dict]:
        """Busy non-planted venues (observed), so scoring does not count them as false alarms."""
        p, W = self.places, self.weeks
        site_places = {s.place for s in self.sites} | {self.intervention.place}
        totals = self._place_counts.sum(axis=1)
        order = np.argsort(-totals, kind="stable")
        out = [{"place_id": p["place_id"].iat[i], "place_name": p["name"].iat[i], "category": p["category"].iat[i],
                "cells": cells_to_hex(np.array([p["cell"].iat[i]], np.uint64)),
                "observed_reports_per_week": round(float(totals[i]) / W, 3), "source": "busy venue"}
               for i in order if i not in site_places][:10]
        iv = self.intervention
        out.append({"place_id": p["place_id"].iat[iv.place], "place_name": p["name"].iat[iv.place],
                    "category": p["category"].iat[iv.place], "cells": cells_to_hex(np.sort(iv.treated)),
                    "observed_reports_per_week": round(float(self._obs[iv.id + ":treated"].sum()) / W, 3),
                    "source": "intervention site (planted; hot before and after the intervention)"})
        return out

    def _counts(self) -> dict:
        ep = self.ep
        bad = {k: sum(_count_reasons(v).values()) for k, v in self.bad_rows.items()}
        return {
            "episodes_valid": int(len(ep)), "episodes_rows": int(len(ep) + bad.get("episodes", 0)),
            "location_reports_valid": int(self.counts.get("location_reports_valid", 0)),
            "location_reports_rows": int(self.counts.get("location_reports_rows", 0)),
            "disruptions_rows": int(self.counts.get("disruptions_rows", 0)),
            "disruptions_valid": int(self.counts.get("disruptions_rows", 0) - bad.get("disruptions", 0)),
            "places": int(len(self.places)), "placements": int(len(self.placements)),
            "young_people_with_episodes": int(ep["child"].nunique()), "young_people_in_care": int(len(self.children)),
        }

    def calibration(self) -> dict:
        """Realism figures of the generated episodes against METHODS §10 targets."""
        ep, ch = self.ep, self.children
        counts = np.bincount(ep["child"].to_numpy(), minlength=len(ch))
        who = counts > 0
        years = ((ch["active_to"] - ch["active_from"]).to_numpy()[who] / (365.25 * DAY)).sum()
        srt = np.sort(counts[who])[::-1]
        top = max(1, int(round(0.06 * srt.size)))
        dur = ep["dur"].to_numpy()[ep["returned"].to_numpy()]
        found = (ep["has_found"] & ep["returned"]).to_numpy()
        d = distance_km(ep["last_lat"].to_numpy()[found], ep["last_lon"].to_numpy()[found],
                        ep["found_lat"].to_numpy()[found], ep["found_lon"].to_numpy()[found])
        mix = np.bincount(ep["found_cat"].to_numpy()[found], minlength=len(FOUND_MIX)) / max(1, found.sum())
        r4 = lambda x: round(float(x), 4)  # noqa: E731
        return {
            "episodes_per_young_person_year": {"value": r4(who.sum() and counts.sum() / years), "target": 6.0},
            "repeat_child_share": {"value": r4((counts[who] >= 2).mean()), "target": 0.65,
                                   "definition": "young people with >= 2 episodes / young people with >= 1"},
            "repeat_episode_share": {"value": r4(1 - who.sum() / counts.sum()),
                                     "definition": "episodes that are not the young person's first"},
            "top6pct_episode_share": {"value": r4(srt[:top].sum() / srt.sum()), "target": 0.33},
            "share_ending_within_2_days": {"value": r4((dur <= 2 * DAY).mean()), "target": 0.9},
            "found_distance_share_within_km": {str(k): r4((d <= k).mean()) for k in (1, 3, 8, 18)},
            "found_distance_target": {"1": 0.3, "3": 0.5, "8": 0.7, "18": 0.8},
            "found_location_mix": {m[0]: r4(x) for m, x in zip(FOUND_MIX, mix)},
        }


def _rate_summary(s: Site) -> dict:
    r = s.rate
    return {"first_week": round(float(r[0]), 3), "last_week": round(float(r[-1]), 3),
            "mean": round(float(r.mean()), 3), "max": round(float(r.max()), 3)}
