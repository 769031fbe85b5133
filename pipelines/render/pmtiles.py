"""Read raster tiles from a local PMTiles v3 file (standard library only; no network, no CDN).

PMTiles v3 (protomaps.com, "PMTiles Version 3 Specification"): a 127-byte little-endian
header, a root directory and optional leaf directories (varint-packed entries, usually
gzip-compressed), then the tile data. Tiles are addressed by a tile id: the number of tiles
of all lower zooms plus the tile's position on the zoom's Hilbert curve.

>>> [zxy_to_tileid(*t) for t in [(0, 0, 0), (1, 0, 0), (1, 0, 1), (1, 1, 1), (1, 1, 0), (2, 0, 0)]]
[0, 1, 2, 3, 4, 5]
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

from analytics.errors import InvalidInputError

__all__ = ["PMTilesReader", "zxy_to_tileid", "TILE_TYPES"]

#: Header tile type -> format name (raster ones only are drawn).
TILE_TYPES = {1: "pbf", 2: "png", 3: "jpg", 4: "webp", 5: "avif"}
_HEADER = struct.Struct("<7sB" + "Q" * 11 + "BBBBBBiiiiBii")
_MAX_DEPTH = 4  # root + up to three levels of leaf directories


def zxy_to_tileid(z: int, x: int, y: int) -> int:
    """The PMTiles tile id of tile z/x/y (XYZ scheme, y down)."""
    acc = ((1 << (2 * z)) - 1) // 3
    d, s = 0, (1 << z) >> 1
    while s > 0:
        rx = 1 if x & s else 0
        ry = 1 if y & s else 0
        d += s * s * ((3 * rx) ^ ry)
        if ry == 0:
            if rx == 1:
                x, y = s - 1 - x, s - 1 - y
            x, y = y, x
        s >>= 1
    return acc + d


def _varints(buf: bytes):
    pos, n = 0, len(buf)
    while pos < n:
        shift = value = 0
        while True:
            b = buf[pos]
            pos += 1
            value |= (b & 0x7F) << shift
            if b < 0x80:
                break
            shift += 7
        yield value


class PMTilesReader:
    """A local PMTiles v3 archive opened for reading tiles by z/x/y."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._fh = open(self.path, "rb")
        head = self._fh.read(127)
        if len(head) < 127 or head[:7] != b"PMTiles":
            self._fh.close()
            raise InvalidInputError(f"tiles file {self.path.name} is not a PMTiles file (no PMTiles header).")
        f = _HEADER.unpack(head)
        if f[1] != 3:
            self._fh.close()
            raise InvalidInputError(f"tiles file {self.path.name}: PMTiles version {f[1]} is not read (version 3 only).")
        (self.root_offset, self.root_length, self.meta_offset, self.meta_length, self.leaf_offset, _leaf_len,
         self.data_offset, _data_len, _n_addr, _n_entries, _n_contents) = f[2:13]
        _clustered, self.internal_compression, self.tile_compression, tile_type, self.min_zoom, self.max_zoom = f[13:19]
        self.format = TILE_TYPES.get(tile_type, "")
        for what, c in (("directories", self.internal_compression), ("tiles", self.tile_compression)):
            if c not in (0, 1, 2):
                self._fh.close()
                raise InvalidInputError(f"tiles file {self.path.name}: {what} use a compression other than gzip "
                                        "(brotli/zstd are not read).")
        self._dirs: dict[tuple[int, int], list[tuple[int, int, int, int]]] = {}

    def close(self) -> None:
        self._fh.close()

    def _read(self, offset: int, length: int) -> bytes:
        self._fh.seek(offset)
        return self._fh.read(length)

    def _unpack(self, data: bytes, compression: int) -> bytes:
        return gzip.decompress(data) if compression == 2 else data

    def metadata(self) -> dict:
        """The archive's JSON metadata ({} when absent or unreadable)."""
        import json

        try:
            return json.loads(self._unpack(self._read(self.meta_offset, self.meta_length), self.internal_compression))
        except (ValueError, OSError):
            return {}

    def _directory(self, offset: int, length: int) -> list[tuple[int, int, int, int]]:
        """Entries (tile_id, offset, length, run_length) of the directory at ``offset``."""
        key = (offset, length)
        if key not in self._dirs:
            vals = list(_varints(self._unpack(self._read(offset, length), self.internal_compression)))
            n = vals[0]
            ids, runs, lens, offs = vals[1:n + 1], vals[n + 1:2 * n + 1], vals[2 * n + 1:3 * n + 1], vals[3 * n + 1:4 * n + 1]
            entries, tid, prev = [], 0, None
            for i in range(n):
                tid += ids[i]
                off = prev[1] + prev[2] if (i > 0 and offs[i] == 0) else offs[i] - 1
                prev = (tid, off, lens[i], runs[i])
                entries.append(prev)
            self._dirs[key] = entries
        return self._dirs[key]

    def _find(self, tile_id: int) -> tuple[int, int] | None:
        """(offset, length) of the tile's data, or None."""
        offset, length = self.root_offset, self.root_length
        for depth in range(_MAX_DEPTH):
            entries = self._directory(offset, length)
            lo, hi = 0, len(entries) - 1
            while lo <= hi:  # last entry with id <= tile_id
                mid = (lo + hi) // 2
                if entries[mid][0] <= tile_id:
                    lo = mid + 1
                else:
                    hi = mid - 1
            if hi < 0:
                return None
            tid, off, ln, run = entries[hi]
            if run == 0:  # a leaf directory
                offset, length = self.leaf_offset + off, ln
                continue
            return (self.data_offset + off, ln) if tile_id - tid < run else None
        return None

    def size(self, z: int, x: int, y: int) -> int:
        found = self._find(zxy_to_tileid(z, x, y))
        return found[1] if found else 0

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        """The tile's bytes (decompressed), or None when the archive has no such tile."""
        found = self._find(zxy_to_tileid(z, x, y))
        return None if found is None else self._unpack(self._read(*found), self.tile_compression)
