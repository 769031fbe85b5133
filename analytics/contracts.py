"""The input contracts: column names, required columns and allowed values per input kind.

One place for the contract of DESIGN.md "Inputs"; ingest passes the enum lists to the
staging SQL as parameters, so SQL and Python can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

PLACEMENT_TYPES = ("residential", "foster", "kinship", "other")
RISK_LEVELS = ("no_apparent_risk", "low", "medium", "high")
REPORT_SOURCES = (
    "police", "child_protection", "care_provider", "education",
    "health", "youth_service", "community", "return_interview",
)
REPORT_KINDS = (
    "sighting", "found", "rhi_disclosure", "adult_of_concern",
    "vehicle_of_concern", "premises_of_concern", "other",
)
PLACE_CATEGORIES = (
    "shopping_centre", "train_station", "bus_interchange", "fast_food",
    "park", "hotel", "licensed_premises", "other",
)
DISRUPTION_KINDS = (
    "presence_patrol", "warning_notice", "premises_visit", "outreach", "licensing_check", "other",
)
#: Ingest limits (documented in README "What it refuses and why").
#: A field longer than this is rejected as ``field_too_long:<col>`` (places' geometry_wkt is exempt).
MAX_FIELD_CHARS = 1000
#: A CSV line longer than this (bytes) makes the file unreadable: refused whole.
MAX_LINE_BYTES = 16 * 1024 * 1024
#: An episode returned more than this many days after it began is an ``absurd_duration``.
MAX_EPISODE_DAYS = 365
#: Timestamps before this are ``implausible_timestamp`` (a mis-read date, e.g. 03/04/25 as year 3).
EARLIEST_TIMESTAMP = "1970-01-01T00:00:00+00:00"
#: How d/m/y-style dates (03/04/2025) are read: ``ymd`` = ISO 8601 / year-first only (d/m/y
#: dates are rejected as ``ambiguous_date``), ``dmy`` = day first, ``mdy`` = month first.
DATE_ORDERS = ("ymd", "dmy", "mdy")
#: Timestamp columns per input kind (a ``--date-format`` applies to these).
TIMESTAMP_COLUMNS: dict[str, tuple[str, ...]] = {
    "episodes": ("missing_from", "returned_at", "reported_at"),
    "reports": ("observed_at",),
    "disruptions": ("start", "end"),
}

#: Report sources whose volume rises when officers are present (feedback-loop risk).
DETECTION_DRIVEN_SOURCES = ("police",)

#: Column names that identify a person. A file carrying any of them is refused
#: unless the user asks for them to be dropped (they are then never read into the store).
IDENTIFYING_COLUMNS = frozenset({
    "name", "first_name", "firstname", "given_name", "last_name", "lastname", "surname",
    "family_name", "full_name", "fullname", "child_name", "person_name", "preferred_name",
    "dob", "date_of_birth", "birth_date", "birthdate",
    "address", "home_address", "street_address", "street", "residential_address",
    "phone", "phone_number", "mobile", "telephone", "tel",
    "email", "email_address",
    "notes", "note", "comments", "comment", "narrative", "free_text", "freetext", "description",
})


@dataclass(frozen=True)
class InputContract:
    """Columns of one input kind: all of them, the required ones, and the id column."""

    kind: str
    id_column: str | None
    columns: tuple[str, ...]
    required: tuple[str, ...]
    pseudonymised: tuple[str, ...] = field(default_factory=tuple)


EPISODES = InputContract(
    kind="episodes",
    id_column="episode_id",
    columns=(
        "episode_id", "person_ref", "missing_from", "returned_at", "reported_at",
        "placement_ref", "placement_type", "last_seen_lat", "last_seen_lon", "found_lat",
        "found_lon", "risk_level", "cse_concern", "rhi_completed", "age_years", "gender",
        "disability", "first_nations", "cald", "lgbtqia",
    ),
    required=("episode_id", "person_ref", "missing_from"),
    pseudonymised=("person_ref", "placement_ref"),
)
REPORTS = InputContract(
    kind="reports",
    id_column="report_id",
    columns=(
        "report_id", "observed_at", "lat", "lon", "source", "kind", "episode_id",
        "person_ref", "grading",
    ),
    required=("report_id", "observed_at", "lat", "lon"),
    pseudonymised=("person_ref",),
)
PLACES = InputContract(
    kind="places",
    id_column="place_id",
    columns=("place_id", "name", "category", "lat", "lon", "geometry_wkt"),
    required=("place_id", "name", "category"),
)
DISRUPTIONS = InputContract(
    kind="disruptions",
    id_column="activity_id",
    columns=("activity_id", "kind", "start", "end", "lat", "lon", "h3_cell", "place_id"),
    required=("activity_id", "kind", "start"),
)
BOUNDARY = InputContract(
    kind="boundary", id_column=None, columns=("name", "geometry_wkt"), required=("geometry_wkt",)
)
#: Where young people live: optional, pseudonymised like episodes' placement_ref (same key, same
#: pseudonym, so the two join), never shown; used only to keep homes out of shared outputs.
#: Stored under ``placement_key`` (the pseudonym), which is therefore the id column.
PLACEMENTS = InputContract(
    kind="placements",
    id_column="placement_key",
    columns=("placement_ref", "lat", "lon", "placement_type"),
    required=("placement_ref", "lat", "lon"),
    pseudonymised=("placement_ref",),
)

CONTRACTS: dict[str, InputContract] = {
    c.kind: c for c in (EPISODES, REPORTS, PLACES, DISRUPTIONS, BOUNDARY, PLACEMENTS)
}

#: Enum lists passed to the staging SQL as parameters (name -> allowed values).
ENUM_PARAMS: dict[str, tuple[str, ...]] = {
    "placement_types": PLACEMENT_TYPES,
    "risk_levels": RISK_LEVELS,
    "report_sources": REPORT_SOURCES,
    "report_kinds": REPORT_KINDS,
    "place_categories": PLACE_CATEGORIES,
    "disruption_kinds": DISRUPTION_KINDS,
}


def normalise_column_name(name: str) -> str:
    """Lower-case, trim, and turn spaces/hyphens into underscores (``"Person Ref"`` -> ``person_ref``)."""
    return "_".join(str(name).replace("\ufeff", "").strip().lower().replace("-", " ").split())
