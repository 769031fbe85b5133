"""Scan a week's output folder for privacy leaks (DESIGN.md "Privacy rules", tested not promised).

Which files are scanned for what
--------------------------------
*Shared* files go to commanders, partner agencies and researchers:
``report.html``, ``patrol_map.html``, ``patrol_plan.csv``, ``patrol_plan.geojson``, ``patrol_plan.gpkg``
— and, to be safe, any other ``.html``/``.csv``/``.geojson``/``.json``/``.parquet``/``.gpkg`` file in the folder
that is not
on the analyst-only list. They get every check:

1. **person references** — keyed pseudonyms (``pk_`` + hex), synthetic ids of young people,
   episodes, placements and reports (``SYN-P…``, ``SYN-E…``, ``SYN-H…``, ``SYN-R…``), and every
   string in ``forbidden_strings`` (the store's pseudonyms and record ids);
2. **placement locations** — any coordinate (a point, a polygon's vertex or its centroid) within
   300 m (``PLACEMENT_RADIUS_M``; a derived placement's own, wider radius) of a care placement, and any
   H3 cell named in the file (hex id) whose hexagon lies that close — unless the cell was approved by
   the safeguarding rule (b) and its evidence is passed in (``approved``): then its centre and
   vertices, and only they, may appear;
3. **raw event coordinates** — any lat/lon pair with 5 or more decimals equal (to 5 dp, ~1 m) to
   an event's location;
4. **small counts of young people** — an explicit young-people count (a field or column named
   like ``young_people``/``n_young_people``/``children``, a report cell of class ``yp``, or text
   such as "young people: 3" / "3 young people") between 1 and k − 1 not shown as "<k".

*Analyst-only* files (``analyst_map.html``, ``hotspots.*``, ``clusters.geojson``,
``scan_clusters.geojson``, ``convergence.parquet``, ``cube.parquet``, ``run.json``, ``withheld.csv`` —
the cells the safeguarding rules kept out of the shared files) may hold exact counts and cluster hulls
drawn around events; they get check 1 only.

A cell's centre near a home reveals the home as well as the home's own coordinates do (a
hexagon whose centre is 250 m from a home points at it), so being an H3 grid point exempts
nothing from check 2: only the centres and vertices of *approved* cells
(:class:`analytics.safeguarding.Approval` with sufficient evidence) are accepted near a placement.
For check 3, H3 grid points (a cell's centre or a vertex at resolutions 5–11, given to at least
5 decimals) are not event locations: they are computed from the grid. Only coordinates inside the
area of the reference points (placements and events, plus about 5 km) are considered, so numbers in
inlined JavaScript are not mistaken for places.

The checks live in :mod:`pipelines.privacy_scan.readers` (each format's text, coordinates and
fields), :mod:`pipelines.privacy_scan.references` (check 1), :mod:`pipelines.privacy_scan.rules`
(checks 2-4) and :mod:`pipelines.privacy_scan.findings`; this module walks the folder
(:func:`scan_outputs`) and reads the store's references. Every name is importable from here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from analytics.privacy import DEFAULT_K
from analytics.safeguarding import PLACEMENT_RADIUS_M
from pipelines.privacy_scan.findings import Finding
from pipelines.privacy_scan.readers import _read_contents
from pipelines.privacy_scan.references import (StoreForbidden, _candidate_tokens, _Forbidden, _person_refs,  # noqa: F401
                                               forget_rendered, rendered_text)
from pipelines.privacy_scan.rules import (_cell_findings, _coordinate_findings, _Reference, _small_count_findings,
                                          approved_cells)

__all__ = ["Finding", "scan_outputs", "store_forbidden", "store_forbidden_strings", "store_raw_points", "SHARED_FILES",
           "ANALYST_ONLY_FILES", "PLACEMENT_RADIUS_M", "approved_cells"]

SHARED_FILES = ("report.html", "patrol_map.html", "patrol_plan.csv", "patrol_plan.geojson", "patrol_plan.gpkg")
ANALYST_ONLY_FILES = ("analyst_map.html", "hotspots.parquet", "hotspots.geojson", "hotspots.gpkg", "clusters.geojson",
                      "scan_clusters.geojson", "convergence.parquet", "cube.parquet", "run.json",
                      "report_analyst_detail.html", "withheld.csv", "area_hotspots.parquet", "area_hotspots.geojson")
SCANNED_SUFFIXES = (".html", ".htm", ".csv", ".geojson", ".json", ".parquet", ".gpkg")


def scan_outputs(folder: Path, placements: pd.DataFrame | None, forbidden_strings: Iterable[str],
                 raw_points: pd.DataFrame | None, k: int = DEFAULT_K,
                 approved: Iterable | None = None) -> list[Finding]:
    """Scan every HTML, CSV, GeoJSON, JSON and Parquet file in ``folder``; return the leaks found.

    Parameters
    ----------
    folder : Path
        A week's output folder.
    placements : DataFrame with ``lat``, ``lon``, optional ``radius_m`` and ``placement_key``, optional
        Care placements, known and derived (:func:`pipelines.placements.known_and_derived_placements`);
        ``radius_m`` defaults to :data:`PLACEMENT_RADIUS_M` (300 m).
    forbidden_strings : iterable of str, or StoreForbidden
        Person pseudonyms, episode/report ids and any other string that must not appear;
        :func:`store_forbidden` looks the store's up in the store instead of in memory.
    raw_points : DataFrame with ``lat``, ``lon``, optional
        Every raw event location (episodes' last-seen and found locations, reports).
    k : int
        Suppression threshold: explicit counts of young people 1..k-1 are leaks.
    approved : iterable of :class:`analytics.safeguarding.Approval`, optional
        Cells near a placement that the safeguarding rule (b) allowed, with their evidence;
        only their centres and vertices (and hex ids) may appear near a placement.
    """
    folder = Path(folder)
    forbidden = (forbidden_strings if isinstance(forbidden_strings, StoreForbidden)
                 else _Forbidden.build(forbidden_strings))
    ref = _Reference(placements, raw_points, approved)
    paths = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in SCANNED_SUFFIXES)
    read = [(p, p.name not in ANALYST_ONLY_FILES) for p in paths]  # the analyst/ subfolder too (by name)
    read = [(p, shared, _read_contents(p, full=shared)) for p, shared in read]
    try:
        tokens = [forbidden.tokenise(contents.text) for _, _, contents in read]
        bad = forbidden.found(set().union(*tokens))   # one lookup for every file's tokens
        findings: list[Finding] = []
        for (path, shared, contents), toks in zip(read, tokens):
            findings += _person_refs(path.name, contents.text, toks & bad, forbidden.multi)
            if not shared:
                continue
            findings += _coordinate_findings(path.name, contents, ref)
            findings += _cell_findings(path.name, contents.text, ref)
            findings += _small_count_findings(path.name, contents, k)
    finally:
        forget_rendered()  # each file was rendered once (tokens, then references)
    return findings


def store_forbidden(store, extra: Iterable[str] = ()) -> StoreForbidden:
    """The store's pseudonyms and record ids (plus ``extra`` strings) for :func:`scan_outputs`, kept in the store."""
    return StoreForbidden(store.con, extra)


def store_forbidden_strings(store) -> set[str]:
    """Every pseudonym and record id held by the store (must never reach an output file)."""
    got = store.con.execute(
        "select s from (select person_key as s from episodes union select placement_key from episodes "
        "union select episode_id from episodes union select person_key from location_reports "
        "union select report_id from location_reports) where s is not null and s <> ''").fetchnumpy()
    return set(got["s"].tolist())


def store_raw_points(store) -> pd.DataFrame:
    """Every raw event location in the store (episodes' last-seen and found points, reports)."""
    got = store.con.execute(
        "select last_seen_lat as lat, last_seen_lon as lon from episodes where last_seen_lat is not null "
        "union all select found_lat, found_lon from episodes where found_lat is not null "
        "union all select lat, lon from location_reports").fetchnumpy()
    return pd.DataFrame({k: np.asarray(v, dtype=np.float64) for k, v in got.items()})
