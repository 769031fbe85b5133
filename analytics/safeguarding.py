"""Keep care homes out of shared outputs: the two safeguarding rules of issue 12 (pure logic).

A young person going missing from, and found at, their own placement again and again
makes that placement's cell look like a hot spot. It is a real pattern, but about that
young person — a safeguarding referral, not a patrol — and a patrol plan that points at
it tells everyone who reads it where a child in care lives. Two rules decide which cells
may enter a *shared* output (patrol plan, patrol map, report):

(a) **Repeat missing.** A cell whose signal is carried by one or two young people is
    never a place to patrol: its independent sources over the recent weeks (distinct
    young people named in its events plus events naming no one, the same count as
    :mod:`analytics.cluster_sources`) number 1 or 2 and at least one is a young person,
    or it lies in a scan cluster labelled ``repeat_missing`` and in no ``place`` cluster.
(b) **Near a placement.** A cell whose hexagon lies within ``radius_m`` (300 m) of a
    placement is allowed only when at least ``min_sources`` (3) of its independent
    sources are *not linked* to that placement. A young person is linked to a placement
    when any of their episodes names it; an event is linked when its young person is
    linked or its episode names the placement. An event naming no one counts as an
    unlinked source, except a ``found`` report or one from a ``care_provider``
    (:data:`HOME_ANONYMOUS`): near a home those are about a young person in care there,
    most likely a resident, so they are never evidence that the place draws others.
    The rule must hold for every placement within reach.

What fails a rule is *withheld*: it goes to the analyst-only ``withheld.csv`` as
"repeat missing from placement: a safeguarding referral, not a patrol" (or "signal
carried by one or two young people"), and the plan takes the next-best cells. Cells
near a placement that pass rule (b) are *approved*, with their evidence
(:class:`Approval`); the privacy scan accepts their geometry and nothing else near a home.

Distances are measured in a local equirectangular plane (metres) from the placement to
the cell's hexagon (0 inside it). Placements carry their own radius: a placement known
from the placements file uses ``radius_m``; a placement *derived* from episodes is
only known to a cell, so its radius adds that cell's circumradius (see
:func:`placement_radius`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import h3
import numpy as np
import pandas as pd

from analytics.cluster_sources import DEFAULT_MIN_SOURCES, PATTERN_PLACE, PATTERN_REPEAT_MISSING
from analytics.errors import InvalidInputError

__all__ = ["PLACEMENT_RADIUS_M", "MIN_UNLINKED_SOURCES", "DEFAULT_SOURCE_WEEKS", "HOME_ANONYMOUS", "RULE_REPEAT_MISSING",
           "RULE_NEAR_PLACEMENT", "WITHHELD_REASONS", "Approval", "SafeguardDecision", "placement_radius",
           "cell_circumradius_m", "cells_near_placements", "cell_sources", "unlinked_sources", "repeat_missing_cells",
           "assess_cells"]

#: Shared features within this distance (metres) of a placement need rule (b)'s evidence.
PLACEMENT_RADIUS_M = 300.0
#: Independent sources not linked to a nearby placement that a shared cell needs (rule b),
#: and the fewest sources that make a place signal (rule a): the scan's threshold.
MIN_UNLINKED_SOURCES = DEFAULT_MIN_SOURCES
#: Weeks of events (ending with the analysed week) whose sources are counted.
DEFAULT_SOURCE_WEEKS = 8
#: Report kinds / sources that, naming no one, are not independent of a nearby home (rule b).
HOME_ANONYMOUS = {"kind": ("found",), "source": ("care_provider",)}
RULE_REPEAT_MISSING = "repeat_missing"
RULE_NEAR_PLACEMENT = "repeat_missing_from_placement"
#: What the analyst reads for each withheld cell.
WITHHELD_REASONS = {
    RULE_NEAR_PLACEMENT: "repeat missing from placement: a safeguarding referral, not a patrol",
    RULE_REPEAT_MISSING: "signal carried by one or two young people (repeat missing): a safeguarding "
                         "referral, not a patrol",
}
_EARTH_M_PER_DEG = math.pi / 180 * 6_371_008.8


@dataclass(frozen=True)
class Approval:
    """Evidence that a cell near a placement may be shown: rule (b) held for every placement in reach.

    ``placements`` is how many placements lie within their radius of the cell and
    ``min_unlinked_sources`` the fewest sources not linked to any one of them.
    """

    cell: int
    placements: int
    min_unlinked_sources: int

    def is_sufficient(self, min_sources: int = MIN_UNLINKED_SOURCES) -> bool:
        """True when the evidence meets rule (b)."""
        return self.placements >= 1 and self.min_unlinked_sources >= min_sources


@dataclass(frozen=True)
class SafeguardDecision:
    """The rules' verdict on a set of cells.

    ``cells`` is one row per assessed cell: ``cell`` (uint64), ``sources``,
    ``young_people``, ``unnamed_events``, ``near_placements`` (placements in reach),
    ``min_unlinked_sources`` (over those placements; NA when none), ``rule`` (None when
    allowed, else :data:`RULE_NEAR_PLACEMENT` or :data:`RULE_REPEAT_MISSING`) and
    ``withheld`` (bool). ``approvals`` holds the allowed cells near a placement.
    """

    cells: pd.DataFrame
    approvals: tuple[Approval, ...]

    @property
    def withheld(self) -> set[int]:
        """Cells that may not enter a shared output."""
        return set(self.cells.loc[self.cells["withheld"], "cell"].astype(np.uint64).tolist())


# --------------------------------------------------------------------------- geometry
def cell_circumradius_m(cell: int) -> float:
    """Largest distance (metres) from a cell's centre to its vertices."""
    return _circumradius_m(int(cell))


