"""Read the spatial inputs: places from GeoJSON/GeoPackage, and the study-area boundary.

Places become a text table with the contract columns (a representative point as
lat/lon plus the WKT geometry) so they go through the same staging SQL as every other
input. The boundary is unioned into one (multi)polygon in EPSG:4326 and turned into
the study area's H3 cells at the store resolution.
"""

from __future__ import annotations

import hashlib
import zipfile
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

import geopandas as gpd
import pandas as pd
import pyogrio
from shapely import wkt as shapely_wkt
from shapely.ops import unary_union

from analytics import grid
from analytics.contracts import is_identifying_column, normalise_column_name
from analytics.errors import InvalidInputError, RefusedFileError
from pipelines.batches import BatchResult, next_batch_id, record_batch


#: Files read with geopandas/pyogrio (a ``.zip`` holds shapefiles or GeoJSON; ``__MACOSX`` ignored).
GEO_SUFFIXES = {".geojson", ".json", ".gpkg", ".shp", ".zip"}
_ZIP_LAYER_SUFFIXES = (".shp", ".geojson", ".json")


def _zip_layers(path: Path) -> dict[str, str]:
    """{layer name: member} of the shapefiles / GeoJSON files inside a zip, macOS debris left out."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise RefusedFileError(f"{path.name}: cannot be read as a zip file ({exc}).") from exc
    members = [n for n in names if "__MACOSX/" not in n and not PurePosixPath(n).name.startswith(".")
               and n.lower().endswith(_ZIP_LAYER_SUFFIXES)]
    layers: dict[str, str] = {}
    for member in members:
        layers.setdefault(PurePosixPath(member).stem, member)
    return layers


def _pick_layer(path: Path, layers: list[str], layer: str | None) -> str | None:
    """The layer to read: the one asked for, or the only one; otherwise refuse, listing them."""
    if layer is not None:
        if layer in layers:
            return layer
        raise RefusedFileError(f"{path.name}: no layer {layer!r}; its layers are: {', '.join(layers) or '(none)'}.")
    if len(layers) == 1:
        return layers[0]
    if not layers:
        raise RefusedFileError(f"{path.name}: no shapefile or GeoJSON layer inside.")
    raise RefusedFileError(f"{path.name}: has {len(layers)} layers; choose one with --layer NAME: {', '.join(layers)}.")


def read_geo(path: Path, layer: str | None = None) -> gpd.GeoDataFrame:
    """A GeoJSON / GeoPackage / shapefile / zipped shapefile layer in EPSG:4326, columns normalised."""
    target, kwargs = str(path), {}
    if path.suffix.lower() == ".zip":
        members = _zip_layers(path)
        target = f"zip://{path}!{members[_pick_layer(path, list(members), layer)]}"
    elif path.suffix.lower() == ".gpkg" or layer is not None:
        try:
            names = [str(n) for n in pyogrio.list_layers(path)[:, 0]]
        except Exception as exc:  # pyogrio raises many types for unreadable files
            raise RefusedFileError(f"{path.name}: cannot be read ({str(exc).splitlines()[0]}).") from exc
        kwargs["layer"] = _pick_layer(path, names, layer)
    try:
        frame = gpd.read_file(target, **kwargs)
    except Exception as exc:  # pyogrio raises many types for unreadable files
        raise RefusedFileError(f"{path.name}: cannot be read as GeoJSON/GeoPackage/shapefile "
                               f"({str(exc).splitlines()[0]}).") from exc
    if frame.crs is not None and frame.crs.to_epsg() != 4326:
        frame = frame.to_crs(4326)
    frame.columns = [c if c == frame.geometry.name else normalise_column_name(c) for c in frame.columns]
    return frame


def _as_text(column: pd.Series) -> pd.Series:
    """A property column as text: times as ISO 8601 (an offset kept), numbers as written."""
    if pd.api.types.is_datetime64_any_dtype(column):
        return column.map(lambda v: None if pd.isna(v) else v.isoformat(sep=" ")).astype("string")
    return column.astype("string")


def read_points(path: Path, layer: str | None = None) -> pd.DataFrame:
    """Point file (GeoJSON / GeoPackage / zipped shapefile, any CRS) -> text DataFrame of its
    properties (names as written) plus ``geometry_lat``/``geometry_lon`` in EPSG:4326 (empty
    when the geometry is null or empty). A feature that is not a point refuses the file."""
    from pipelines.column_mapping import GEOMETRY_LAT, GEOMETRY_LON

    frame = read_geo(path, layer)
    geom = frame.geometry
    valid = geom.notna() & ~geom.is_empty
    kinds = geom[valid].geom_type
    single = kinds.eq("Point") | (kinds.eq("MultiPoint") & (geom[valid].get_coordinates().groupby(level=0).size()
                                                            .reindex(kinds.index).eq(1)))
    if not single.all():
        row = int(single.index[~single.to_numpy()][0]) + 1
        raise RefusedFileError(f"{path.name}: feature {row} is a {kinds[~single].iloc[0]}, not a point; reports "
                               f"and episodes need one point each (use boundary, places or areas for polygons).")
    out = pd.DataFrame({c: _as_text(frame[c]) for c in frame.columns if c != geom.name})
    xy = geom[valid].get_coordinates().groupby(level=0).first()
    for name, values in ((GEOMETRY_LAT, xy["y"]), (GEOMETRY_LON, xy["x"])):
        out[name] = pd.Series([None] * len(frame), dtype="string", index=frame.index)
        out.loc[values.index, name] = values.map(lambda v: f"{v:.7f}").astype("string")
    return out.reset_index(drop=True)


def read_places(path: Path, layer: str | None = None) -> pd.DataFrame:
    """Places file -> text DataFrame with place_id, name, category, lat, lon, geometry_wkt (+ extras)."""
    frame = read_geo(path, layer)
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


def read_boundary(path: Path, layer: str | None = None, drop_identifying: bool = False,
                  ) -> tuple[object, str | None, int, list[tuple[int, str, str]]]:
    """Boundary file -> (unioned polygon, name, features read, [(row, reason, detail)] rejected).

    Only the polygons and the first ``name`` are kept, so ``drop_identifying`` (a column such as
    ``notes``) just confirms that the other columns are never read."""
    frame = read_geo(path, layer)
    identifying = sorted(c for c in frame.columns if is_identifying_column(c) and c != "name")
    if identifying and not drop_identifying:
        raise RefusedFileError(f"{path.name}: refused, it has identifying columns {', '.join(identifying)}; "
                               f"remove them, or re-run with --drop-identifying-columns (only the polygons and "
                               f"a name are kept).")
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


def ingest_boundary(store, path: Path, sha: str, layer: str | None = None, drop_identifying: bool = False):
    """Replace the study area with the file's polygons; one batch, one transaction."""
    started = datetime.now(timezone.utc)
    polygon, name, n_read, rejected = read_boundary(path, layer, drop_identifying)
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
        result.batch_id = next_batch_id(con)
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
        record_batch(con, result, sha, started)
    return result


def current_boundary(con):
    """The current boundary polygon (shapely) or None."""
    # fetchall, not fetchone: DuckDB 2.0 keeps a fetchone() result open, and the next
    # con.register() on this connection then fails (issue 13, item 4).
    rows = con.execute("select geometry_wkt from boundary order by batch_id desc limit 1").fetchall()
    return shapely_wkt.loads(rows[0][0]) if rows else None
