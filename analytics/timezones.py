"""Does a file's time zone agree with the store's? Pure checks behind the ingest warnings.

Weeks, hours of the week and patrol windows are computed in the store's zone (``hotspots init
--tz``). A file from another city goes in without error either way, so two signals are checked:

* **UTC offsets written in the file** (``2026-03-01T22:15:00-05:00``): each row's offset is
  compared with the store zone's offset at that instant. When they disagree the instants are
  right but every week and patrol window is counted in the wrong local time.
* **Naive times** (no offset; read as the store zone's local time) **against longitude**: a
  place's solar time is about ``longitude / 15`` hours from UTC; more than
  :data:`MAX_LONGITUDE_GAP_HOURS` from every offset the store's zone has at those dates means the
  data almost certainly comes from elsewhere.

A suggested zone comes from the tz database's own zone table (name and principal city's
coordinates, read by ``pipelines.tz_check``): the zones whose offsets match the file's at its
own instants, nearest to the data first.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterable, Sequence
from zoneinfo import ZoneInfo

#: The store's time zone unless ``hotspots init --tz`` says otherwise (one home for the default).
DEFAULT_TIMEZONE = "Australia/Sydney"
#: Naive times are flagged when longitude/15 h is further than this from every store-zone offset.
MAX_LONGITUDE_GAP_HOURS = 3.0
#: Share of rows with a written offset that must disagree before the file is flagged.
MIN_DISAGREEING_SHARE = 0.10

_OFFSET_RE = re.compile(r"^(?:(Z|UTC|GMT)|([+-])(\d{2}):?(\d{2})?)$", re.IGNORECASE)


def parse_offset(text: str | None) -> int | None:
    """Minutes east of UTC of an offset suffix ('-05:00', '+1030', '+11', 'Z'); None if not one.

    >>> parse_offset("-05:00"), parse_offset("+1030"), parse_offset("Z"), parse_offset("")
    (-300, 630, 0, None)
    """
    m = _OFFSET_RE.match((text or "").strip())
    if not m:
        return None
    if m.group(1):
        return 0
    minutes = int(m.group(3)) * 60 + int(m.group(4) or 0)
    return -minutes if m.group(2) == "-" else minutes


def format_offset(minutes: int) -> str:
    """'+10:00' / '-05:00' / '+05:30' for minutes east of UTC.

    >>> format_offset(-300), format_offset(630)
    ('-05:00', '+10:30')
    """
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def zone_offsets(tz: str, instants: Iterable[datetime]) -> list[int]:
    """Sorted distinct UTC offsets (minutes) of zone ``tz`` at the given (aware or UTC-naive) instants."""
    zone = ZoneInfo(tz)
    found = set()
    for t in instants:
        aware = t if t.tzinfo else t.replace(tzinfo=timezone.utc)
        found.add(int(aware.astimezone(zone).utcoffset().total_seconds() // 60))
    return sorted(found)


@dataclass(frozen=True)
class ZoneCity:
    """One zone of the tz database's zone table and its principal city's position."""

    name: str
    lat: float
    lon: float


def _distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (math.sin((p2 - p1) / 2) ** 2
         + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2)
    return 12742.0 * math.asin(min(1.0, math.sqrt(a)))


def suggest_zone(zones: Sequence[ZoneCity], near: tuple[float, float] | None,
                 samples: Sequence[tuple[datetime, int]] = ()) -> str | None:
    """The zone to suggest: among ``zones`` whose offset equals the file's at every sampled
    (instant, offset) pair (all zones when no samples), the one nearest ``near`` (lat, lon);
    without a position, the first matching name in alphabetical order."""
    matching = []
    for z in zones:
        try:
            zone = ZoneInfo(z.name)
        except (KeyError, ValueError, OSError):
            continue
        if all(int(t.astimezone(zone).utcoffset().total_seconds() // 60) == off for t, off in samples):
            matching.append(z)
    if not matching:
        return None
    if near is None or any(v is None or not math.isfinite(v) for v in near):
        return sorted(z.name for z in matching)[0]
    return min(matching, key=lambda z: (_distance_km(near[0], near[1], z.lat, z.lon), z.name)).name


def offset_warning(file_name: str, column: str, tz: str, disagreeing: dict[int, int], n_with_offset: int,
                   store_offsets: Sequence[int], suggestion: str | None) -> str | None:
    """The warning when the file's written offsets disagree with the store's zone, else None.

    ``disagreeing``: offset (minutes) -> rows whose written offset differs from the store zone's
    offset at that row's instant; ``store_offsets``: the store zone's offsets at the file's dates.

    >>> offset_warning("ny.csv", "observed_at", "Australia/Sydney", {-300: 80, -240: 20}, 100, [600, 660],
    ...                "America/New_York")[:120]
    "Warning: ny.csv: observed_at offsets (-05:00, -04:00) do not match the store's time zone Australia/Sydney (+10:00/+11:00"
    """
    bad = sum(disagreeing.values())
    if n_with_offset == 0 or bad < MIN_DISAGREEING_SHARE * n_with_offset:
        return None
    seen = ", ".join(format_offset(o) for o, _ in sorted(disagreeing.items(), key=lambda kv: (-kv[1], kv[0]))[:4])
    zone_text = "/".join(format_offset(o) for o in store_offsets)
    gap = max(abs(o - z) for o in disagreeing for z in store_offsets) / 60 if store_offsets else 0
    fix = (f"if the data is from {suggestion}, re-create the store with --tz {suggestion} "
           f"(hotspots init --db NEW.duckdb --tz {suggestion}) and ingest there"
           if suggestion else "if the data is from another zone, re-create the store with --tz ZONE")
    return (f"Warning: {file_name}: {column} offsets ({seen}) do not match the store's time zone {tz} "
            f"({zone_text} at those dates) in {bad} of {n_with_offset} rows; weeks and patrol windows use the "
            f"store's zone, so they shift by up to {gap:g} hour{'' if gap == 1 else 's'}; {fix}.")


def longitude_warning(file_name: str, column: str, tz: str, median_lon: float | None, n_naive: int,
                      store_offsets: Sequence[int], suggestion: str | None) -> str | None:
    """The warning when naive times meet coordinates whose longitude implies a zone more than
    :data:`MAX_LONGITUDE_GAP_HOURS` from every offset of the store's zone at those dates, else None.

    >>> longitude_warning("denver.csv", "observed_at", "Australia/Sydney", -104.9, 50, [600, 660],
    ...                   "America/Denver")[:60]
    'Warning: denver.csv: observed_at has no UTC offset, so it is'
    >>> longitude_warning("sydney.csv", "observed_at", "Australia/Sydney", 151.2, 50, [600, 660], None) is None
    True
    """
    if n_naive == 0 or median_lon is None or not math.isfinite(median_lon) or not store_offsets:
        return None
    solar = median_lon / 15.0
    gap = min(abs(solar - o / 60) for o in store_offsets)
    if gap <= MAX_LONGITUDE_GAP_HOURS:
        return None
    zone_text = "/".join(format_offset(o) for o in store_offsets)
    fix = (f"if the data is from {suggestion}, re-create the store with --tz {suggestion} "
           f"(hotspots init --db NEW.duckdb --tz {suggestion}) and ingest there"
           if suggestion else "if the data is from another zone, re-create the store with --tz ZONE")
    return (f"Warning: {file_name}: {column} has no UTC offset, so it is read as local time in the store's "
            f"time zone {tz} ({zone_text}), but the coordinates (median longitude {median_lon:.1f}°, about "
            f"UTC{format_offset(int(round(solar * 60)))}) lie {gap:.0f} hours from it ({n_naive} rows); "
            f"instants, weeks and patrol windows would be wrong; {fix}.")