@lru_cache(maxsize=1 << 18)
def _circumradius_m(cell: int) -> float:
    hx = h3.int_to_str(cell)
    lat, lon = h3.cell_to_latlng(hx)
    return max(h3.great_circle_distance((lat, lon), v, unit="m") for v in h3.cell_to_boundary(hx))


def placement_radius(source: str, cell: int | None = None, radius_m: float = PLACEMENT_RADIUS_M) -> float:
    """The radius (metres) that protects one placement.

    A placement known from the placements file is a point: ``radius_m``. A *derived*
    placement is a cell's centre standing for a home somewhere inside that cell, so a
    rule of ``radius_m`` around the centre must still cover ``radius_m`` around any point
    of the cell: the cell's circumradius is added.
    """
    if source == "derived":
        if cell is None:
            raise InvalidInputError("a derived placement needs its cell to set its radius.")
        return radius_m + cell_circumradius_m(cell)
    return radius_m


def _xy(lat: np.ndarray, lon: np.ndarray, lat0: float) -> np.ndarray:
    return np.column_stack([np.asarray(lon, float) * _EARTH_M_PER_DEG * math.cos(math.radians(lat0)),
                            np.asarray(lat, float) * _EARTH_M_PER_DEG])


def _point_polygon_distance(p: np.ndarray, ring: np.ndarray) -> float:
    """Distance from point ``p`` to a convex polygon ``ring`` (open ring, metres); 0 inside."""
    a, b = ring, np.roll(ring, -1, axis=0)
    ab = b - a
    t = np.clip(((p - a) * ab).sum(axis=1) / np.maximum((ab * ab).sum(axis=1), 1e-12), 0.0, 1.0)
    d = np.sqrt((((a + t[:, None] * ab) - p) ** 2).sum(axis=1)).min()
    cross = ab[:, 0] * (p[1] - a[:, 1]) - ab[:, 1] * (p[0] - a[:, 0])
    inside = (cross >= 0).all() or (cross <= 0).all()
    return 0.0 if inside else float(d)


#: (cell, placement) pairs measured at once by :func:`cells_near_placements` (bounds its memory).
_PAIR_CHUNK = 100_000


def _padded_rings(cells: np.ndarray, lat0: float) -> np.ndarray:
    """Each cell's hexagon (open ring, metres) as one (cells, vertices, 2) array.

    Shorter rings (pentagons, or hexagons with fewer vertices than the longest) repeat their
    last vertex: a zero-length edge changes neither the distance nor the inside test.
    """
    rings = [np.array(h3.cell_to_boundary(h3.int_to_str(int(c)))) for c in cells]
    n = max(len(r) for r in rings)
    out = np.empty((len(rings), n, 2))
    for k, ring in enumerate(rings):
        xy = _xy(ring[:, 0], ring[:, 1], lat0)
        out[k, :len(xy)] = xy
        out[k, len(xy):] = xy[-1]
    return out


