"""Base tiles for the maps: the user's own tile server, or an offline MBTiles/PMTiles file embedded in the page.

``tiles`` (config key, or the maps' ``tiles=`` argument) is either

* the URL template of the user's own tile server (``https://…/{z}/{x}/{y}.png``), the one
  URL a page may contain; or
* an **MBTiles** file (``*.mbtiles``, an SQLite file of raster tiles) or a **PMTiles** v3 file
  (``*.pmtiles``, read by :mod:`pipelines.render.pmtiles`): the tiles covering the
  study area are read here and embedded as ``data:`` URIs for a bounded zoom range (at most
  :data:`TILE_CAP_BYTES` of tile data per page), so the page never makes a request. Beyond the
  highest embedded zoom Leaflet enlarges that zoom's tiles (``maxNativeZoom``); a tile outside
  the embedded set is blank. Vector tiles (``pbf``) are refused: drawing them needs a renderer
  the project does not ship.
"""

from __future__ import annotations

import base64
import math
import sqlite3
from pathlib import Path
from typing import Any

from analytics.errors import InvalidInputError
from pipelines.render.html import escape_text

__all__ = ["TILE_CAP_BYTES", "check_tiles", "tiles_url", "offline_tiles", "OFFLINE_TILES_JS", "BLANK_TILE"]

#: Most tile bytes embedded from a tile file into one page (≈ 1.33× in the page as base64).
TILE_CAP_BYTES = 6_000_000
_MIMES = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp"}
_MAGIC = ((b"\x89PNG", "png"), (b"\xff\xd8\xff", "jpg"), (b"RIFF", "webp"))
#: A transparent 1×1 GIF: what a tile outside the embedded set shows (never a request).
BLANK_TILE = "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"


def _is_url(value: Any) -> bool:
    return isinstance(value, str) and value.lower().startswith(("http://", "https://"))


def check_tiles(value: Any, lead: str = "tiles must be a URL template") -> str | None:
    """The problem with a ``tiles`` setting (starting with ``lead``), or None when it is usable (None = no tiles).

    >>> check_tiles("https://tiles.example/{z}/{x}/{y}.png") is None
    True
    >>> check_tiles("city.geojson").startswith("tiles must be a URL template")
    True
    """
    if value is None:
        return None
    if _is_url(value):
        if all(p in value for p in ("{z}", "{x}", "{y}")):
            return None
    elif isinstance(value, (str, Path)) and str(value).lower().endswith((".mbtiles", ".pmtiles")):
        path = Path(value).expanduser()
        return None if path.is_file() else f"tiles file {str(value)!r} does not exist"
    return (f"{lead} like \"https://your-tile-server/{{z}}/{{x}}/{{y}}.png\" or an offline .mbtiles or .pmtiles "
            f"file; received {value!r}")


def tiles_url(tiles: Any) -> str | None:
    """The tile URL template a page may contain (None for a tile file or no tiles)."""
    return tiles if _is_url(tiles) else None


def _tile_xy(lat: float, lon: float, z: int) -> tuple[int, int]:
    n = 2 ** z
    lat = max(min(lat, 85.0511), -85.0511)
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return min(max(x, 0), n - 1), min(max(y, 0), n - 1)


def _fit_zoom(bounds: list[list[float]], width_px: float = 1024.0) -> int:
    (s, w), (n, e) = bounds
    span = max(e - w, 1e-6) / 360.0
    return int(max(0, min(18, math.floor(math.log2(width_px / 256.0 / span)))))


class _MBTiles:
    """Tiles of an MBTiles (SQLite) file; rows are TMS (y up), converted to XYZ here."""

    def __init__(self, path: Path):
        self.name = path.name
        try:
            self.con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
            meta = dict(self.con.execute("select name, value from metadata").fetchall())
            first = self.con.execute("select tile_data from tiles limit 1").fetchone()
            self.zooms = [r[0] for r in self.con.execute("select distinct zoom_level from tiles order by 1")]
        except sqlite3.DatabaseError as exc:
            raise InvalidInputError(f"tiles file {path.name} is not an MBTiles (SQLite) file: {exc}.") from exc
        self.format = str(meta.get("format", "")).lower() or next(
            (f for m, f in _MAGIC if first and first[0][:len(m)] == m), "")
        self.attribution = meta.get("attribution")

    def sizes(self, z: int, x0: int, x1: int, y0: int, y1: int) -> list[tuple[int, int, int]]:
        rows = self.con.execute(
            "select tile_column, tile_row, length(tile_data) from tiles where zoom_level = ? and tile_column between ? "
            "and ? and tile_row between ? and ?", (z, x0, x1, 2 ** z - 1 - y1, 2 ** z - 1 - y0)).fetchall()
        return [(x, 2 ** z - 1 - row, n) for x, row, n in rows]

    def data(self, z: int, x: int, y: int) -> bytes:
        return self.con.execute("select tile_data from tiles where zoom_level = ? and tile_column = ? and tile_row = ?",
                                (z, x, 2 ** z - 1 - y)).fetchone()[0]

    def close(self) -> None:
        self.con.close()


