"""SYNTHETIC city: missing-from-care episodes, location reports and disruptions with planted truth.

Everything here is SYNTHETIC. It exists so that the pipeline, the statistics and the
maps can be built, tested and benchmarked without touching a real young person's
record, and so that later code can be *scored* on recovering hotspots planted at
known places and weeks.

The city is a simplified Greater Sydney outline (coast on the east) with generic
places ("Station 12", never a real venue) and synthetic care placements. Children
go missing as a self-exciting (Hawkes) process per child, calibrated to the
published patterns in METHODS.md §10. Location reports come from found locations,
sightings and return-interview disclosures, busy venues, a diffuse background, and
the planted sites:

* persistent hotspots (hot all period), emerging hotspots (onset in the second
  half, rising after onset), a diminishing hotspot (hot early, fading),
* a convergence site (several young people from several placements found or seen
  there within a few weeks, repeatedly),
* an intervention (presence patrols in treated cells with a known multiplicative
  effect, plus displacement into a buffer ring),
* optionally (``plant_repeat_home=True``, off by default so the sample is unchanged) one
  young person missing from, and found at, their own residential placement every second
  day: the pattern that must never reach a shared output as a place to patrol (issue 12).

Design notes
------------
* Pure computation: no files, no DuckDB. ``pipelines.synthesize`` writes the files.
* Time is kept as *local wall-clock seconds* since Monday 2024-07-01 00:00
  Australia/Sydney (week 1 = ISO 2024-W27), so weeks, days and hours are plain
  integer arithmetic; :class:`LocalClock` turns them into ISO 8601 strings with the
  correct local offset (+10:00 / +11:00) from ``zoneinfo``.
* Deterministic: every random draw comes from ``numpy.random.default_rng`` streams
  keyed by ``(seed, stream, week)``, so output does not depend on how many weeks are
  generated per chunk.
* Streaming: the episode skeleton (numeric arrays) is built up front; location
  reports are generated week by week by :meth:`SyntheticCity.iter_report_frames`, so
  10 M reports never sit in memory at once.

Package layout (one job per module; everything above is importable from ``analytics.synth``)
------------------------------------------------------------------------------------------
* ``params``: constants, scales, random streams;  ``clock``: local time and ISO weeks;
* ``geography``: study area, distances, places, placements and children;
* ``episodes``: missing episodes and found locations;  ``sites``: planted sites, the intervention;
* ``frames``: contract-shaped episodes, reports and disruptions;  ``rows``: ids, bad rows, dtypes;
* ``truth``: ground truth and calibration;  ``city``: :class:`SyntheticCity` and :func:`build_city`.
"""

from analytics.synth.params import (  # noqa: F401
    TIMEZONE, FIRST_MONDAY, RESOLUTION, MIN_WEEKS, MAX_WEEKS, SCALES, BASE_REPORTS, MIN_REPORTS, MAX_REPORTS,
    HOUR, DAY, WEEK, KM_PER_DEG_LAT, PLACEMENT_TYPES, RISK_LEVELS, SOURCES, REPORT_KINDS, DISRUPTION_KINDS,
    PLACE_CATEGORIES, GENDERS, GRADINGS, COLUMNS, BOUNDARY_LONLAT, CENTRES, PLACE_PLAN, EMERGING_ONSET_RATE,
    HOURS_RESIDENTIAL, HOURS_OTHER_CARE, HOURS_VENUE, DOW_ACCEPT, DOW_VENUE, FOUND_MIX, AWAY_KM_Q, AWAY_KM_X,
    SITE_KINDS, SIGHTING_SOURCES, FOUND_SOURCES, VENUE_KINDS, VENUE_SOURCES, GRADING_P, BAD_EPISODES,
    BAD_REPORTS, BAD_DISRUPTIONS, DUPLICATE_REPORTS, BAD_SOURCE_WINDOW, S_PLACES, S_PLACEMENTS, S_CHILDREN,
    S_EPISODES, S_PLANT, S_WEEK, S_DISRUPT, S_BAD, resolve_scale,
)
from analytics.synth.clock import (  # noqa: F401
    week_label, LocalClock,
)
from analytics.synth.geography import (  # noqa: F401
    boundary_polygon, distance_km, build_places, build_placements_and_children,
)
from analytics.synth.rows import (  # noqa: F401
    _ids, _largest_remainder,
)
from analytics.synth.sites import (  # noqa: F401
    Site, Intervention,
)
from analytics.synth.city import (  # noqa: F401
    SyntheticCity, build_city,
)
