"""The input contracts: column names, required columns and allowed values per input kind.

One place for the contract of DESIGN.md "Inputs"; ingest passes the enum lists to the
staging SQL as parameters, so SQL and Python can never disagree.
"""

from __future__ import annotations

import re
import unicodedata
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

# Equity fields (issue 12 item 4): closed vocabularies, so no free text from them can reach a
# shared output. Values are normalised like enums (trim, lower-case, spaces/hyphens -> "_")
# before they are looked up; anything else is RECODED (to "other" for gender, to not stated for
# a flag), counted per column in the batch result ("recoded": {"gender": 3}) and never shown.
#: gender as stored (an empty gender stays empty: "not recorded").
GENDERS = ("female", "male", "non_binary", "other", "not_stated")
#: The value every equity field uses for "the person chose not to say / was not asked".
NOT_STATED = "not_stated"
#: Spellings read as not stated (after normalisation), for gender and the flags alike; not recoded.
NOT_STATED_ALIASES = ("not_stated", "unknown", "prefer_not_to_say", "declined", "not_specified", "unspecified")
#: Common codings of gender read as a vocabulary value (after normalisation); not recoded.
GENDER_ALIASES = {
    "f": "female", "girl": "female", "woman": "female",
    "m": "male", "boy": "male", "man": "male",
    "nonbinary": "non_binary", "non_binary_gender": "non_binary",
    **{a: NOT_STATED for a in NOT_STATED_ALIASES if a != NOT_STATED},
}
#: Gender given but not in GENDERS or GENDER_ALIASES is stored as this.
GENDER_RECODED_TO = "other"
#: Equity flags: true / false (the usual boolean spellings, see staging's parse_bool) or not stated,
#: stored as a boolean that is null when not stated. Empty, a NOT_STATED_ALIASES spelling and
#: anything else are stored as not stated; only "anything else" is counted as recoded.
EQUITY_FLAG_COLUMNS = ("disability", "first_nations", "cald", "lgbtqia")
#: Ingest limits (documented in README "What it refuses and why").
#: A field longer than this is rejected as ``field_too_long:<col>`` (places' geometry_wkt is exempt).
MAX_FIELD_CHARS = 1000
#: A CSV line longer than this (bytes) makes the file unreadable: refused whole.
MAX_LINE_BYTES = 16 * 1024 * 1024
#: A header with more columns than this is refused before anything else is read (issue 12 item 10:
#: millions of columns took gigabytes); the contracts need at most a few dozen.
MAX_COLUMNS = 1000
#: A CSV header line longer than this (bytes) is refused; only this much of a file is read to find it.
MAX_HEADER_BYTES = 1024 * 1024
#: A Parquet footer (its schema and metadata) longer than this (bytes) is refused before it is parsed.
MAX_PARQUET_FOOTER_BYTES = 64 * 1024 * 1024
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
    "reports": ("observed_at", "reported_at"),
    "disruptions": ("start", "end"),
}

#: Column names that identify a person (issue 12 item 11). A file carrying any of them is refused
#: unless the user asks for them to be dropped (they are then never read into the store). A header
#: is matched by ``identifying_key``: Unicode-normalised (NFKC), lower-cased, a possessive "'s"
#: removed and every character that is not a letter or digit removed, so ``E-Mail``, ``D.O.B``,
#: ``Child's Name``, ``Medicare_No`` and ``Phone No.`` all match. Postcode counts as identifying:
#: a child's home postcode with age and gender can single out a placement. Names that merely
#: contain one of these (``notes_count``, ``place_name``, ``ip_address``) are not matched.
IDENTIFYING_COLUMNS = frozenset({
    # names
    "name", "names", "first_name", "given_name", "given_names", "middle_name", "middle_names", "last_name",
    "surname", "family_name", "full_name", "child_name", "childs_name", "person_name", "preferred_name",
    "known_as", "alias", "aka", "maiden_name", "young_person_name", "yp_name", "client_name", "carer_name",
    "parent_name", "mother_name", "father_name", "guardian_name",
    # date of birth
    "dob", "date_of_birth", "birth_date", "birthday",
    # address and home location
    "address", "home_address", "street_address", "street", "residential_address", "postal_address",
    "address_line_1", "address_line_2", "address_1", "address_2", "house_number", "street_number", "unit_number",
    "postcode", "post_code", "zip", "zip_code",
    "home_lat", "home_lon", "home_lng", "home_latitude", "home_longitude", "home_location",
    "home_coordinates", "residence_lat", "residence_lon", "address_lat", "address_lon",
    # phone and email
    "phone", "phone_number", "phone_no", "mobile", "mobile_number", "mobile_no", "mobile_phone",
    "telephone", "telephone_number", "tel", "home_phone", "contact_number", "email", "email_address",
    # government and health identifiers
    "medicare", "medicare_no", "medicare_number", "medicare_card", "tfn", "tax_file_number", "crn",
    "centrelink_crn", "licence_number", "license_number", "drivers_licence", "drivers_license",
    "passport", "passport_number", "ssn", "social_security_number", "nhs_number",
    # free text
    "notes", "note", "case_notes", "case_note", "comments", "comment", "narrative", "free_text",
    "description", "remarks", "details",
})


