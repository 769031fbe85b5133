"""The privacy scan's file readers: each scanned format (HTML/text, CSV, GeoJSON/JSON, Parquet,
GeoPackage) as its text (for references) and, for shared files, its coordinates and numeric fields."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

_CENTROID = "centroid"
_NUM = r"(-?\d{1,3}\.\d+)"
_PAIR_RE = re.compile(_NUM + r"\s*,\s*" + _NUM)
_KEYED_LAT_RE = re.compile(r"\b(?:lat|latitude)[\"']?\s*[:=]\s*[\"']?" + _NUM + r"[\s\S]{0,120}?\b(?:lon|lng|longitude)"
                           r"[\"']?\s*[:=]\s*[\"']?" + _NUM, re.IGNORECASE)


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
