"""SYNTHETIC city (analytics.synth): parameters, time zone handling, calibration, planted sites.

Calibration targets are the published patterns in METHODS.md §10; tolerances are the
ones the lead set in the brief (e.g. 0.9 ± 0.05 of episodes end within 2 days).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from analytics import synth
from analytics.errors import InvalidInputError
from analytics.grid import latlng_to_cells


@pytest.fixture(scope="module")
def city() -> synth.SyntheticCity:
    c = synth.build_city(seed=7, weeks=104, scale="small")
    c.reports = pd.concat(list(c.iter_report_frames(chunk_weeks=104)), ignore_index=True)
    return c


# ---------------------------------------------------------------- parameters
@pytest.mark.parametrize("scale, n", [("small", 25_000), ("medium", 1_000_000), ("large", 10_000_000),
                                      (" Large ", 10_000_000), (7_500, 7_500), ("7500", 7_500)])
def test_resolve_scale(scale, n):
    assert synth.resolve_scale(scale) == n


@pytest.mark.parametrize("scale", ["huge", 10, 10**9, True, 2.5, None])
def test_resolve_scale_rejects_with_a_clear_message(scale):
    with pytest.raises(InvalidInputError, match="scale"):
        synth.resolve_scale(scale)


@pytest.mark.parametrize("weeks", [0, 25, 105, 52.0, True])
def test_weeks_out_of_range_is_refused(weeks):
    with pytest.raises(InvalidInputError, match="weeks must be an integer from 26 to 104"):
        synth.build_city(seed=1, weeks=weeks, scale=5_000)


def test_seed_must_be_non_negative():
    with pytest.raises(InvalidInputError, match="seed"):
        synth.build_city(seed=-1, scale=5_000)


# ---------------------------------------------------------------- time
def test_week_labels_start_2024_w27_and_end_2026_w26():
    assert synth.week_label(0) == "2024-W27"
    assert synth.week_label(103) == "2026-W26"
    assert synth.week_label(26) == "2025-W01"  # 2024 has 52 ISO weeks


def test_local_clock_matches_zoneinfo_offsets():
    clock = synth.LocalClock(104)
    tz = ZoneInfo(synth.TIMEZONE)
    rng = np.random.default_rng(0)
    secs = clock.normalise(rng.integers(0, 104 * synth.WEEK, 2_000) // 60 * 60)
    text = clock.iso(secs).to_pylist()
    base = datetime(2024, 7, 1)
    for s, t in zip(secs[:2_000], text):
        local = base + timedelta(seconds=int(s))
        expected = local.replace(tzinfo=tz).isoformat()
        assert t == expected


def test_local_clock_moves_spring_forward_gap_and_keeps_order():
    clock = synth.LocalClock(104)
    # 2024-10-06 02:30 does not exist in Sydney: clocks jump from 02:00 to 03:00.
    gap = int((datetime(2024, 10, 6, 2, 30) - datetime(2024, 7, 1)).total_seconds())
    out = clock.normalise(np.array([gap - 3600, gap, gap + 3600]))
    assert clock.iso(out).to_pylist() == ["2024-10-06T01:30:00+10:00", "2024-10-06T03:00:00+11:00",
                                           "2024-10-06T03:30:00+11:00"]
    assert np.all(np.diff(out) >= 0)


def test_clock_nulls_where_not_valid():
    clock = synth.LocalClock(30)
    assert clock.iso(np.array([0, 60]), np.array([True, False])).to_pylist() == ["2024-07-01T00:00:00+10:00", None]


def test_ids_are_zero_padded_and_nullable():
    ids = synth._ids("SYN-R", np.array([1, 42, 1234567]), 7, np.array([True, True, False]))
    assert ids.tolist()[:2] == ["SYN-R0000001", "SYN-R0000042"]
    assert pd.isna(ids.iloc[2])


def test_largest_remainder_sums_exactly():
    out = synth._largest_remainder(1001, np.array([1.0, 1.0, 1.0]))
    assert out.sum() == 1001 and out.max() - out.min() <= 1


# ---------------------------------------------------------------- calibration (METHODS §10)
def test_episodes_ending_within_two_days_about_90_percent(city):
    value = city.calibration()["share_ending_within_2_days"]["value"]
    assert 0.85 <= value <= 0.95


def test_repeat_share_about_65_percent(city):
    assert 0.55 <= city.calibration()["repeat_child_share"]["value"] <= 0.75


def test_top_six_percent_hold_about_a_third(city):
    assert 0.25 <= city.calibration()["top6pct_episode_share"]["value"] <= 0.45


def test_about_six_episodes_per_young_person_year(city):
    assert 4.5 <= city.calibration()["episodes_per_young_person_year"]["value"] <= 8.0


def test_distance_decay_quantiles(city):
    got = city.calibration()["found_distance_share_within_km"]
    for km, target in {"1": 0.30, "3": 0.50, "8": 0.70, "18": 0.80}.items():
        assert abs(got[km] - target) <= 0.06, (km, got[km])


def test_found_location_mix(city):
    mix = city.calibration()["found_location_mix"]
    for name, share in synth.FOUND_MIX:
        assert abs(mix[name] - share) <= 0.04, name


def test_residential_episodes_peak_late_evening_and_weekends(city):
    ep, ch = city.ep, city.children
    res = ch["ptype"].to_numpy()[ep["child"].to_numpy()] == 0
    hour = (ep["start"].to_numpy() % synth.DAY) // synth.HOUR
    late = np.isin(hour, [22, 23, 0])
    assert late[res].mean() > 0.3 > late[~res].mean()
    dow = (ep["start"].to_numpy() // synth.DAY) % 7
    per_day = np.bincount(dow, minlength=7)
    assert per_day[5] > 1.15 * per_day[:4].mean()  # Saturday busier than Mon-Thu


def test_ages_are_mostly_12_to_17_and_never_18(city):
    df = city._episode_frame(slice(0, len(city.ep)))
    age = df["age_years"].to_numpy()
    assert age.min() >= 0 and age.max() <= 17
    assert ((age >= 12) & (age <= 17)).mean() > 0.8


# ---------------------------------------------------------------- reports and planted sites
def test_exact_number_of_valid_reports(city):
    n_bad = sum(k for _, k, _ in synth.BAD_REPORTS)
    assert len(city.reports) == 25_000 + n_bad + synth.DUPLICATE_REPORTS


def test_planted_points_land_in_their_cells(city):
    for site in city.sites:
        planted = city.planted[city.planted["site"] == city.sites.index(site)]
        cells = latlng_to_cells(planted["lat"].to_numpy(), planted["lon"].to_numpy(), 9)
        assert np.isin(cells, np.concatenate([site.core, site.halo])).all(), site.id
        assert np.isin(cells, site.core).mean() > 0.8, site.id
    iv = city.intervention
    planted = city.planted[city.planted["site"] == len(city.sites)]
    cells = latlng_to_cells(planted["lat"].to_numpy(), planted["lon"].to_numpy(), 9)
    assert np.isin(cells, np.concatenate([iv.treated, iv.buffer])).all()


def test_sites_are_apart_and_not_background_hot(city):
    truth = city.ground_truth()
    site_places = {s["place_id"] for s in truth["sites"]} | {truth["interventions"][0]["place_id"]}
    busy = [b["place_id"] for b in truth["background_hot"] if b["source"] == "busy venue"]
    assert not site_places & set(busy)
    p = city.places
    idx = [s.place for s in city.sites] + [city.intervention.place]
    d = synth.distance_km(p["lat"].to_numpy()[idx][:, None], p["lon"].to_numpy()[idx][:, None],
                          p["lat"].to_numpy()[idx][None, :], p["lon"].to_numpy()[idx][None, :])
    assert (d[np.triu_indices(len(idx), 1)] > 4.0).all()


def test_emerging_sites_rise_after_onset(city):
    for s in city.sites:
        if s.kind != "emerging":
            continue
        obs = city._obs[s.id]
        before = obs[:s.onset_week].mean()
        after = obs[s.onset_week:].mean()
        assert after > 2 * max(before, 0.1), (s.id, before, after)
        late = obs[s.onset_week + (len(obs) - s.onset_week) // 2:].mean()
        early = obs[s.onset_week:s.onset_week + (len(obs) - s.onset_week) // 2].mean()
        assert late > early  # rising intensity after onset


def test_persistent_sites_busy_in_every_quarter(city):
    for s in city.sites:
        if s.kind == "persistent":
            quarters = city._obs[s.id].reshape(4, -1).mean(axis=1)
            assert (quarters >= 2.0).all(), (s.id, quarters)


def test_diminishing_site_fades(city):
    s = next(s for s in city.sites if s.kind == "diminishing")
    quarters = city._obs[s.id].reshape(4, -1).mean(axis=1)
    assert quarters[0] > 2 * quarters[3] and quarters[3] >= 1.0


def test_intervention_lowers_treated_and_raises_buffer(city):
    iv = city.intervention
    treated, buffer = city._obs["I1:treated"], city._obs["I1:buffer"]
    on = iv.active(np.arange(city.weeks))
    pre = np.arange(city.weeks) < iv.start_week
    assert treated[on].mean() < 0.85 * treated[pre].mean()
    assert buffer[on].mean() > buffer[pre].mean()


def test_same_seed_same_city_and_different_seed_differs():
    a = synth.build_city(seed=3, scale=5_000)
    b = synth.build_city(seed=3, scale=5_000)
    c = synth.build_city(seed=4, scale=5_000)
    pd.testing.assert_frame_equal(a.ep, b.ep)
    assert not a.ep["start"].equals(c.ep["start"])


def test_report_frames_do_not_depend_on_chunking():
    one = synth.build_city(seed=5, weeks=30, scale=5_000)
    many = synth.build_city(seed=5, weeks=30, scale=5_000)
    whole = pd.concat(list(one.iter_report_frames(30)), ignore_index=True)
    frames = list(many.iter_report_frames(4))
    assert len(frames) == 8
    pd.testing.assert_frame_equal(whole, pd.concat(frames, ignore_index=True))
