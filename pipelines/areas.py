"""Area layers: ingest (``hotspots ingest areas FILE --layer-name beats``), load, and name cells.

Areas are the units people report by -- police beats, wards, suburbs, neighbourhoods. A layer
comes from a GeoJSON, GeoPackage (``--layer`` picks the GeoPackage layer) or zipped shapefile
in any CRS (reprojected to EPSG:4326) and is stored under the name the user gives
(``--layer-name``; never the file name). Each area keeps only an id, a name and its polygon:

* names come from ``--name-column``, else a guessed column (``name``, ``area_name``, then a
  column whose name holds "name", then ``label`` / ``title``), trimmed of surrounding white space;
  without a name column the id is the name, and a blank name is "<layer> <id>" (reported);
* ids come from ``--id-column``, else a guessed column holding one distinct value per row
  (``area_id``, ``id``, ``*_id``, ``code``, ``number``...), else the feature's row number;

every guess is reported. Re-ingesting a layer name replaces that layer (and says so); the same
areas again are duplicates. Null or non-polygon features are quarantined (``missing_required:
geometry``, ``not_a_polygon``); an invalid polygon, a repeated id, a missing column, an empty
file or a file without polygons refuses the file with one line naming the row and the problem.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely import wkt as shapely_wkt

from analytics.area_names import cells_to_area_names, name_plan_areas
from analytics.contracts import is_identifying_column, normalise_column_name
from analytics.errors import InvalidInputError, RefusedFileError

__all__ = ["AREA_COLUMNS", "LAYER_NAME_RULE", "check_layer_name", "read_areas", "ingest_areas", "load_areas",
           "area_layers", "area_names_for_cells", "name_plan_areas", "AreaFile"]

#: Columns of :func:`load_areas` (the interface the maps and the report use).
AREA_COLUMNS = ["layer", "area_id", "area_name", "geometry"]
#: What a layer name may be (it is shown to people and used on the command line).
LAYER_NAME_RULE = "1 to 40 letters, digits, spaces, '_', '-' or '.', starting with a letter or digit"
_LAYER_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.\-]{0,39}")
_NAME_EXACT = ("area_name", "name")
_NAME_WORDS = ("label", "title")
_ID_EXACT = ("area_id", "id", "code", "area_code", "number", "area_number")
_ID_SUFFIXES = ("_id", "_code", "_no", "_num", "_number")
_ID_SYSTEM = ("objectid", "fid", "gid", "ogc_fid")   # a GIS row id: better than nothing, last choice
_POLYGONS = ("Polygon", "MultiPolygon")


def check_layer_name(name: str | None) -> str:
    """The layer name, stripped; refused (one line) when missing or not :data:`LAYER_NAME_RULE`."""
    text = (name or "").strip()
    if not text:
        raise InvalidInputError("ingest areas needs --layer-name NAME (e.g. beats, wards, neighbourhoods): the "
                                "name the layer is stored and shown under.")
    if not _LAYER_RE.fullmatch(text):
        raise InvalidInputError(f"--layer-name {text[:60]!r} is not allowed: use {LAYER_NAME_RULE}.")
    return text


@dataclass(frozen=True)
class AreaFile:
    """An areas file as read: the kept areas, the rows set aside, and where names and ids came from."""

    areas: pd.DataFrame            #: area_id, area_name, row_number, geometry_wkt (file order)
    rejected: list                 #: (row, reason, detail) of null / non-polygon features
    read: int                      #: features in the file
    name_column: str | None
    id_column: str | None
    notes: list                    #: what was guessed or filled in, for a person to read


def _is_text(column: pd.Series) -> bool:
    return pd.api.types.is_string_dtype(column) or pd.api.types.is_object_dtype(column)


def _id_text(column: pd.Series) -> pd.Series:
    """Ids as text: whole floats without ".0", blanks as missing."""
    if pd.api.types.is_float_dtype(column):
        whole = column.dropna()
        if len(whole) and bool(np.all(np.mod(whole.to_numpy(), 1) == 0)):
            column = column.astype("Int64")
    text = column.astype("string").str.strip()
    return text.mask(text == "")


def _usable_names(frame: pd.DataFrame, skip: set[str]) -> list[str]:
    """Columns a guess may pick: not the geometry, not ``skip``, not a person's details (``name`` itself is
    an area's name here)."""
    return [c for c in frame.columns if c != frame.geometry.name and c not in skip
            and (c in _NAME_EXACT or not is_identifying_column(c))]


def guess_id_column(frame: gpd.GeoDataFrame) -> str | None:
    """The column most like an area id: a known id name, one distinct non-blank value per row."""
    ranked = []
    for col in _usable_names(frame, set()):
        rank = 0 if col in _ID_EXACT else 1 if col.endswith(_ID_SUFFIXES) else 2 if col in _ID_SYSTEM else None
        if rank is None:
            continue
        values = _id_text(frame[col])
        if values.notna().all() and values.is_unique:
            ranked.append((rank, list(frame.columns).index(col), col))
    return min(ranked)[2] if ranked else None


