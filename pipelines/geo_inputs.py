"""Read the spatial inputs: places from GeoJSON/GeoPackage, and the study-area boundary.

Places become a text table with the contract columns (a representative point as
lat/lon plus the WKT geometry) so they go through the same staging SQL as every other
input. The boundary is unioned into one (multi)polygon in EPSG:4326 and turned into
the study area's H3 cells at the store resolution.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from pathlib import Path

import geopandas as gpd
import pandas as pd
from shapely import wkt as shapely_wkt
from shapely.ops import unary_union

from analytics import grid
from analytics.contracts import is_identifying_column, normalise_column_name
from analytics.errors import InvalidInputError, RefusedFileError


def _read_geo(path: Path) -> gpd.GeoDataFrame:
    try:
        frame = gpd.read_file(path)
    except Exception as exc:  # pyogrio raises many types for unreadable files
        raise RefusedFileError(f"{path.name}: cannot be read as GeoJSON/GeoPackage ({str(exc).splitlines()[0]}).") from exc
    if frame.crs is not None and frame.crs.to_epsg() != 4326:
        frame = frame.to_crs(4326)
    frame.columns = [c if c == frame.geometry.name else normalise_column_name(c) for c in frame.columns]
    return frame


def read_places(path: Path) -> pd.DataFrame:
    """Places file -> text DataFrame with place_id, name, category, lat, lon, geometry_wkt (+ extras)."""
    frame = _read_geo(path)
    geom = frame.geometry
    out = pd.DataFrame({c: frame[c].astype("string") for c in frame.columns if c != geom.name})
    valid = geom.notna() & ~geom.is_empty
    points = geom[valid].representative_point()
    out["lat"] = pd.Series([None] * len(frame), dtype="string")
    out["lon"] = pd.Series([None] * len(frame), dtype="string")
    out["geometry_wkt"] = pd.Series([None] * len(frame), dtype="string")
    out.loc[valid, "lat"] = points.y.map(lambda v: f"{v:.7f}").astype("string")
    out.loc[valid, "lon"] = points.x.map(lambda v: f"{v:.7f}").astype("string")
    out.loc[valid, "geometry_wkt"] = geom[valid].to_wkt(rounding_precision=7).astype("string")
    return out.reset_index(drop=True)


def read_boundary(path: Path) -> tuple[object, str | None, int, list[tuple[int, str, str]]]:
    """Boundary file -> (unioned polygon, name, features read, [(row, reason, detail)] rejected)."""
    frame = _read_geo(path)
    identifying = sorted(c for c in frame.columns if is_identifying_column(c) and c != "name")
    if identifying:
        raise RefusedFileError(f"{path.name}: refused, it has identifying columns {', '.join(identifying)}.")
    rejected, polygons = [], []
    for i, geom in enumerate(frame.geometry, start=1):
        if geom is None or geom.is_empty:
            rejected.append((i, "missing_required:geometry", None))
        elif geom.geom_type not in ("Polygon", "MultiPolygon"):
            rejected.append((i, "not_a_polygon", geom.geom_type))
        elif not geom.is_valid:
            rejected.append((i, "invalid_geometry", geom.geom_type))
        else:
            polygons.append(geom)
    if not polygons:
        raise RefusedFileError(f"{path.name}: no valid polygon in the boundary file.")
    name = str(frame["name"].iloc[0]) if "name" in frame.columns else None
    return unary_union(polygons), name, len(frame), rejected


def ingest_boundary(store, path: Path, sha: str):
    """Replace the study area with the file's polygons; one batch, one transaction."""
    from pipelines.ingest import BatchResult, _next_batch_id, _record_batch  # shared bookkeeping

    started = datetime.now(timezone.utc)
    polygon, name, n_read, rejected = read_boundary(path)
    try:
        cells = grid.polygon_to_cells(polygon, store.resolution)
    except InvalidInputError as exc:
        raise RefusedFileError(f"{path.name}: {exc}") from exc
    text = polygon.wkt
    row_hash = hashlib.md5(text.encode()).hexdigest()
    result = BatchResult(file=path.name, kind="boundary", batch_id=None, read=n_read,
                         rejected=len(rejected))
    con = store.con
    with store.transaction():
        result.batch_id = _next_batch_id(con)
        current = con.execute(
            "select row_hash from boundary order by batch_id desc limit 1").fetchone()
        valid = n_read - len(rejected)
        if current and current[0] == row_hash:
            result.duplicate = valid
        else:
            if current:
                result.updated = valid
            else:
                result.accepted = valid
            con.execute("insert into boundary values ($b, $n, $g, $h)",
                        {"b": result.batch_id, "n": name, "g": text, "h": row_hash})
            con.execute("delete from study_area_cells")
            con.register("cells_df", pd.DataFrame({"resolution": store.resolution, "cell": cells}))
            con.execute("insert into study_area_cells select resolution, cast(cell as ubigint) from cells_df")
            con.unregister("cells_df")
        for row, reason, detail in rejected:
            con.execute("insert into quarantine values ($b, 'boundary', $r, null, $reason, $d, '{}')",
                        {"b": result.batch_id, "r": row, "reason": reason, "d": detail})
        result.reasons = {}
        for _, reason, _ in rejected:
            result.reasons[reason] = result.reasons.get(reason, 0) + 1
        _record_batch(con, result, sha, started)
    return result


def current_boundary(con):
    """The current boundary polygon (shapely) or None."""
    row = con.execute("select geometry_wkt from boundary order by batch_id desc limit 1").fetchone()
    return shapely_wkt.loads(row[0]) if row else None