def _point_polygon_distances(p: np.ndarray, rings: np.ndarray) -> np.ndarray:
    """:func:`_point_polygon_distance` for many (point, ring) pairs at once: ``p`` (n, 2), ``rings`` (n, v, 2)."""
    a, b = rings, np.roll(rings, -1, axis=1)
    ab = b - a
    pa = p[:, None, :] - a
    t = np.clip((pa * ab).sum(axis=2) / np.maximum((ab * ab).sum(axis=2), 1e-12), 0.0, 1.0)
    d = np.sqrt((((a + t[:, :, None] * ab) - p[:, None, :]) ** 2).sum(axis=2)).min(axis=1)
    cross = ab[:, :, 0] * (p[:, None, 1] - a[:, :, 1]) - ab[:, :, 1] * (p[:, None, 0] - a[:, :, 0])
    inside = (cross >= 0).all(axis=1) | (cross <= 0).all(axis=1)
    return np.where(inside, 0.0, d)


def cells_near_placements(cells, placements: pd.DataFrame) -> pd.DataFrame:
    """Pairs (cell, placement) where the cell's hexagon lies within the placement's radius.

    Parameters
    ----------
    cells : array_like of uint64
    placements : DataFrame
        ``placement_key``, ``lat``, ``lon`` and ``radius_m`` (metres).

    Returns
    -------
    DataFrame
        ``cell`` (uint64), ``placement_key``, ``distance_m`` (0 when the placement is
        inside the hexagon).
    """
    cells = np.unique(np.asarray(cells, dtype=np.uint64))
    empty = pd.DataFrame({"cell": np.array([], np.uint64), "placement_key": np.array([], object),
                          "distance_m": np.array([], float)})
    pl = placements.dropna(subset=["lat", "lon"]) if placements is not None else None
    if pl is None or pl.empty or cells.size == 0:
        return empty
    from scipy.spatial import cKDTree
    lat0 = float(np.median(pl["lat"].to_numpy(float)))
    pxy = _xy(pl["lat"].to_numpy(float), pl["lon"].to_numpy(float), lat0)
    radius = pl["radius_m"].to_numpy(float)
    keys = pl["placement_key"].to_numpy(dtype=object)
    centres = np.array([h3.cell_to_latlng(h3.int_to_str(int(c))) for c in cells])
    cxy = _xy(centres[:, 0], centres[:, 1], lat0)
    circ = np.array([cell_circumradius_m(c) for c in cells])
    tree = cKDTree(pxy)
    reach = tree.query_ball_point(cxy, radius.max() + circ + 1.0)  # one vectorised query for every cell
    sizes = np.fromiter((len(r) for r in reach), dtype=np.int64, count=len(reach))
    if not sizes.any():
        return empty
    # every (cell, placement) pair in reach, cell by cell in the order the query gave them
    hit = np.flatnonzero(sizes)
    pair_cell = np.repeat(hit, sizes[hit])
    pair_pl = np.fromiter((j for i in hit for j in reach[i]), dtype=np.int64, count=int(sizes.sum()))
    rings = _padded_rings(cells[hit], lat0)
    ring_of = np.repeat(np.arange(len(hit)), sizes[hit])
    dist = np.empty(len(pair_cell))
    for lo in range(0, len(pair_cell), _PAIR_CHUNK):
        sl = slice(lo, lo + _PAIR_CHUNK)
        dist[sl] = _point_polygon_distances(pxy[pair_pl[sl]], rings[ring_of[sl]])
    keep = dist <= radius[pair_pl]
    if not keep.any():
        return empty
    return pd.DataFrame({"cell": cells[pair_cell[keep]].astype(np.uint64), "placement_key": keys[pair_pl[keep]],
                         "distance_m": dist[keep]})


# --------------------------------------------------------------------------- sources
def _check_events(events: pd.DataFrame) -> pd.DataFrame:
    missing = {"cell", "person_key"} - set(events.columns)
    if missing:
        raise InvalidInputError(f"events lacks column(s) {', '.join(sorted(missing))}.")
    ev = events.copy()
    if "placement_key" not in ev.columns:
        ev["placement_key"] = None
    ev["cell"] = ev["cell"].astype(np.uint64)
    return ev


