"""The input kinds ingest takes: their CLI names and how each is stored (:data:`SPECS`)."""

from __future__ import annotations

from dataclasses import dataclass

from analytics import contracts
from analytics.contracts import InputContract
from analytics.errors import InvalidInputError

#: CLI names of the input kinds -> contract kind.
KIND_ALIASES = {
    "episodes": "episodes", "reports": "reports", "location_reports": "reports",
    "places": "places", "disruptions": "disruptions", "boundary": "boundary", "placements": "placements",
    "areas": "areas",
}


@dataclass(frozen=True)
class KindSpec:
    """How one input kind is stored: target table, staging SQL and H3 columns."""

    contract: InputContract
    table: str
    enum_params: tuple[str, ...]
    cells: tuple[tuple[str, str, str], ...]  # (lat column, lon column, cell column)
    study_area_rejects: bool                  # points outside the study area are quarantined


SPECS: dict[str, KindSpec] = {
    "episodes": KindSpec(contracts.EPISODES, "episodes", ("placement_types", "risk_levels", "genders", "gender_aliases",
                                                          "gender_alias_values", "gender_recoded_to",
                                                          "not_stated_aliases"),
                         (("last_seen_lat", "last_seen_lon", "last_seen_cell"),
                          ("found_lat", "found_lon", "found_cell")), False),
    "reports": KindSpec(contracts.REPORTS, "location_reports", ("report_sources", "report_kinds"),
                        (("lat", "lon", "cell"),), True),
    "places": KindSpec(contracts.PLACES, "places", ("place_categories",),
                       (("lat", "lon", "cell"),), False),
    "disruptions": KindSpec(contracts.DISRUPTIONS, "disruptions", ("disruption_kinds",),
                            (("lat", "lon", "cell"),), False),
    "placements": KindSpec(contracts.PLACEMENTS, "placements", ("placement_types",),
                           (("lat", "lon", "cell"),), False),
}


def resolve_kind(kind: str) -> str:
    """Normalise a CLI kind name, or raise a clear error listing the allowed ones."""
    key = kind.strip().lower()
    if key not in KIND_ALIASES:
        raise InvalidInputError(
            f"Unknown input kind {kind!r}; use one of: episodes, reports, places, disruptions, boundary, placements, areas."
        )
    return KIND_ALIASES[key]