class _PMTiles:
    """Tiles of a PMTiles v3 file (:mod:`pipelines.render.pmtiles`)."""

    def __init__(self, path: Path):
        from pipelines.render.pmtiles import PMTilesReader

        self.name = path.name
        self.reader = PMTilesReader(path)
        self.zooms = list(range(self.reader.min_zoom, self.reader.max_zoom + 1))
        self.format = self.reader.format
        self.attribution = self.reader.metadata().get("attribution")

    def sizes(self, z: int, x0: int, x1: int, y0: int, y1: int) -> list[tuple[int, int, int]]:
        if (x1 - x0 + 1) * (y1 - y0 + 1) > 200_000:
            return []
        out = [(x, y, self.reader.size(z, x, y)) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]
        return [t for t in out if t[2]]

    def data(self, z: int, x: int, y: int) -> bytes:
        return self.reader.tile(z, x, y) or b""

    def close(self) -> None:
        self.reader.close()


def offline_tiles(path: str | Path, bounds: list[list[float]], cap_bytes: int = TILE_CAP_BYTES) -> dict:
    """The tiles of an MBTiles or PMTiles file covering ``bounds`` for as many zooms as fit in ``cap_bytes``.

    Zooms are taken upwards from one below the zoom that fits the area in about 1,000 pixels,
    a whole zoom at a time, while the total stays under the cap.

    Returns
    -------
    dict
        ``tiles`` ({"z/x/y": data URI}), ``min_zoom``, ``max_zoom`` (None when nothing fits),
        ``bytes``, ``attribution`` (escaped), ``note`` (one sentence for the run's choices), ``bounds``.

    Raises
    ------
    InvalidInputError
        The file is missing, not an MBTiles/PMTiles file, or holds vector tiles.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise InvalidInputError(f"tiles file {str(path)!r} does not exist.")
    source = _PMTiles(path) if path.suffix.lower() == ".pmtiles" else _MBTiles(path)
    try:
        fmt, zooms = source.format, source.zooms
        if fmt not in _MIMES:
            raise InvalidInputError(
                f"tiles file {path.name}: format {fmt or 'unknown'!r} is not a raster format (png, jpg, webp); "
                "vector tiles need a renderer the project does not ship.")
        (s, w), (n, e) = bounds
        pad_lat, pad_lon = (n - s) * 0.1 + 1e-4, (e - w) * 0.1 + 1e-4
        box = [[s - pad_lat, w - pad_lon], [n + pad_lat, e + pad_lon]]
        start = max(zooms[0], min(zooms[-1], _fit_zoom(box) - 1)) if zooms else 0
        tiles: dict[str, str] = {}
        total, used = 0, []
        for z in [z for z in zooms if z >= start]:
            x0, y0 = _tile_xy(box[1][0], box[0][1], z)
            x1, y1 = _tile_xy(box[0][0], box[1][1], z)
            found = source.sizes(z, x0, x1, y0, y1)
            size = sum(t[2] for t in found)
            if not found or total + size > cap_bytes:
                break
            total += size
            used.append(z)
            for x, y, _ in found:
                tiles[f"{z}/{x}/{y}"] = f"data:{_MIMES[fmt]};base64," + base64.b64encode(source.data(z, x, y)).decode("ascii")
    finally:
        source.close()
    attribution = str(escape_text(str(source.attribution or f"Offline tiles: {path.name}")))
    if used:
        note = (f"Base map: offline tiles from {path.name}, zoom {used[0]}–{used[-1]} embedded in the page "
                f"({total / 1e6:.1f} MB of tiles, cap {cap_bytes / 1e6:.0f} MB); closer zooms enlarge zoom {used[-1]}.")
    else:
        note = (f"Base map: no tiles from {path.name} embedded (none cover the study area within the "
                f"{cap_bytes / 1e6:.0f} MB cap from zoom {start}).")
    return {"tiles": tiles, "min_zoom": used[0] if used else None, "max_zoom": used[-1] if used else None,
            "bytes": total, "attribution": attribution, "note": note, "bounds": box}


#: A Leaflet tile layer whose tiles come from the page (``%(data)s``); a missing tile is blank.
OFFLINE_TILES_JS = """var %(data)s_layer = L.TileLayer.extend({ getTileUrl: function (c) {
    var u = %(data)s.tiles[c.z + "/" + c.x + "/" + c.y]; return typeof u === "string" ? u : %(blank)s; } });
var %(data)s_tiles = new %(data)s_layer("", {minNativeZoom: %(data)s.min_zoom, maxNativeZoom: %(data)s.max_zoom,
    maxZoom: 20, bounds: %(data)s.bounds, attribution: %(data)s.attribution, errorTileUrl: %(blank)s});
%(data)s_tiles.addTo(%(map)s);"""
