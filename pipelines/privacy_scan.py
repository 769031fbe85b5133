"""Scan a week's output folder for privacy leaks (DESIGN.md "Privacy rules", tested not promised).

Which files are scanned for what
--------------------------------
*Shared* files go to commanders, partner agencies and researchers:
``report.html``, ``patrol_map.html``, ``patrol_plan.csv``, ``patrol_plan.geojson`` — and, to be
safe, any other ``.html``/``.csv``/``.geojson``/``.json``/``.parquet`` file in the folder that is not
on the analyst-only list. They get every check:

1. **person references** — keyed pseudonyms (``pk_`` + hex), synthetic ids of young people,
   episodes, placements and reports (``SYN-P…``, ``SYN-E…``, ``SYN-H…``, ``SYN-R…``), and every
   string in ``forbidden_strings`` (the store's pseudonyms and record ids);
2. **placement coordinates** — any coordinate within 50 m of a care placement;
3. **raw event coordinates** — any lat/lon pair with 5 or more decimals equal (to 5 dp, ~1 m) to
   an event's location;
4. **small counts of young people** — an explicit young-people count (a field or column named
   like ``young_people``/``n_young_people``/``children``, a report cell of class ``yp``, or text
   such as "young people: 3" / "3 young people") between 1 and k − 1 not shown as "<k".

*Analyst-only* files (``analyst_map.html``, ``hotspots.*``, ``clusters.geojson``,
``scan_clusters.geojson``, ``convergence.parquet``, ``cube.parquet``, ``run.json``) may hold exact
counts and cluster hulls drawn around events; they get check 1 only.

Coordinates that are H3 grid points (a cell's centre or a vertex at resolutions 5–11, given to at
least 5 decimals) are not leaks: they are computed from the grid, not from anyone's location, and cells are what shared
outputs are meant to show. Only coordinates inside the area of the reference points (placements
and events, plus about 5 km) are considered, so numbers in inlined JavaScript are not mistaken
for places.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Iterator

import h3
import numpy as np
import pandas as pd

from analytics.privacy import DEFAULT_K

__all__ = ["Finding", "scan_outputs", "store_forbidden", "store_forbidden_strings", "store_raw_points", "SHARED_FILES",
           "ANALYST_ONLY_FILES", "PLACEMENT_RADIUS_M"]

SHARED_FILES = ("report.html", "patrol_map.html", "patrol_plan.csv", "patrol_plan.geojson")
ANALYST_ONLY_FILES = ("analyst_map.html", "hotspots.parquet", "hotspots.geojson", "clusters.geojson",
                      "scan_clusters.geojson", "convergence.parquet", "cube.parquet", "run.json",
                      "report_analyst_detail.html")
SCANNED_SUFFIXES = (".html", ".htm", ".csv", ".geojson", ".json", ".parquet")
PLACEMENT_RADIUS_M = 50.0
_GRID_RESOLUTIONS = range(5, 12)
_BBOX_MARGIN_DEG = 0.05

_PK_RE = re.compile(r"\bpk_[0-9a-f]{8,}\b")
_SYN_RE = re.compile(r"\bSYN-[EPHR]\d{3,}\b")
_TOKEN_RE = re.compile(r"[A-Za-z0-9_\-]+")
_WORD_TOKEN_RE = re.compile(r"(?<![A-Za-z0-9_\-])[A-Za-z_][A-Za-z0-9_\-]*")  # tokens starting with a letter
_NUM = r"(-?\d{1,3}\.\d+)"
_PAIR_RE = re.compile(_NUM + r"\s*,\s*" + _NUM)
_KEYED_LAT_RE = re.compile(r"\b(?:lat|latitude)[\"']?\s*[:=]\s*[\"']?" + _NUM + r"[\s\S]{0,120}?\b(?:lon|lng|longitude)"
                           r"[\"']?\s*[:=]\s*[\"']?" + _NUM, re.IGNORECASE)
_YP_LABEL = r"(?<![\w-])(?:young[ -]people|young[ -]persons?|children|n_young_people|young_people)(?![\w-])"
# Between the label and the number: spaces, punctuation and HTML tags; a line break only right after a tag
# (so a CSV row ending in "young people" is not read together with the next row's first number).
_YP_AFTER_RE = re.compile(_YP_LABEL + r"((?:[ \t,:=\"'()\-–—]|</?[a-zA-Z][^<>]*>\s*){0,12})(\d+)(?![\d.])",
                          re.IGNORECASE)
_YP_BEFORE_RE = re.compile(r"(?<![<\w.;&≥≤>=-])(\d+)\s+(?:distinct\s+)?(?:young\s+people|young\s+persons?|children)\b",
                           re.IGNORECASE)
_THRESHOLD_BEFORE_RE = re.compile(r"(?:at least|at most|more than|fewer than|less than|minimum|min\.?|over|under|"
                                  r"&ge;|&le;|≥|≤|>=|<=)\s*$", re.IGNORECASE)
_YP_CLASS_RE = re.compile(r"<t[dh][^>]*class=\"[^\"]*\byp\b[^\"]*\"[^>]*>\s*(\d+)\s*<", re.IGNORECASE)
_YP_COLUMN_RE = re.compile(r"^(?:n_)?(?:young_?people|young_?persons?|children|distinct_young_people)$", re.IGNORECASE)


@dataclass(frozen=True)
class Finding:
    """One leak: which file, what kind, where, and a masked description."""

    file: str
    kind: str  # person_ref | placement_coordinate | event_coordinate | small_count
    detail: str
    where: str = ""

    def as_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.file}: {self.kind} — {self.detail}" + (f" ({self.where})" if self.where else "")


def _mask(value: str) -> str:
    value = str(value)
    return value if len(value) <= 6 else f"{value[:6]}… ({len(value)} chars)"


# --------------------------------------------------------------------------- file contents
@dataclass
class _Contents:
    text: str
    coords: list[tuple[float, float, int, str]]  # lat, lon, decimals, where
    counts: list[tuple[str, float, str]]  # field name, value, where


def _decimals(s: str) -> int:
    return len(s.split(".", 1)[1]) if "." in s else 0


def _num_decimals(v) -> int:
    if isinstance(v, str):
        return _decimals(v.strip())
    r = repr(float(v))
    return 0 if "e" in r else _decimals(r)


def _text_coords(text: str) -> Iterator[tuple[float, float, int, str]]:
    for m in _PAIR_RE.finditer(text):
        a, b = m.group(1), m.group(2)
        d = min(_decimals(a), _decimals(b))
        x, y = float(a), float(b)
        where = f"offset {m.start()}"
        yield x, y, d, where  # as (lat, lon)
        yield y, x, d, where  # as (lon, lat): GeoJSON / Leaflet order both tried
    for m in _KEYED_LAT_RE.finditer(text):
        a, b = m.group(1), m.group(2)
        yield float(a), float(b), min(_decimals(a), _decimals(b)), f"offset {m.start()}"


def _walk_geojson(obj, where: str, coords: list, counts: list) -> None:
    if isinstance(obj, dict):
        geom = obj.get("coordinates")
        if obj.get("type") in ("Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon") \
                and geom is not None:
            for lon, lat in _flatten_positions(geom):
                coords.append((lat, lon, min(_num_decimals(lat), _num_decimals(lon)), where))
        props = obj.get("properties")
        if isinstance(props, dict):
            fid = obj.get("id", "")
            for key, v in props.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    counts.append((str(key), float(v), f"feature {fid}"))
            _row_coords(props, f"feature {fid} properties", coords)
        for key, v in obj.items():
            if key not in ("coordinates", "properties"):
                _walk_geojson(v, where, coords, counts)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            _walk_geojson(v, f"{where}[{i}]" if not where.startswith("feature") else where, coords, counts)


def _flatten_positions(geom) -> Iterator[tuple[float, float]]:
    if isinstance(geom, (list, tuple)) and len(geom) >= 2 and all(isinstance(v, (int, float)) for v in geom[:2]):
        yield float(geom[0]), float(geom[1])
    elif isinstance(geom, (list, tuple)):
        for g in geom:
            yield from _flatten_positions(g)


def _row_coords(row: dict, where: str, coords: list) -> None:
    """Every ordered pair of numeric values in one record, tried as (lat, lon)."""
    nums = []
    for v in row.values():
        if isinstance(v, bool) or v is None:
            continue
        if isinstance(v, (int, float, np.integer, np.floating)):
            if math.isfinite(float(v)):
                nums.append((float(v), _num_decimals(v)))
        elif isinstance(v, str):
            s = v.strip()
            if re.fullmatch(r"-?\d{1,3}\.\d+", s):
                nums.append((float(s), _decimals(s)))
    for i, (a, da) in enumerate(nums):
        for j, (b, db) in enumerate(nums):
            if i != j:
                coords.append((a, b, min(da, db), where))


def _read_contents(path: Path, full: bool) -> _Contents:
    """Text of a file (for references) and, when ``full``, its coordinates and numeric fields."""
    suffix = path.suffix.lower()
    coords: list = []
    counts: list = []
    if suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq
        schema = pq.read_schema(path)
        textual = [f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
                   or pa.types.is_dictionary(f.type) or str(f.type) == "string_view"]
        table = pq.read_table(path, columns=None if full else textual)
        texts = [" ".join(schema.names)]
        for name in table.column_names:
            col = table.column(name)
            if name in textual:
                texts.append("\n".join(str(v) for v in pc.unique(col.cast(pa.string())).to_pylist()))
        frame = table.to_pandas() if full else pd.DataFrame()
        binary = [c for c in frame.columns
                  if frame[c].dtype == object and frame[c].map(lambda v: isinstance(v, (bytes, bytearray))).any()]
        if full:
            import shapely
            for col in binary:
                for i, blob in enumerate(frame[col]):
                    try:
                        geom = shapely.from_wkb(blob)
                    except Exception:  # not a geometry
                        continue
                    for lon, lat in shapely.get_coordinates(geom):
                        coords.append((float(lat), float(lon), 15, f"row {i + 1} {col}"))
            plain = frame.drop(columns=binary)
            coords.extend(_text_coords("\n".join(texts[1:])))
            _table_checks(plain, coords, counts)
        return _Contents("\n".join(texts), coords, counts)
    text = path.read_text(encoding="utf-8", errors="replace")
    if not full:
        return _Contents(text, coords, counts)
    coords.extend(_text_coords(text))
    if suffix == ".csv":
        try:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError):
            frame = None
        if frame is not None:
            _table_checks(frame, coords, counts)
    elif suffix in (".geojson", ".json"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            data = None
        if data is not None:
            _walk_geojson(data, "", coords, counts)
    return _Contents(text, coords, counts)


def _table_checks(frame: pd.DataFrame, coords: list, counts: list) -> None:
    for i, rec in enumerate(frame.to_dict("records")):
        _row_coords(rec, f"row {i + 1}", coords)
        for key, v in rec.items():
            try:
                counts.append((str(key), float(v), f"row {i + 1}"))
            except (TypeError, ValueError):
                continue


# --------------------------------------------------------------------------- checks
_MAX_PREFIXES = 64  # above this many distinct 3-character prefixes, every file is tokenised


_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_TOKEN_RUN_RE = re.compile(r"[A-Za-z0-9_\-]+")


def _prefixed_tokens(text: str, prefix: str) -> set[str]:
    """Distinct whole tokens of ``text`` (maximal runs of token characters) that start with ``prefix``.

    Occurrences are found with ``str.find`` (C speed over tens of MB) and only they are
    tokenised, so a big file costs one fast pass per prefix instead of a regex over every word.
    """
    found: set[str] = set()
    pos = text.find(prefix)
    while pos >= 0:
        if pos == 0 or text[pos - 1] not in _TOKEN_CHARS:
            run = _TOKEN_RUN_RE.match(text, pos)
            found.add(run.group(0))
            pos = run.end()
        else:
            pos += 1
        pos = text.find(prefix, pos)
    return found


def _candidate_tokens(text: str, prefixes: frozenset[str] | None, rx: re.Pattern) -> set[str]:
    """Distinct tokens of ``text`` that could be forbidden.

    With known ``prefixes`` (every forbidden token's first three characters) only tokens
    starting with one of them are collected — the others cannot match; with None (too
    many prefixes to search) every token ``rx`` finds.
    """
    if prefixes is None:
        return set(rx.findall(text))
    return set().union(*(_prefixed_tokens(text, pre) for pre in prefixes))


@dataclass(frozen=True)
class _Forbidden:
    """The forbidden strings, prepared once for every file of a scan.

    ``tokens`` are looked up by set intersection with each file's tokens (one regex pass
    per file); ``multi`` (strings with spaces or punctuation) are searched as substrings.
    ``prefixes`` lets a file that holds none of the tokens' first three characters skip
    tokenising; ``rx`` tokenises words only unless some token starts with a digit or dash
    (most of a big GeoJSON is numbers).
    """

    tokens: frozenset[str]
    multi: tuple[str, ...]
    prefixes: frozenset[str] | None
    rx: re.Pattern

    @classmethod
    def build(cls, strings: Iterable[str]) -> "_Forbidden":
        forbidden = set(map(str.strip, map(str, strings)))
        forbidden.discard("")
        # A string is a token when the token pattern finds it whole; one regex pass over all of them.
        tokens = frozenset(set(_TOKEN_RE.findall("\n".join(forbidden))) & forbidden)
        prefixes = frozenset(t[:3] for t in tokens)
        word_only = all(p[0].isalpha() or p[0] == "_" for p in prefixes)
        return cls(tokens, tuple(sorted(forbidden - tokens)), prefixes if len(prefixes) <= _MAX_PREFIXES else None,
                   _WORD_TOKEN_RE if word_only else _TOKEN_RE)

    def tokenise(self, text: str) -> set[str]:
        """The distinct tokens of ``text`` that could be forbidden (none when no token's prefix occurs)."""
        return _candidate_tokens(text, self.prefixes, self.rx) if self.tokens else set()

    def found(self, tokens: set[str]) -> set[str]:
        """Which of ``tokens`` are forbidden."""
        return tokens & self.tokens


_IDS_SQL = ("select trim(s) as s from (select person_key as s from episodes union select placement_key from episodes "
            "union select episode_id from episodes union select person_key from location_reports "
            "union select report_id from location_reports) where s is not null and trim(s) <> ''")
#: The same ids without de-duplication (``union all``): for aggregates and lookups that do not
#: need distinct ids, de-duplicating millions of report ids was most of their cost.
_ALL_IDS_SQL = _IDS_SQL.replace(" union select ", " union all select ")


class StoreForbidden:
    """The store's pseudonyms and record ids as forbidden strings, looked up in DuckDB.

    Why: at millions of reports, copying every id into a Python set (and preparing it)
    took longer than the scan itself. The files' distinct tokens are few by comparison:
    they are sent to DuckDB once, in one semi-join. One pass over the ids finds what
    :class:`_Forbidden` finds in memory: the ids that are not single tokens (rare; searched
    as substrings), the tokens' 3-character prefixes and whether any starts with a digit.
    ``extra`` strings (e.g. placement refs) are kept in memory as usual.
    """

    def __init__(self, con, extra: Iterable[str] = ()):
        self.con = con
        self.extra = _Forbidden.build(extra)
        multi, n_prefixes, prefixes, word_only = con.execute(
            f"with ids as ({_ALL_IDS_SQL}), t as (select s, regexp_full_match(s, '[A-Za-z0-9_\\-]+') as tok from ids) "
            "select list(distinct s) filter (where not tok), count(distinct left(s, 3)) filter (where tok), "
            f"case when count(distinct left(s, 3)) filter (where tok) <= {_MAX_PREFIXES} "
            "then list(distinct left(s, 3)) filter (where tok) end, "
            "coalesce(bool_and(regexp_matches(s, '^[A-Za-z_]')) filter (where tok), true) from t").fetchall()[0]
        self.has_tokens = bool(n_prefixes) or bool(self.extra.tokens)
        self.multi = tuple(sorted(set(multi or []) | set(self.extra.multi)))
        both = None if prefixes is None or self.extra.prefixes is None else set(prefixes) | self.extra.prefixes
        self.prefixes = frozenset(both) if both is not None and len(both) <= _MAX_PREFIXES else None
        self.rx = _WORD_TOKEN_RE if word_only and self.extra.rx is _WORD_TOKEN_RE else _TOKEN_RE

    def tokenise(self, text: str) -> set[str]:
        """As :meth:`_Forbidden.tokenise`, for the store's ids and the extra strings together."""
        return _candidate_tokens(text, self.prefixes, self.rx) if self.has_tokens else set()

    def found(self, tokens: set[str]) -> set[str]:
        """Which of ``tokens`` are store ids or extra strings (one query for all of them)."""
        if not tokens:
            return set()
        self.con.register("privacy_scan_tokens", pd.DataFrame({"t": list(tokens)}))
        try:
            # the few file tokens are the join's build side; the ids are only scanned once
            got = self.con.execute(f"select distinct t from privacy_scan_tokens join ({_ALL_IDS_SQL}) ids "
                                   "on ids.s = privacy_scan_tokens.t").fetchnumpy()
        finally:
            self.con.unregister("privacy_scan_tokens")
        return set(got["t"].tolist()) | self.extra.found(tokens)


def _person_refs(name: str, text: str, tokens: set[str], multi: Iterable[str]) -> list[Finding]:
    found: dict[str, str] = {}
    for rx, marker, what in ((_PK_RE, "pk_", "pseudonym"),
                             (_SYN_RE, "SYN-", "synthetic person/episode/placement/report id")):
        if marker in text:  # cheap pre-check: most files hold neither
            for m in rx.finditer(text):
                found.setdefault(m.group(0), f"{what} at offset {m.start()}")
    for tok in tokens:
        found.setdefault(tok, "a person/episode/placement reference from the store")
    for s in multi:
        pos = text.find(s)
        if pos >= 0:
            found.setdefault(s, f"a forbidden string at offset {pos}")
    return [Finding(name, "person_ref", f"{_mask(v)}: {what}") for v, what in sorted(found.items())]


def _is_grid_point(lat: float, lon: float, decimals: int) -> bool:
    """An H3 cell centre or vertex (res 5–11), given to >= 5 decimals (~1 m).

    Coarser coordinates are never exempt: at 4 decimals (~11 m) a random point would often be
    "near" some vertex of a small cell.
    """
    if decimals < 5:
        return False
    tol = 0.6 * 10.0 ** (-min(decimals, 6)) + 1e-9
    for res in _GRID_RESOLUTIONS:
        cell = h3.latlng_to_cell(lat, lon, res)
        clat, clon = h3.cell_to_latlng(cell)
        if abs(clat - lat) <= tol and abs(clon - lon) <= tol:
            return True
        for vlat, vlon in h3.cell_to_boundary(cell):
            if abs(vlat - lat) <= tol and abs(vlon - lon) <= tol:
                return True
    return False


def _point_keys(lat5: np.ndarray, lon5: np.ndarray) -> np.ndarray:
    """One int64 per (lat, lon) scaled by 1e5 and rounded: lat5 in ±9e6, lon5 in ±1.8e7."""
    return (lat5.astype(np.int64) + 9_000_000) * 36_000_001 + (lon5.astype(np.int64) + 18_000_000)


class _Reference:
    """Placements (KD-tree in a local metric plane) and raw event points (5-dp keys)."""

    def __init__(self, placements: pd.DataFrame | None, raw_points: pd.DataFrame | None):
        from scipy.spatial import cKDTree
        pts = [df[["lat", "lon"]].astype(float).dropna().to_numpy() for df in (placements, raw_points)
               if df is not None and len(df)]
        allp = np.vstack(pts) if pts else np.empty((0, 2))
        self.empty = len(allp) == 0
        if not self.empty:
            self.lat0 = float(np.median(allp[:, 0]))
            lo, hi = allp.min(axis=0) - _BBOX_MARGIN_DEG, allp.max(axis=0) + _BBOX_MARGIN_DEG
            self.bbox = (lo, hi)
        self.tree = None
        if placements is not None and len(placements):
            self.tree = cKDTree(self._xy(placements[["lat", "lon"]].astype(float).dropna().to_numpy()))
        # Raw points as sorted 5-dp keys (a binary search per coordinate found in a file):
        # millions of points cost one numpy sort instead of a Python set of tuples.
        self.raw = np.empty(0, dtype=np.int64)
        if raw_points is not None and len(raw_points):
            r = raw_points[["lat", "lon"]].astype(float).dropna().to_numpy()
            self.raw = np.sort(_point_keys(np.round(r[:, 0] * 1e5), np.round(r[:, 1] * 1e5)))

    def is_raw(self, lat5: int, lon5: int) -> bool:
        """Is (lat, lon), rounded to 5 decimals and scaled by 1e5, an event's location?"""
        key = int(_point_keys(np.array([lat5]), np.array([lon5]))[0])
        i = int(np.searchsorted(self.raw, key))
        return i < len(self.raw) and int(self.raw[i]) == key

    def _xy(self, latlon: np.ndarray) -> np.ndarray:
        k = math.pi / 180 * 6_371_008.8
        return np.column_stack([latlon[:, 1] * k * math.cos(math.radians(self.lat0)), latlon[:, 0] * k])

    def inside(self, lat: float, lon: float) -> bool:
        lo, hi = self.bbox
        return lo[0] <= lat <= hi[0] and lo[1] <= lon <= hi[1]


def _coordinate_findings(name: str, contents: _Contents, ref: _Reference) -> list[Finding]:
    if ref.empty:
        return []
    out: list[Finding] = []
    seen: set[tuple[str, int, int]] = set()
    grid_cache: dict[tuple[float, float, int], bool] = {}
    for lat, lon, dec, where in contents.coords:
        if not (-90 <= lat <= 90 and -180 <= lon <= 180) or not ref.inside(lat, lon) or dec < 3:
            continue
        key = (lat, lon, dec)
        if key not in grid_cache:
            grid_cache[key] = _is_grid_point(lat, lon, dec)
        if grid_cache[key]:
            continue
        if ref.tree is not None:
            dist, _ = ref.tree.query(ref._xy(np.array([[lat, lon]])), k=1)
            if dist[0] <= PLACEMENT_RADIUS_M:
                tag = ("placement", round(lat * 1e5), round(lon * 1e5))
                if tag not in seen:
                    seen.add(tag)
                    out.append(Finding(name, "placement_coordinate",
                                       f"a coordinate {dist[0]:.0f} m from a care placement", where))
        if dec >= 5 and ref.is_raw(round(lat * 1e5), round(lon * 1e5)):
            tag = ("event", round(lat * 1e5), round(lon * 1e5))
            if tag not in seen:
                seen.add(tag)
                out.append(Finding(name, "event_coordinate", f"an exact event location ({dec} decimals)", where))
    return out


def _small_count_findings(name: str, contents: _Contents, k: int) -> list[Finding]:
    out: list[Finding] = []

    def small(v: float) -> bool:
        return float(v).is_integer() and 1 <= v < k

    for key, v, where in contents.counts:
        if _YP_COLUMN_RE.match(key) and small(v):
            out.append(Finding(name, "small_count", f"field {key!r} = {int(v)} (< {k}, not suppressed)", where))
    text = contents.text
    for rx, grp in ((_YP_AFTER_RE, 2), (_YP_BEFORE_RE, 1), (_YP_CLASS_RE, 1)):
        for m in rx.finditer(text):
            v = int(m.group(grp))
            if rx is _YP_BEFORE_RE and _THRESHOLD_BEFORE_RE.search(text, max(0, m.start() - 16), m.start()):
                continue  # "at least 3 young people": a rule's threshold, not a count
            if small(v):
                snippet = re.sub(r"<[^>]+>", " ", m.group(0))
                snippet = re.sub(r"\s+", " ", snippet).strip()[:60]
                out.append(Finding(name, "small_count", f"{snippet!r} (< {k}, not suppressed)",
                                   f"offset {m.start()}"))
    return out


# --------------------------------------------------------------------------- entry points
def scan_outputs(folder: Path, placements: pd.DataFrame | None, forbidden_strings: Iterable[str],
                 raw_points: pd.DataFrame | None, k: int = DEFAULT_K) -> list[Finding]:
    """Scan every HTML, CSV, GeoJSON, JSON and Parquet file in ``folder``; return the leaks found.

    Parameters
    ----------
    folder : Path
        A week's output folder.
    placements : DataFrame with ``lat``, ``lon``, optional
        Care placement locations (never stored in the product's store; pass them when known).
    forbidden_strings : iterable of str, or StoreForbidden
        Person pseudonyms, episode/report ids and any other string that must not appear;
        :func:`store_forbidden` looks the store's up in the store instead of in memory.
    raw_points : DataFrame with ``lat``, ``lon``, optional
        Every raw event location (episodes' last-seen and found locations, reports).
    k : int
        Suppression threshold: explicit counts of young people 1..k-1 are leaks.
    """
    folder = Path(folder)
    forbidden = (forbidden_strings if isinstance(forbidden_strings, StoreForbidden)
                 else _Forbidden.build(forbidden_strings))
    ref = _Reference(placements, raw_points)
    paths = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in SCANNED_SUFFIXES)
    read = [(p, p.name not in ANALYST_ONLY_FILES) for p in paths]  # the analyst/ subfolder too (by name)
    read = [(p, shared, _read_contents(p, full=shared)) for p, shared in read]
    tokens = [forbidden.tokenise(contents.text) for _, _, contents in read]
    bad = forbidden.found(set().union(*tokens))   # one lookup for every file's tokens
    findings: list[Finding] = []
    for (path, shared, contents), toks in zip(read, tokens):
        findings += _person_refs(path.name, contents.text, toks & bad, forbidden.multi)
        if not shared:
            continue
        findings += _coordinate_findings(path.name, contents, ref)
        findings += _small_count_findings(path.name, contents, k)
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
