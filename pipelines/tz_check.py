"""Ingest hook: warn when a file's times do not fit the store's time zone (issue 13, item 3).

Called by :func:`pipelines.ingest.ingest_file` after staging, while ``base_<kind>`` (the file's
text) and ``stg_<kind>`` (parsed instants, coordinates, reject) exist on the connection. Reads a
deterministic subsample of at most :data:`MAX_ROWS` valid rows; the rules and messages are in
:mod:`analytics.timezones`. Returns warning lines; never changes a row.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

from analytics.timezones import (MIN_DISAGREEING_SHARE, ZoneCity, longitude_warning, offset_warning, parse_offset,
                                 suggest_zone)

#: kind -> (time column in the file, parsed column in staging, latitude and longitude expressions on stg)
TIME_COLUMNS = {
    "reports": ("observed_at", "observed_at", "s.lat", "s.lon"),
    "episodes": ("missing_from", "missing_from", "coalesce(s.found_lat, s.last_seen_lat)",
                 "coalesce(s.found_lon, s.last_seen_lon)"),
    "disruptions": ("start", "start_at", "s.lat", "s.lon"),
}
#: Rows read by the check at most (every n-th valid row above that).
MAX_ROWS = 200_000
#: The offset written after a time ('-05:00', '+1030', 'Z'); '' for a naive time.
_SUFFIX_RE = r"\d:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(Z|z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)$"


@lru_cache(maxsize=1)
def zone_cities() -> tuple[ZoneCity, ...]:
    """The tz database's zone table (``zone1970.tab`` from the tzdata package, else the system's)."""
    text = None
    try:
        text = resources.files("tzdata").joinpath("zoneinfo/zone1970.tab").read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError, OSError):
        system = Path("/usr/share/zoneinfo/zone1970.tab")
        text = system.read_text(encoding="utf-8") if system.is_file() else ""
    cities = []
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) >= 3:
            lat_lon = _parse_iso6709(parts[1])
            if lat_lon:
                cities.append(ZoneCity(parts[2], *lat_lon))
    return tuple(cities)


def _parse_iso6709(text: str) -> tuple[float, float] | None:
    """'-3352+15113' or '+404251-0740023' -> (lat, lon) in degrees."""
    for i in range(1, len(text)):
        if text[i] in "+-":
            lat, lon = text[:i], text[i:]
            return _dms(lat, 2), _dms(lon, 3)
    return None


def _dms(text: str, degree_digits: int) -> float:
    sign = -1.0 if text[0] == "-" else 1.0
    digits = text[1:]
    deg = int(digits[:degree_digits])
    minutes = int(digits[degree_digits:degree_digits + 2] or 0)
    seconds = int(digits[degree_digits + 2:degree_digits + 4] or 0)
    return sign * (deg + minutes / 60 + seconds / 3600)


def ingest_warnings(store, kind: str, file_name: str) -> list[str]:
    """Warnings about the staged file's times against the store's zone (empty when they agree)."""
    if kind not in TIME_COLUMNS:
        return []
    raw_col, stg_col, lat, lon = TIME_COLUMNS[kind]
    con = store.con
    n_valid = con.execute(f"select count(*) from stg_{kind} where reject is null").fetchall()[0][0]
    if not n_valid:
        return []
    step = max(1, -(-n_valid // MAX_ROWS))
    con.execute(
        f"create or replace temp table tz_check_rows as "
        f"select regexp_extract(trim(cast(b.\"{raw_col}\" as varchar)), '{_SUFFIX_RE}', 1) as suffix, "
        f"s.\"{stg_col}\" as t, {lat} as lat, {lon} as lon "
        f"from stg_{kind} s join base_{kind} b on b._row = s._row "
        f"where s.reject is null and s.\"{stg_col}\" is not null and s._row % {step} = 0")
    try:
        return _warnings(store, kind, file_name, raw_col)
    finally:
        con.execute("drop table if exists tz_check_rows")


def _warnings(store, kind: str, file_name: str, column: str) -> list[str]:
    con, tz = store.con, store.timezone
    tallies = con.execute(
        "select suffix, date_diff('minute', timezone('UTC', t), cast(t as timestamp)) as zone_min, count(*) "
        "from tz_check_rows group by all").fetchall()
    store_offsets = sorted({int(z) for _, z, _ in tallies})
    disagreeing: dict[int, int] = {}
    n_offset = n_naive = 0
    for suffix, zone_min, n in tallies:
        offset = parse_offset(suffix)
        if not suffix:
            n_naive += n
        elif offset is not None and suffix.upper() not in ("Z", "UTC", "GMT"):  # 'Z' says nothing of the place
            n_offset += n
            if offset != zone_min:
                disagreeing[offset] = disagreeing.get(offset, 0) + n
    lat, lon = con.execute("select median(lat), median(lon) from tz_check_rows").fetchall()[0]
    near = (float(lat), float(lon)) if lat is not None and lon is not None else None
    warnings = []
    if disagreeing and sum(disagreeing.values()) >= MIN_DISAGREEING_SHARE * n_offset:
        samples = [(t, parse_offset(suffix)) for suffix, t in con.execute(
            "select suffix, min(t) from tz_check_rows where suffix <> '' and upper(suffix) not in ('Z', 'UTC', 'GMT') "
            "group by suffix, date_trunc('month', t) order by 2, 1").fetchall()]
        suggestion = suggest_zone(zone_cities(), near, samples)
        warning = offset_warning(file_name, column, tz, disagreeing, n_offset, store_offsets, suggestion)
        if warning:
            warnings.append(warning)
    if n_naive and near is not None:
        probe = longitude_warning(file_name, column, tz, near[1], n_naive, store_offsets, None)
        if probe:  # only then look for the zone to suggest (the nearest zone city)
            warnings.append(longitude_warning(file_name, column, tz, near[1], n_naive, store_offsets,
                                              suggest_zone(zone_cities(), near)))
    return warnings
