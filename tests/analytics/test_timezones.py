"""Pure time-zone checks: offsets, suggestions and the two warning rules (issue 13, item 3)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from analytics.timezones import (MAX_LONGITUDE_GAP_HOURS, MIN_DISAGREEING_SHARE, ZoneCity, format_offset,
                                 longitude_warning, offset_warning, parse_offset, suggest_zone, zone_offsets)

ZONES = [ZoneCity("America/New_York", 40.71, -74.01), ZoneCity("America/Chicago", 41.85, -87.65),
         ZoneCity("America/Denver", 39.74, -104.98), ZoneCity("America/Phoenix", 33.45, -112.07),
         ZoneCity("America/Toronto", 43.65, -79.38), ZoneCity("Australia/Sydney", -33.87, 151.21),
         ZoneCity("Australia/Brisbane", -27.47, 153.03)]
WINTER = datetime(2026, 1, 15, 3, tzinfo=timezone.utc)
SUMMER = datetime(2026, 7, 15, 3, tzinfo=timezone.utc)


@pytest.mark.parametrize("text,minutes", [("-05:00", -300), ("+1030", 630), ("+11", 660), ("Z", 0), ("utc", 0),
                                          ("", None), ("PM", None), ("+5", None)])
def test_parse_offset(text, minutes):
    assert parse_offset(text) == minutes


def test_format_offset_round_trips():
    for minutes in (-300, -240, 0, 330, 600, 660, 765):
        assert parse_offset(format_offset(minutes)) == minutes


def test_zone_offsets_follow_daylight_saving():
    assert zone_offsets("Australia/Sydney", [WINTER, SUMMER]) == [600, 660]
    assert zone_offsets("America/Phoenix", [WINTER, SUMMER]) == [-420]


def test_suggestion_matches_offsets_at_the_files_instants_then_nearest():
    samples = [(WINTER, -300), (SUMMER, -240)]
    assert suggest_zone(ZONES, (40.75, -73.99), samples) == "America/New_York"
    assert suggest_zone(ZONES, (43.7, -79.4), samples) == "America/Toronto"
    # -07:00 all year is Phoenix, not Denver (which is -06:00 in July), wherever the points are
    assert suggest_zone(ZONES, (39.74, -104.98), [(WINTER, -420), (SUMMER, -420)]) == "America/Phoenix"
    assert suggest_zone(ZONES, (-33.87, 151.21), [(WINTER, 600), (SUMMER, 600)]) == "Australia/Brisbane"
    assert suggest_zone(ZONES, None, [(WINTER, 999)]) is None
    assert suggest_zone(ZONES, (39.7, -105.0)) == "America/Denver"          # naive times: nearest city


def test_offset_warning_names_both_zones_and_the_fix():
    text = offset_warning("ny.csv", "observed_at", "Australia/Sydney", {-300: 60, -240: 40}, 100, [600, 660],
                          "America/New_York")
    assert text.startswith("Warning: ny.csv: observed_at offsets (-05:00, -04:00) do not match the store's "
                           "time zone Australia/Sydney (+10:00/+11:00")
    assert "--tz America/New_York" in text and "16 hours" in text


def test_offset_warning_needs_a_real_share_of_rows():
    below = int(MIN_DISAGREEING_SHARE * 100) - 1
    assert offset_warning("f.csv", "observed_at", "Australia/Sydney", {600: below}, 100, [660], None) is None
    assert offset_warning("f.csv", "observed_at", "Australia/Sydney", {600: below + 1}, 100, [660], None)
    assert offset_warning("f.csv", "observed_at", "Australia/Sydney", {}, 0, [660], None) is None


@pytest.mark.parametrize("lon,warn", [(151.2, False), (150.0 - 15 * MAX_LONGITUDE_GAP_HOURS + 1, False),
                                      (150.0 - 15 * MAX_LONGITUDE_GAP_HOURS - 1, True), (-104.9, True)])
def test_longitude_rule(lon, warn):
    # store zone +10:00 at those dates: solar time lon/15 more than 3 h away -> warning
    text = longitude_warning("f.csv", "observed_at", "Australia/Sydney", lon, 10, [600], "America/Denver")
    assert (text is not None) == warn
    if warn:
        assert "Australia/Sydney (+10:00)" in text and "--tz America/Denver" in text


def test_no_naive_rows_no_longitude_warning():
    assert longitude_warning("f.csv", "observed_at", "Australia/Sydney", -104.9, 0, [600], None) is None