def guess_name_column(frame: gpd.GeoDataFrame, id_column: str | None) -> str | None:
    """The column most like an area name: text, mostly filled; ``name`` first, then "*name*", then label/title."""
    ranked = []
    for col in _usable_names(frame, {id_column} if id_column else set()):
        if not _is_text(frame[col]):
            continue
        words = set(col.split("_"))
        rank = 0 if col in _NAME_EXACT else 1 if ("name" in words or col.endswith("name")) else \
            2 if words & set(_NAME_WORDS) else None
        if rank is None:
            continue
        values = frame[col].astype("string").str.strip()
        filled = values.notna() & (values != "")
        if filled.mean() >= 0.5:
            ranked.append((rank, -values[filled].nunique(), list(frame.columns).index(col), col))
    return min(ranked)[3] if ranked else None


def _pick_column(frame: gpd.GeoDataFrame, path: Path, given: str | None, option: str) -> str:
    col = normalise_column_name(given)
    if col not in frame.columns or col == frame.geometry.name:
        listed = ", ".join(c for c in frame.columns if c != frame.geometry.name) or "(none)"
        raise RefusedFileError(f"{path.name}: no column {given!r} for {option}; its columns are: {listed}.")
    return col


def _check_crs(frame: gpd.GeoDataFrame, path: Path) -> None:
    if frame.crs is None and len(frame):
        minx, miny, maxx, maxy = frame.total_bounds
        if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
            raise RefusedFileError(f"{path.name}: has no coordinate reference system (a shapefile without its .prj?) "
                                   f"and its coordinates are not longitude/latitude; add the .prj and ingest again.")


def read_areas(path: Path, layer_name: str, name_column: str | None = None, id_column: str | None = None,
               gpkg_layer: str | None = None) -> AreaFile:
    """Read an areas file (any CRS -> EPSG:4326) into areas with ids and names; refuse a bad file."""
    from pipelines.geo_inputs import read_geo

    path = Path(path)
    frame = read_geo(path, gpkg_layer)
    if len(frame) == 0:
        raise RefusedFileError(f"{path.name}: the file holds no features (it is empty).")
    _check_crs(frame, path)
    notes: list[str] = []
    id_col = _pick_column(frame, path, id_column, "--id-column") if id_column else guess_id_column(frame)
    name_col = (_pick_column(frame, path, name_column, "--name-column") if name_column
                else guess_name_column(frame, id_col))
    if id_column is None:
        notes.append(f"ids from column {id_col} (guessed; --id-column chooses)" if id_col
                     else "ids are the feature numbers in the file (no id column found; --id-column chooses)")
    if name_column is None:
        notes.append(f"names from column {name_col} (guessed; --name-column chooses)" if name_col
                     else "names are the ids (no name column found; --name-column chooses)")
    ids = _id_text(frame[id_col]) if id_col else pd.Series([str(i) for i in range(1, len(frame) + 1)], dtype="string")
    names = frame[name_col].astype("string").str.strip() if name_col else ids
    names = [None if pd.isna(v) or v == "" else str(v) for v in names]
    ids = [None if pd.isna(v) else str(v) for v in ids]

    rejected, kept, seen = [], [], {}
    for i, geom in enumerate(frame.geometry, start=1):
        if geom is None or geom.is_empty:
            rejected.append((i, "missing_required:geometry", None))
            continue
        if geom.geom_type not in _POLYGONS:
            rejected.append((i, "not_a_polygon", geom.geom_type))
            continue
        area_id = ids[i - 1]
        label = f"feature {i}" + (f" (area {names[i - 1]!r})" if name_col and names[i - 1] else "")
        if not geom.is_valid:
            raise RefusedFileError(f"{path.name}: {label} has an invalid polygon ({shapely.is_valid_reason(geom)}); "
                                   f"fix it (e.g. QGIS 'Fix geometries') and ingest again.")
        if area_id is None:
            raise RefusedFileError(f"{path.name}: {label} has no id in column {id_col}; fill it, or leave out "
                                   f"--id-column to number the areas by row.")
        if area_id in seen:
            raise RefusedFileError(f"{path.name}: {label} repeats area id {area_id!r} of feature {seen[area_id]} "
                                   f"(column {id_col}); choose a column with one id per area with --id-column, or "
                                   f"leave it out to number the areas by row.")
        seen[area_id] = i
        kept.append((area_id, names[i - 1], i, geom.wkt))
    if not kept:
        kinds = sorted({d for _, r, d in rejected if d}) or ["none"]
        raise RefusedFileError(f"{path.name}: no polygon among its {len(frame)} feature(s) (geometry types: "
                               f"{', '.join(kinds)}); areas must be polygons.")
    areas = pd.DataFrame(kept, columns=["area_id", "area_name", "row_number", "geometry_wkt"])
    unnamed = areas["area_name"].isna()
    if unnamed.any():
        areas.loc[unnamed, "area_name"] = layer_name + " " + areas.loc[unnamed, "area_id"]
        notes.append(f"{int(unnamed.sum())} area(s) without a name are called '{layer_name} <id>'")
    areas["area_name"] = areas["area_name"].astype(str)
    return AreaFile(areas, rejected, len(frame), name_col, id_col, notes)


