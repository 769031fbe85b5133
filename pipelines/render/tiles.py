"""Base tiles for the maps: the user's own tile server, or an offline MBTiles file embedded in the page.

``tiles`` (config key, or the maps' ``tiles=`` argument) is either

* the URL template of the user's own tile server (``https://…/{z}/{x}/{y}.png``), the one
  URL a page may contain; or
* an **MBTiles** file (``*.mbtiles``, an SQLite file of raster tiles): the tiles covering the
  study area are read here and embedded as ``data:`` URIs for a bounded zoom range (at most
  :data:`TILE_CAP_BYTES` of tile data per page), so the page never makes a request. Beyond the
  highest embedded zoom Leaflet enlarges that zoom's tiles (``maxNativeZoom``); a tile outside
  the embedded set is blank. Vector tiles (``pbf``) are refused: drawing them needs a renderer
  the project does not ship. PMTiles files are not read.
"""

from __future__ import annotations

import base64
import math
import sqlite3
from pathlib import Path
from typing import Any

from analytics.errors import InvalidInputError
from pipelines.render.html import escape_text

__all__ = ["TILE_CAP_BYTES", "check_tiles", "tiles_url", "mbtiles_tiles", "OFFLINE_TILES_JS", "BLANK_TILE"]

#: Most tile bytes embedded from an MBTiles file into one page (≈ 1.33× in the page as base64).
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
    >>> check_tiles("city.pmtiles").startswith("tiles must be a URL template")
    True
    """
    if value is None:
        return None
    if _is_url(value):
        if all(p in value for p in ("{z}", "{x}", "{y}")):
            return None
    elif isinstance(value, (str, Path)) and str(value).lower().endswith(".mbtiles"):
        path = Path(value).expanduser()
        return None if path.is_file() else f"tiles file {str(value)!r} does not exist"
    return (f"{lead} like \"https://your-tile-server/{{z}}/{{x}}/{{y}}.png\" or an offline .mbtiles file "
            f"(PMTiles are not read); received {value!r}")


def tiles_url(tiles: Any) -> str | None:
    """The tile URL template a page may contain (None for an MBTiles file or no tiles)."""
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


def mbtiles_tiles(path: str | Path, bounds: list[list[float]], cap_bytes: int = TILE_CAP_BYTES) -> dict:
    """The tiles of an MBTiles file covering ``bounds`` for as many zooms as fit in ``cap_bytes``.

    Zooms are taken upwards from one below the zoom that fits the area in about 1,000 pixels,
    a whole zoom at a time, while the total stays under the cap.

    Returns
    -------
    dict
        ``tiles`` ({"z/x/y": data URI}), ``min_zoom``, ``max_zoom`` (None when nothing fits),
        ``bytes``, ``attribution`` (escaped), ``note`` (one sentence for the run's choices).

    Raises
    ------
    InvalidInputError
        The file is missing, not an MBTiles database, or holds vector tiles.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise InvalidInputError(f"tiles file {str(path)!r} does not exist.")
    try:
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            meta = dict(con.execute("select name, value from metadata").fetchall())
            first = con.execute("select tile_data from tiles limit 1").fetchone()
            zooms = [r[0] for r in con.execute("select distinct zoom_level from tiles order by 1")]
            fmt = str(meta.get("format", "")).lower() or next((f for m, f in _MAGIC if first and first[0][:len(m)] == m), "")
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
                rows = con.execute(
                    "select tile_column, tile_row, tile_data from tiles where zoom_level = ? and tile_column between ? "
                    "and ? and tile_row between ? and ?", (z, x0, x1, 2 ** z - 1 - y1, 2 ** z - 1 - y0)).fetchall()
                size = sum(len(r[2]) for r in rows)
                if not rows or total + size > cap_bytes:
                    break
                total += size
                used.append(z)
                mime = _MIMES[fmt]
                for x, row, data in rows:
                    tiles[f"{z}/{x}/{2 ** z - 1 - row}"] = f"data:{mime};base64," + base64.b64encode(data).decode("ascii")
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        raise InvalidInputError(f"tiles file {path.name} is not an MBTiles (SQLite) file: {exc}.") from exc
    attribution = str(escape_text(str(meta.get("attribution") or f"Offline tiles: {path.name}")))
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