#: Beyond the exact names above, a header is identifying when one of its words (split at
#: punctuation, spaces and camelCase) is one of these ...
IDENTIFYING_WORDS = frozenset({
    "dob", "email", "surname", "surnames", "firstname", "lastname", "forename", "forenames", "givenname",
    "givennames", "fullname", "middlename", "medicare", "phone", "telephone", "mobile", "postcode",
    "passport", "birthdate", "birthday",
})
#: ... or when it holds a word for a person together with ``name``/``names``/``address``
#: (``Name of child``, ``Parent/Guardian Name``, ``Client Address``; ``place_name``,
#: ``street_name`` and ``address_verified`` are not) ...
PERSON_WORDS = frozenset({
    "child", "children", "person", "young", "yp", "client", "carer", "parent", "mother", "father", "guardian",
    "first", "last", "given", "family", "full", "middle", "preferred", "maiden", "youth", "kid", "resident",
    "student", "victim", "contact", "worker", "caseworker", "sibling",
})
#: ... or a word for where someone lives together with a word for a location (``home_lat``,
#: ``Residence Longitude``, ``placement_coords``; ``placement_type`` is not) ...
HOME_WORDS = frozenset({"home", "residence", "residential", "house", "dwelling", "placement", "carer"})
LOCATION_WORDS = frozenset({
    "lat", "lon", "lng", "long", "latitude", "longitude", "location", "coordinates", "coords", "coord", "geo",
    "xy", "postcode", "address", "street", "gps",
})
#: ... or its letters and digits contain one of these (``ChildDateOfBirth``, ``Contact Phone Number``).
IDENTIFYING_FRAGMENTS = ("dateofbirth", "birthdate", "emailaddress", "phonenumber", "mobilenumber",
                         "streetaddress", "homeaddress", "postaladdress", "residentialaddress")


def _identifying_text(name: str) -> str:
    text = unicodedata.normalize("NFKC", str(name))
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", text)  # camelCase -> camel Case
    text = text.lower().replace("\u2019", "'").replace("`", "'")
    return re.sub(r"'s\b", "", text)


def identifying_key(name: str) -> str:
    """A column name reduced for matching against IDENTIFYING_COLUMNS: NFKC, lower-case, a
    possessive "'s" removed, only letters and digits kept (``"Child's Name"`` -> ``childname``).

    >>> identifying_key("Child's Name"), identifying_key("D.O.B"), identifying_key("E-Mail")
    ('childname', 'dob', 'email')
    """
    return "".join(ch for ch in _identifying_text(name) if ch.isalnum())


_IDENTIFYING_KEYS = frozenset(identifying_key(n) for n in IDENTIFYING_COLUMNS)


def is_identifying_column(name: str) -> bool:
    """True when a header names a column that identifies a person: its ``identifying_key`` is one
    of IDENTIFYING_COLUMNS, or a word of it is in IDENTIFYING_WORDS, or it pairs ``name`` with a
    PERSON_WORDS word or a HOME_WORDS word with a LOCATION_WORDS word, or its key contains one of
    IDENTIFYING_FRAGMENTS. Names that merely contain a listed name (``notes_count``,
    ``place_name``, ``address_verified``) are not identifying; a word of IDENTIFYING_WORDS is
    enough (``email_verified`` is refused: drop it or rename it).

    >>> [is_identifying_column(c) for c in ("Phone No.", "carer_name", "place_name", "notes_count")]
    [True, True, False, False]
    """
    key = identifying_key(name)
    if key in _IDENTIFYING_KEYS or any(f in key for f in IDENTIFYING_FRAGMENTS):
        return True
    words = set(re.findall(r"[^\W_]+", _identifying_text(name)))
    return bool(words & IDENTIFYING_WORDS
                or ({"name", "names", "address"} & words and words & PERSON_WORDS)
                or (words & HOME_WORDS and words & LOCATION_WORDS))


@dataclass(frozen=True)
class InputContract:
    """Columns of one input kind: all of them, the required ones, and the id column."""

    kind: str
    id_column: str | None
    columns: tuple[str, ...]
    required: tuple[str, ...]
    pseudonymised: tuple[str, ...] = field(default_factory=tuple)
    #: identifier columns: NFKC-normalised with zero-width characters removed (privacy.normalise_ref)
    #: before anything else, and rejected as ``bad_id:<col>`` when they hold a control character
    identifiers: tuple[str, ...] = field(default_factory=tuple)


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
    identifiers=("episode_id", "person_ref", "placement_ref"),
)
REPORTS = InputContract(
    kind="reports",
    id_column="report_id",
    columns=(
        "report_id", "observed_at", "lat", "lon", "source", "kind", "episode_id",
        "person_ref", "grading", "reported_at",
    ),
    required=("report_id", "observed_at", "lat", "lon"),
    pseudonymised=("person_ref",),
    identifiers=("report_id", "episode_id", "person_ref"),
)
PLACES = InputContract(
    kind="places",
    id_column="place_id",
    columns=("place_id", "name", "category", "lat", "lon", "geometry_wkt"),
    required=("place_id", "name", "category"),
    identifiers=("place_id",),
)
DISRUPTIONS = InputContract(
    kind="disruptions",
    id_column="activity_id",
    columns=("activity_id", "kind", "start", "end", "lat", "lon", "h3_cell", "place_id"),
    required=("activity_id", "kind", "start"),
    identifiers=("activity_id", "place_id"),
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
    identifiers=("placement_ref",),
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
    "genders": GENDERS,
    "gender_aliases": tuple(GENDER_ALIASES),
    "gender_alias_values": tuple(GENDER_ALIASES.values()),
    "gender_recoded_to": (GENDER_RECODED_TO,),
    "not_stated_aliases": NOT_STATED_ALIASES,
}


def normalise_column_name(name: str) -> str:
    """Lower-case, trim, and turn spaces/hyphens into underscores (``"Person Ref"`` -> ``person_ref``).

    >>> normalise_column_name(" Person Ref "), normalise_column_name("Last-Seen  Lat")
    ('person_ref', 'last_seen_lat')
    """
    return "_".join(str(name).replace("\ufeff", "").strip().lower().replace("-", " ").split())