def cell_sources(events: pd.DataFrame, cells) -> pd.DataFrame:
    """Independent sources of each cell: ``young_people`` (distinct, named), ``unnamed_events``, ``sources``.

    ``events``: one row per event of the counted weeks with ``cell`` and ``person_key``
    (None/NaN when the event names no one).
    """
    ev = _check_events(events)
    cells = np.asarray(cells, dtype=np.uint64)
    ev = ev[ev["cell"].isin(cells)]
    named = ev["person_key"].notna()
    people = ev[named].groupby("cell")["person_key"].nunique()
    unnamed = ev[~named].groupby("cell").size()
    out = pd.DataFrame({"cell": cells})
    out["young_people"] = people.reindex(cells, fill_value=0).to_numpy(np.int64)
    out["unnamed_events"] = unnamed.reindex(cells, fill_value=0).to_numpy(np.int64)
    out["sources"] = out["young_people"] + out["unnamed_events"]
    return out


def repeat_missing_cells(scan_clusters: pd.DataFrame | None) -> set[int]:
    """Cells in a scan cluster labelled ``repeat_missing`` and in no ``place`` cluster."""
    if scan_clusters is None or len(scan_clusters) == 0 or "pattern" not in scan_clusters.columns:
        return set()
    cells: dict[str, set[int]] = {PATTERN_PLACE: set(), PATTERN_REPEAT_MISSING: set()}
    for pattern, members in zip(scan_clusters["pattern"], scan_clusters["cells"]):
        if pattern in cells:
            cells[pattern].update(int(c) for c in members)
    return cells[PATTERN_REPEAT_MISSING] - cells[PATTERN_PLACE]


def _about_home(ev: pd.DataFrame) -> np.ndarray:
    """Events that, naming no one, are not independent of a nearby home (:data:`HOME_ANONYMOUS`)."""
    about_home = np.zeros(len(ev), dtype=bool)
    for col, values in HOME_ANONYMOUS.items():
        if col in ev.columns:
            about_home |= ev[col].isin(values).to_numpy()
    return about_home


def unlinked_sources(events: pd.DataFrame, near: pd.DataFrame, person_placements: pd.DataFrame) -> pd.DataFrame:
    """Rule (b)'s count for every (cell, placement) pair at once: sources among the cell's events not linked to it.

    An event naming no one is an unlinked source unless it is about a home (:data:`HOME_ANONYMOUS`);
    a young person named in the cell is one unless any of their episodes names the placement
    (``person_placements``) or one of their events in the cell names it. Joins, not a loop over pairs.

    Parameters
    ----------
    events : DataFrame
        ``cell``, ``person_key`` (None when naming no one), ``placement_key``; optional ``kind``, ``source``.
    near : DataFrame
        ``cell``, ``placement_key`` (:func:`cells_near_placements`).
    person_placements : DataFrame
        ``person_key``, ``placement_key``.

    Returns
    -------
    DataFrame
        One row per distinct pair of ``near``: ``cell`` (uint64), ``placement_key``, ``unlinked`` (int64).
    """
    ev = _check_events(events)
    pairs = near[["cell", "placement_key"]].drop_duplicates().astype({"cell": np.uint64, "placement_key": object})
    ev = ev[ev["cell"].isin(pairs["cell"].to_numpy(np.uint64))]
    named = ev["person_key"].notna().to_numpy()
    free = ev[~named & ~_about_home(ev)].groupby("cell").size()
    people = ev.loc[named, ["cell", "person_key"]].astype({"person_key": object}).drop_duplicates()
    n_people = people.groupby("cell").size()
    links = person_placements if person_placements is not None else pd.DataFrame(
        {"person_key": [], "placement_key": []})
    lk = links[["person_key", "placement_key"]].dropna().astype(object).drop_duplicates()
    # the cell's young people linked to the pair's placement: by an episode, or by an event here naming it
    by_episode = people.merge(lk, on="person_key")
    here = ev.loc[named, ["cell", "person_key", "placement_key"]].dropna().astype(
        {"person_key": object, "placement_key": object})
    linked = pd.concat([by_episode, here], ignore_index=True).drop_duplicates()
    linked = linked.merge(pairs, on=["cell", "placement_key"])
    per_pair = linked.groupby(["cell", "placement_key"]).size().rename("linked").reset_index()
    out = pairs.merge(per_pair, on=["cell", "placement_key"], how="left")
    c = out["cell"].to_numpy(np.uint64)
    out["unlinked"] = (free.reindex(c, fill_value=0).to_numpy(np.int64)
                       + n_people.reindex(c, fill_value=0).to_numpy(np.int64)
                       - out["linked"].fillna(0).to_numpy(np.int64))
    return out.drop(columns="linked").reset_index(drop=True)