def _layer_hash(areas: pd.DataFrame) -> str:
    digest = hashlib.md5()
    for r in areas.itertuples(index=False):
        digest.update(f"{r.area_id}\x1f{r.area_name}\x1f{r.geometry_wkt}\x1e".encode())
    return digest.hexdigest()


def ingest_areas(store, path: Path, sha: str, layer_name: str | None, name_column: str | None = None,
                 id_column: str | None = None, gpkg_layer: str | None = None):
    """Load (or replace) one area layer from ``path``; one batch, one transaction.

    Returns the batch's :class:`pipelines.ingest.BatchResult`: ``read`` features = ``accepted``
    (a new layer) or ``updated`` (a replaced layer) or ``duplicate`` (the same areas again) +
    ``rejected`` (quarantined features). ``hints`` say where names and ids came from;
    ``warnings`` say when an earlier layer of that name was replaced.
    """
    from pipelines.batches import BatchResult, next_batch_id, record_batch  # shared bookkeeping

    started = datetime.now(timezone.utc)
    layer = check_layer_name(layer_name)
    got = read_areas(Path(path), layer, name_column, id_column, gpkg_layer)
    row_hash = _layer_hash(got.areas)
    n = len(got.areas)
    result = BatchResult(file=Path(path).name, kind="areas", batch_id=None, read=got.read,
                         rejected=len(got.rejected))
    con = store.con
    with store.transaction():
        result.batch_id = next_batch_id(con)
        current = con.execute("select batch_id, n_areas, row_hash, first_loaded_at from area_layers "
                              "where layer = $l", {"l": layer}).fetchall()
        if current and current[0][2] == row_hash:
            result.duplicate = n
            result.hints.append(f"layer {layer!r} unchanged: the same {n} area(s) as batch {current[0][0]}")
        else:
            if current:
                result.updated = n
                result.warnings.append(f"Replaced area layer {layer!r} ({current[0][1]} area(s) from batch "
                                       f"{current[0][0]}) with these {n} area(s).")
                con.execute("delete from areas where layer = $l", {"l": layer})
                con.execute("delete from area_layers where layer = $l", {"l": layer})
            else:
                result.accepted = n
            con.register("areas_df", got.areas.assign(layer=layer))
            con.execute("insert into areas (layer, area_id, area_name, row_number, geometry_wkt) "
                        "select layer, area_id, area_name, row_number, geometry_wkt from areas_df")
            con.unregister("areas_df")
            con.execute("insert into area_layers values ($l, $b, $nc, $ic, $n, $h, $t)",
                        {"l": layer, "b": result.batch_id, "nc": got.name_column, "ic": got.id_column, "n": n,
                         "h": row_hash, "t": current[0][3] if current else started})
            result.hints.append(f"area layer {layer!r}: {n} area(s); " + "; ".join(got.notes) if got.notes
                                else f"area layer {layer!r}: {n} area(s)")
        for row, reason, detail in got.rejected:
            con.execute("insert into quarantine values ($b, 'areas', $r, null, $reason, $d, '{}')",
                        {"b": result.batch_id, "r": row, "reason": reason, "d": detail})
        for _, reason, _ in got.rejected:
            result.reasons[reason] = result.reasons.get(reason, 0) + 1
        record_batch(con, result, sha, started)
    return result


def area_layers(con) -> list[str]:
    """The stored layer names, in the order they were first loaded."""
    rows = con.execute("select layer from area_layers order by first_loaded_at, layer").fetchall()
    return [r[0] for r in rows]


def load_areas(con, layer: str | None = None) -> gpd.GeoDataFrame:
    """Every stored area (or one layer's) as a GeoDataFrame ``layer, area_id, area_name, geometry``
    (EPSG:4326), layers in the order first loaded and areas in file order; empty without areas.

    An unknown ``layer`` refuses with the stored layer names."""
    if layer is not None and layer not in area_layers(con):
        known = ", ".join(area_layers(con)) or "none; load one with hotspots ingest areas FILE --layer-name NAME"
        raise InvalidInputError(f"No area layer {layer!r}; the stored layers are: {known}.")
    rows = con.execute(
        "select a.layer, a.area_id, a.area_name, a.geometry_wkt from areas a join area_layers l on l.layer = a.layer "
        "where $layer is null or a.layer = $layer order by l.first_loaded_at, a.layer, a.row_number",
        {"layer": layer}).fetchall()
    frame = pd.DataFrame(rows, columns=["layer", "area_id", "area_name", "geometry_wkt"])
    geometry = [shapely_wkt.loads(t) for t in frame.pop("geometry_wkt")]
    return gpd.GeoDataFrame(frame.astype({c: str for c in ("layer", "area_id", "area_name")}),
                            geometry=geometry, crs=4326)


def area_names_for_cells(con, cells: np.ndarray) -> list[str]:
    """Each cell's area names across every stored layer ("Five Points · District 2"; "" without areas)."""
    areas = load_areas(con)
    return cells_to_area_names(np.asarray(cells, dtype=np.uint64), areas if len(areas) else None)
