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
"""

from __future__ import annotations

import html
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
from analytics.safeguarding import PLACEMENT_RADIUS_M, Approval, cells_near_placements

__all__ = ["Finding", "scan_outputs", "store_forbidden", "store_forbidden_strings", "store_raw_points", "SHARED_FILES",
           "ANALYST_ONLY_FILES", "PLACEMENT_RADIUS_M", "approved_cells"]

SHARED_FILES = ("report.html", "patrol_map.html", "patrol_plan.csv", "patrol_plan.geojson", "patrol_plan.gpkg")
ANALYST_ONLY_FILES = ("analyst_map.html", "hotspots.parquet", "hotspots.geojson", "hotspots.gpkg", "clusters.geojson",
                      "scan_clusters.geojson", "convergence.parquet", "cube.parquet", "run.json",
                      "report_analyst_detail.html", "withheld.csv", "area_hotspots.parquet", "area_hotspots.geojson")
SCANNED_SUFFIXES = (".html", ".htm", ".csv", ".geojson", ".json", ".parquet", ".gpkg")
_GRID_RESOLUTIONS = range(5, 12)
_BBOX_MARGIN_DEG = 0.05

_H3_HEX_RE = re.compile(r"(?<![0-9A-Za-z])8[0-9a-fA-F]{14}(?![0-9A-Za-z])")
#: How far (metres) a written coordinate may be from an approved cell's centre or vertex and still be
#: that grid point (5 decimals round by up to ~0.6 m), and a polygon's centroid from the cell's centre.
_GRID_TOL_M = 1.5
_CENTROID_TOL_M = 10.0
_CENTROID = "centroid"
# A pseudonym as rendered: ``pk_`` kept, or turned into a space or hyphen (a label's "_" -> " "),
# or dropped, in either case, next to any punctuation or underscore (issue 12 item 4).
# Escapes in rendered text. Before a token, a JSON \uXXXX or URL %XX escape ends in a letter or
# digit ("\u003epk_…", "%22pk_…") that must not count as part of the token; an escape OF a token
# character ("pk&#95;…", "pk\u005f…", "pk%5F…", "&lowbar;") hides the token until it is decoded.
_AFTER_ESCAPE = r"(?:(?<![A-Za-z0-9])|(?<=\\u[0-9a-fA-F]{4})|(?<=%[0-9A-Fa-f]{2}))"
_PK_RE = re.compile(_AFTER_ESCAPE + r"pk(?:[_\s\-]+[0-9a-f]{8,}|[0-9a-f]{16,})", re.IGNORECASE)
_SYN_RE = re.compile(_AFTER_ESCAPE + r"SYN[-_\s]?[EPHR]\d{3,}")
_ESCAPE_END_RE = re.compile(r"(?:\\u[0-9a-fA-F]{4}|%[0-9A-Fa-f]{2})$")
# one pattern per escape kind, each starting with a literal (the regex engine then skips to it fast)
_TOKEN_AFTER_ESCAPE_RES = (re.compile(r"\\u[0-9a-fA-F]{4}([A-Za-z0-9_\-]+)"), re.compile(r"%[0-9A-Fa-f]{2}([A-Za-z0-9_\-]+)"))
_TOKEN_CHAR_HEX = r"(?:2[dD]|3\d|4[1-9a-fA-F]|5[0-9aAfF]|6[1-9a-fA-F]|7[0-9aA])"  # - 0-9 A-Z _ a-z
_TOKEN_CHAR_ESCAPE_RES = (
    re.compile(r"\\u00" + _TOKEN_CHAR_HEX), re.compile(r"%" + _TOKEN_CHAR_HEX),
    re.compile(r"&(?:#[xX]0*" + _TOKEN_CHAR_HEX + r"|#0*(?:45|4[89]|5[0-7]|6[5-9]|[78]\d|90|95|9[7-9]|1[01]\d|12[0-2])"
               r"|lowbar|UnderBar);"))
_JSON_ESCAPE_RE = re.compile(r"\\u([0-9a-fA-F]{4})")
_URL_ESCAPE_RE = re.compile(r"%([0-9A-Fa-f]{2})")
_ESCAPE_WINDOW = 120      # characters decoded on each side of an escaped token character ...
_ESCAPE_WIDEN_MAX = 1000  # ... widened to whole tokens, by at most this much
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
    kind: str  # person_ref | placement_coordinate | placement_cell | event_coordinate | small_count
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
            for lat, lon in _ring_centroids(obj.get("type"), geom):
                coords.append((lat, lon, 15, f"{where} {_CENTROID}".strip()))
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


def _ring_centroids(kind, geom) -> Iterator[tuple[float, float]]:
    """(lat, lon) of the vertex mean of every outer ring of a Polygon / MultiPolygon."""
    polygons = [geom] if kind == "Polygon" else geom if kind == "MultiPolygon" else []
    for poly in polygons:
        try:
            ring = np.asarray(poly[0], dtype=float)[:, :2]
        except (TypeError, ValueError, IndexError):
            continue
        if len(ring) > 1 and np.allclose(ring[0], ring[-1]):
            ring = ring[:-1]
        if len(ring):
            yield float(ring[:, 1].mean()), float(ring[:, 0].mean())


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


def _sqlite_text(path: Path) -> str:
    """Every table name, column name and text value of a SQLite file (a GeoPackage); blobs (geometries)
    are left to the layer reader. A file that is not SQLite is scanned as raw text instead."""
    import sqlite3
    parts: list[str] = []
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            tables = [r[0] for r in con.execute("select name from sqlite_master where type = 'table'")]
            for table in tables:
                cur = con.execute(f'select * from "{table.replace(chr(34), chr(34) * 2)}"')
                parts.append(" ".join([table, *(d[0] for d in cur.description)]))
                for row in cur:
                    parts.extend(v for v in row if isinstance(v, str))
        finally:
            con.close()
    except sqlite3.DatabaseError:
        return path.read_bytes().decode("utf-8", errors="replace")
    return "\n".join(parts)


def _read_gpkg(path: Path, full: bool) -> _Contents:
    """A GeoPackage: the text of every table (metadata included; check 1), and every layer's geometry
    vertices and fields (checks 2-4)."""
    import pyogrio
    import shapely
    texts = [_sqlite_text(path)]
    coords: list = []
    counts: list = []
    try:
        layers = [str(name) for name, _ in pyogrio.list_layers(path)]
    except Exception:  # noqa: BLE001 - not a readable GeoPackage: the raw text is still scanned
        layers = []
    for layer in layers:
        frame = pyogrio.read_dataframe(path, layer=layer)
        geometry = frame.pop("geometry") if "geometry" in frame.columns else None
        texts.append(" ".join(map(str, frame.columns)))
        for col in frame.columns:
            if frame[col].dtype == object:
                texts.append("\n".join(str(v) for v in frame[col].dropna().unique()))
        if not full:
            continue
        if geometry is not None:
            for i, geom in enumerate(geometry):
                if geom is None:
                    continue
                for lon, lat in shapely.get_coordinates(geom):
                    coords.append((float(lat), float(lon), min(_num_decimals(lat), _num_decimals(lon)),
                                   f"layer {layer} row {i + 1}"))
        _table_checks(pd.DataFrame(frame), coords, counts)
    if full:
        coords.extend(_text_coords("\n".join(texts[1:])))
    return _Contents("\n".join(texts), coords, counts)


def _read_contents(path: Path, full: bool) -> _Contents:
    """Text of a file (for references) and, when ``full``, its coordinates and numeric fields."""
    suffix = path.suffix.lower()
    coords: list = []
    counts: list = []
    if suffix == ".gpkg":
        return _read_gpkg(path, full)
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
                    if geom is not None and not geom.is_empty and geom.geom_type in ("Polygon", "MultiPolygon"):
                        for part in getattr(geom, "geoms", [geom]):
                            c = part.centroid
                            coords.append((float(c.y), float(c.x), 15, f"row {i + 1} {col} {_CENTROID}"))
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


_SEPARATORS = "_-"
_MAX_PIECES = 8  # a forbidden token glued into a longer one is looked for across at most this many pieces


def _decode_escapes(chunk: str) -> str:
    """JSON ``\\uXXXX``, then HTML character references, then URL ``%XX`` decoded (in the order
    a value is usually wrapped: URL inside HTML inside JSON, peeled from the outside)."""
    chunk = _JSON_ESCAPE_RE.sub(lambda m: chr(int(m.group(1), 16)), chunk)
    return _URL_ESCAPE_RE.sub(lambda m: chr(int(m.group(1), 16)), html.unescape(chunk))


_last_rendered: list = [None, ""]  # the last text and its rendering: each file is rendered once per scan


def rendered_text(text: str) -> str:
    """``text`` as a reader sees it, for the reference checks: the text itself, then, on new lines,
    each stretch around an escaped token character (JSON ``\\u005f``, HTML ``&#95;``/``&lowbar;``,
    URL ``%5F``, ...) decoded (``_ESCAPE_WINDOW`` characters either side, widened to whole tokens).
    So ``pk&#95;…`` and ``pk%5F…`` are found, at a cost that grows with such escapes (rare outside
    an attack), not with the file. Escapes *before* a token are handled by the tokenisers."""
    if _last_rendered[0] is text:
        return _last_rendered[1]
    spans: list[list[int]] = []
    found = sorted((m.start(), m.end()) for rx in _TOKEN_CHAR_ESCAPE_RES for m in rx.finditer(text))
    for start, end in found:
        a, b = max(0, start - _ESCAPE_WINDOW), min(len(text), end + _ESCAPE_WINDOW)
        if spans and a <= spans[-1][1]:
            spans[-1][1] = b
        else:
            spans.append([a, b])
    pieces = [text]
    for a, b in spans:
        lo, hi = max(0, a - _ESCAPE_WIDEN_MAX), min(len(text), b + _ESCAPE_WIDEN_MAX)
        while a > lo and text[a - 1] in _TOKEN_CHARS:
            a -= 1
        while b < hi and text[b] in _TOKEN_CHARS:
            b += 1
        pieces.append(_decode_escapes(text[a:b]))
    out = "\n".join(pieces)
    _last_rendered[:] = [text, out]
    return out


def _glued_pieces(run: str) -> Iterator[str]:
    """Every span of up to ``_MAX_PIECES`` separator-delimited pieces of a token (``a_pk_x_b`` ->
    ``a``, ``a_pk``, ..., ``pk_x``, ``pk_x_b``, ...): a forbidden token with ``_`` or ``-`` kept
    next to it still matches."""
    pieces = re.split(r"([_\-])", run)
    words = pieces[0::2]
    for i in range(len(words)):
        for j in range(i + 1, min(len(words), i + _MAX_PIECES) + 1):
            yield "".join(pieces[2 * i:2 * j - 1])


def _prefixed_tokens(text: str, prefix: str) -> set[str]:
    """Distinct tokens of ``text`` that start with ``prefix``: each maximal run of token
    characters starting there, and its cuts at every ``_``/``-`` inside it. An occurrence counts
    at the start of a run, right after a ``_``/``-`` (``x_pk_…_y`` holds ``pk_…``) or right after
    a JSON/URL escape (``\\u003epk_…``).

    Occurrences are found with ``str.find`` (C speed over tens of MB) and only they are
    tokenised, so a big file costs one fast pass per prefix instead of a regex over every word.
    """
    found: set[str] = set()
    pos = text.find(prefix)
    while pos >= 0:
        before = text[pos - 1] if pos else ""
        if before not in _TOKEN_CHARS or before in _SEPARATORS or _ESCAPE_END_RE.search(text, max(0, pos - 6), pos):
            run = _TOKEN_RUN_RE.match(text, pos).group(0)
            found.add(run)
            found.update(run[:i] for i, ch in enumerate(run) if ch in _SEPARATORS and i >= len(prefix))
        pos = text.find(prefix, pos + 1)
    return found


def _candidate_tokens(text: str, prefixes: frozenset[str] | None, rx: re.Pattern) -> set[str]:
    """Distinct tokens of ``text`` as rendered (``rendered_text``) that could be forbidden.

    With known ``prefixes`` (every forbidden token's first three characters) only tokens
    starting with one of them are collected — the others cannot match; with None (too
    many prefixes to search) every token ``rx`` finds, and the pieces of those glued together
    with ``_``/``-``.
    """
    text = rendered_text(text)
    if prefixes is None:
        tokens = set(rx.findall(text)).union(*(r.findall(text) for r in _TOKEN_AFTER_ESCAPE_RES))
        return tokens.union(*(_glued_pieces(t) for t in tokens if "_" in t or "-" in t))
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
    shown = len(text)
    text = rendered_text(text)  # offsets past the file's own length are in a decoded copy
    for rx, marker, what in ((_PK_RE, "pk", "pseudonym"),
                             (_SYN_RE, "SYN", "synthetic person/episode/placement/report id")):
        if marker in text or marker.upper() in text:  # cheap pre-check: most files hold neither
            for m in rx.finditer(text):
                where = f"offset {m.start()}" if m.start() < shown else "an escaped copy"
                found.setdefault(m.group(0), f"{what} at {where}")
    for tok in tokens:
        found.setdefault(tok, "a person/episode/placement reference from the store")
    for s in multi:
        pos = text.find(s)
        if pos >= 0:
            found.setdefault(s, f"a forbidden string at offset {pos}")
    return [Finding(name, "person_ref", f"{_mask(v)}: {what}") for v, what in sorted(found.items())]


def _is_grid_point(lat: float, lon: float, decimals: int) -> bool:
    """An H3 cell centre or vertex (res 5–11), given to >= 5 decimals (~1 m).

    Coarser coordinates are never grid points: at 4 decimals (~11 m) a random point would often be
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


def approved_cells(approved: Iterable | None) -> set[int]:
    """The cells whose evidence meets the safeguarding rule (b); anything else is not approved.

    ``approved`` holds :class:`analytics.safeguarding.Approval` objects (or dicts with the same
    fields, e.g. read back from run.json, ``cell`` as int or hex); insufficient evidence is ignored.
    """
    out: set[int] = set()
    for a in approved or ():
        if isinstance(a, dict):
            cell = a.get("cell")
            cell = h3.str_to_int(cell) if isinstance(cell, str) else cell
            a = Approval(int(cell), int(a.get("placements", 0)), int(a.get("min_unlinked_sources", 0)))
        if isinstance(a, Approval) and a.is_sufficient():
            out.add(int(a.cell))
    return out


def _placements_frame(placements: pd.DataFrame | None) -> pd.DataFrame | None:
    """Placements with ``placement_key`` and ``radius_m`` (default :data:`PLACEMENT_RADIUS_M`)."""
    if placements is None or not len(placements):
        return None
    pl = placements.dropna(subset=["lat", "lon"]).copy()
    pl["lat"], pl["lon"] = pl["lat"].astype(float), pl["lon"].astype(float)
    if "radius_m" not in pl.columns:
        pl["radius_m"] = PLACEMENT_RADIUS_M
    pl["radius_m"] = pl["radius_m"].fillna(PLACEMENT_RADIUS_M).astype(float)
    if "placement_key" not in pl.columns:
        pl["placement_key"] = [f"placement {i + 1}" for i in range(len(pl))]
    return pl.reset_index(drop=True) if len(pl) else None


class _Reference:
    """Placements (KD-tree in a local metric plane, each with its radius), approved cells' grid
    points, and raw event points (5-dp keys)."""

    def __init__(self, placements: pd.DataFrame | None, raw_points: pd.DataFrame | None,
                 approved: Iterable | None = None):
        from scipy.spatial import cKDTree
        self.placements = _placements_frame(placements)
        pts = [df[["lat", "lon"]].astype(float).dropna().to_numpy() for df in (self.placements, raw_points)
               if df is not None and len(df)]
        allp = np.vstack(pts) if pts else np.empty((0, 2))
        self.empty = len(allp) == 0
        if not self.empty:
            self.lat0 = float(np.median(allp[:, 0]))
            margin = _BBOX_MARGIN_DEG
            if self.placements is not None:
                margin = max(margin, float(self.placements["radius_m"].max()) / 100_000 + 0.01)
            lo, hi = allp.min(axis=0) - margin, allp.max(axis=0) + margin
            self.bbox = (lo, hi)
        self.tree = None
        if self.placements is not None:
            self.tree = cKDTree(self._xy(self.placements[["lat", "lon"]].to_numpy()))
            self.radius = self.placements["radius_m"].to_numpy(float)
        self.approved = approved_cells(approved)
        grid = []
        for cell in sorted(self.approved):
            hx = h3.int_to_str(cell)
            grid.append((*h3.cell_to_latlng(hx), 1.0))
            grid.extend((vlat, vlon, 0.0) for vlat, vlon in h3.cell_to_boundary(hx))
        self.grid = np.array(grid) if grid else np.empty((0, 3))
        self.grid_xy = self._xy(self.grid[:, :2]) if len(grid) and not self.empty else np.empty((0, 2))
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

    def near_placement(self, xy: np.ndarray) -> np.ndarray:
        """Distance (m) from each point to the nearest placement within its radius (inf when none)."""
        out = np.full(len(xy), np.inf)
        if self.tree is None or not len(xy):
            return out
        for i, hits in enumerate(self.tree.query_ball_point(xy, float(self.radius.max()))):
            if hits:
                d = np.sqrt(((self.tree.data[hits] - xy[i]) ** 2).sum(axis=1))
                ok = d <= self.radius[hits]
                if ok.any():
                    out[i] = float(d[ok].min())
        return out

    def approved_grid_point(self, xy: np.ndarray, decimals: np.ndarray, centroid: np.ndarray) -> np.ndarray:
        """Is each point an approved cell's centre or vertex (given to >= 4 decimals, within the
        rounding of its last digit), or a polygon centroid at an approved cell's centre?"""
        if not len(self.grid_xy) or not len(xy):
            return np.zeros(len(xy), dtype=bool)
        d = np.sqrt(((xy[:, None, :] - self.grid_xy[None, :, :]) ** 2).sum(axis=2))
        is_centre = self.grid[:, 2] == 1.0
        # a value rounded to 5 dp may print with 4 (150.94420 -> 150.9442): the tolerance follows the
        # decimals written (half a unit of the last digit, about 5.6 m at 4 dp); 3 or fewer never match
        tol = np.maximum(_GRID_TOL_M, 0.5 * 10.0 ** (-np.minimum(decimals, 6).astype(float)) * 111_320.0)
        grid_hit = (d <= tol[:, None]).any(axis=1) & (decimals >= 4)
        centre_hit = (d[:, is_centre] <= _CENTROID_TOL_M).any(axis=1) & centroid
        return grid_hit | centre_hit


def _coordinate_findings(name: str, contents: _Contents, ref: _Reference) -> list[Finding]:
    if ref.empty:
        return []
    out: list[Finding] = []
    seen: set[tuple[str, int, int]] = set()
    kept = [(lat, lon, dec, where) for lat, lon, dec, where in contents.coords
            if -90 <= lat <= 90 and -180 <= lon <= 180 and dec >= 3 and ref.inside(lat, lon)]
    if not kept:
        return out
    lat = np.array([c[0] for c in kept], dtype=float)
    lon = np.array([c[1] for c in kept], dtype=float)
    dec = np.array([c[2] for c in kept], dtype=np.int64)
    centroid = np.array([c[3].endswith(_CENTROID) for c in kept], dtype=bool)
    xy = ref._xy(np.column_stack([lat, lon]))
    dist = ref.near_placement(xy)
    near = np.isfinite(dist)
    if near.any():
        idx = np.flatnonzero(near)
        near[idx] = ~ref.approved_grid_point(xy[idx], dec[idx], centroid[idx])
    for i in np.flatnonzero(near):
        tag = ("placement", round(lat[i] * 1e5), round(lon[i] * 1e5))
        if tag not in seen:
            seen.add(tag)
            what = "a polygon centroid" if centroid[i] else "a coordinate"
            out.append(Finding(name, "placement_coordinate",
                               f"{what} {dist[i]:.0f} m from a care placement (not an approved cell)", kept[i][3]))
    grid_cache: dict[tuple[float, float, int], bool] = {}
    for i in range(len(kept)):
        if dec[i] < 5 or centroid[i] or not ref.is_raw(round(lat[i] * 1e5), round(lon[i] * 1e5)):
            continue
        key = (lat[i], lon[i], int(dec[i]))
        if key not in grid_cache:
            grid_cache[key] = _is_grid_point(float(lat[i]), float(lon[i]), int(dec[i]))
        if grid_cache[key]:
            continue
        tag = ("event", round(lat[i] * 1e5), round(lon[i] * 1e5))
        if tag not in seen:
            seen.add(tag)
            out.append(Finding(name, "event_coordinate", f"an exact event location ({dec[i]} decimals)", kept[i][3]))
    return out


def _cell_findings(name: str, text: str, ref: _Reference) -> list[Finding]:
    """H3 cells named in ``text`` (hex ids) whose hexagon lies within a placement's radius, not approved."""
    if ref.placements is None:
        return []
    cells = {}
    for m in _H3_HEX_RE.finditer(text):
        hx = m.group(0).lower()
        if hx not in cells and h3.is_valid_cell(hx):
            cells[hx] = m.start()
    todo = [h3.str_to_int(hx) for hx in cells if h3.str_to_int(hx) not in ref.approved]
    if not todo:
        return []
    near = cells_near_placements(np.array(todo, dtype=np.uint64), ref.placements)
    out = []
    for cell, d in near.groupby("cell")["distance_m"].min().items():
        hx = h3.int_to_str(int(cell))
        out.append(Finding(name, "placement_cell", f"H3 cell {hx} lies {d:.0f} m from a care placement "
                           f"(not an approved cell)", f"offset {cells[hx]}"))
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