# --------------------------------------------------------------------------- the rules
def assess_cells(cells, events: pd.DataFrame, placements: pd.DataFrame | None, person_placements: pd.DataFrame,
                 scan_clusters: pd.DataFrame | None = None,
                 min_sources: int = MIN_UNLINKED_SOURCES) -> SafeguardDecision:
    """Apply rules (a) and (b) to the cells that could enter a shared output.

    Parameters
    ----------
    cells : array_like of uint64
        Candidate cells (plan candidates, report top list, headline cells).
    events : DataFrame
        Events of the counted weeks (see :data:`DEFAULT_SOURCE_WEEKS`): ``cell``,
        ``person_key`` (None when naming no one), ``placement_key`` (the episode's
        placement, None when unknown); optional ``kind`` and ``source`` of reports
        (see :data:`HOME_ANONYMOUS`).
    placements : DataFrame or None
        ``placement_key``, ``lat``, ``lon``, ``radius_m`` (known and derived placements).
    person_placements : DataFrame
        ``person_key``, ``placement_key``: every placement named by any episode of
        each young person (all history): who is linked to which placement.
    scan_clusters : DataFrame, optional
        The scan's clusters with ``cells`` and ``pattern`` (rule a's label).
    min_sources : int
        Sources that make a place signal (a) and unlinked sources a cell near a
        placement needs (b); default 3.

    Returns
    -------
    SafeguardDecision

    Examples
    --------
    One young person found three times at their own home's cell, 10 m from the home:

    >>> cell = int(h3.str_to_int(h3.latlng_to_cell(-33.8, 151.0, 9)))
    >>> ev = pd.DataFrame({"cell": [cell] * 3, "person_key": ["p1"] * 3, "placement_key": ["h1"] * 3})
    >>> pl = pd.DataFrame({"placement_key": ["h1"], "lat": [-33.8001], "lon": [151.0], "radius_m": [300.0]})
    >>> links = pd.DataFrame({"person_key": ["p1"], "placement_key": ["h1"]})
    >>> assess_cells([cell], ev, pl, links).cells[["rule", "withheld"]].values.tolist()
    [['repeat_missing_from_placement', True]]
    """
    if isinstance(min_sources, bool) or not isinstance(min_sources, (int, np.integer)) or min_sources < 1:
        raise InvalidInputError(f"min_sources must be an integer >= 1; received {min_sources!r}.")
    cells = np.unique(np.asarray(cells, dtype=np.uint64))
    ev = _check_events(events)
    ev = ev[ev["cell"].isin(cells)]
    out = cell_sources(ev, cells)
    near = cells_near_placements(cells, placements)
    links = person_placements.dropna(subset=["person_key", "placement_key"]) if person_placements is not None \
        else pd.DataFrame({"person_key": [], "placement_key": []})
    n_near = near.groupby("cell").size()
    low = (unlinked_sources(ev, near, links).groupby("cell")["unlinked"].min() if len(near)
           else pd.Series([], dtype=np.int64))
    out["near_placements"] = n_near.reindex(cells, fill_value=0).to_numpy(np.int64)
    out["min_unlinked_sources"] = pd.array(low.reindex(cells).to_numpy(dtype=np.float64), dtype="Int64")
    repeat_cells = repeat_missing_cells(scan_clusters)
    rule_a = (((out["sources"] < min_sources) & (out["young_people"] >= 1))
              | out["cell"].isin(np.array(sorted(repeat_cells), dtype=np.uint64))).to_numpy()
    rule_b = ((out["near_placements"] > 0) & (out["min_unlinked_sources"].fillna(0) < min_sources)).to_numpy(bool)
    out["rule"] = np.where(rule_b, RULE_NEAR_PLACEMENT, np.where(rule_a, RULE_REPEAT_MISSING, None))
    out["withheld"] = rule_a | rule_b
    approvals = tuple(Approval(int(r.cell), int(r.near_placements), int(r.min_unlinked_sources))
                      for r in out.itertuples() if r.near_placements > 0 and not r.withheld)
    return SafeguardDecision(out.reset_index(drop=True), approvals)
