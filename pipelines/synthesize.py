"""Write the SYNTHETIC city to files: inputs in the contract's shape plus ground truth.

``write_synthetic_city`` is what ``hotspots synth`` calls. Everything it writes is
byte-for-byte reproducible from (seed, weeks, scale, fmt, chunk sizes): reports are
generated and written a block of weeks at a time (appending CSV, or one Parquet row
group per block), so the large scale (>= 10 M reports) streams in bounded memory.

Parquet columns mirror the CSV: timestamps are ISO 8601 strings with the local offset
(so planted unparseable timestamps can exist in both formats), coordinates float64,
flags boolean, age int64.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from analytics import synth
from analytics.errors import InvalidInputError

FORMATS = ("csv", "parquet")
TARGET_REPORTS_PER_CHUNK = 500_000
EPISODE_ROWS_PER_CHUNK = 250_000

_BOOL = pa.bool_()
_STR = pa.string()
_F64 = pa.float64()
SCHEMAS = {
    "episodes": pa.schema([(c, _STR) for c in synth.COLUMNS["episodes"][:7]]
                          + [(c, _F64) for c in ("last_seen_lat", "last_seen_lon", "found_lat", "found_lon")]
                          + [("risk_level", _STR), ("cse_concern", _BOOL), ("rhi_completed", _BOOL),
                             ("age_years", pa.int64()), ("gender", _STR)]
                          + [(c, _BOOL) for c in ("disability", "first_nations", "cald", "lgbtqia")]),
    "location_reports": pa.schema([("report_id", _STR), ("observed_at", _STR), ("lat", _F64), ("lon", _F64)]
                                  + [(c, _STR) for c in ("source", "kind", "episode_id", "person_ref", "grading")]),
    "disruptions": pa.schema([(c, _STR) for c in ("activity_id", "kind", "start", "end")]
                             + [("lat", _F64), ("lon", _F64), ("place_id", _STR)]),
    "placements": pa.schema([("placement_ref", _STR), ("placement_type", _STR), ("lat", _F64), ("lon", _F64)]),
}


class _TableWriter:
    """Append DataFrames to one CSV or Parquet file with a fixed schema (deterministic bytes)."""

    def __init__(self, path: Path, schema: pa.Schema, fmt: str):
        self.path, self.schema, self.fmt = path, schema, fmt
        self._pq: pq.ParquetWriter | None = None
        self._fh = None

    def __enter__(self) -> "_TableWriter":
        if self.fmt == "parquet":
            self._pq = pq.ParquetWriter(self.path, self.schema, compression="zstd", version="2.6",
                                        write_statistics=True, store_schema=False)
        else:
            self._fh = open(self.path, "wb")
            self._fh.write((",".join(self.schema.names) + "\n").encode())
        return self

    def write(self, df: pd.DataFrame) -> None:
        table = pa.Table.from_pandas(df[self.schema.names], schema=self.schema, preserve_index=False)
        table = table.replace_schema_metadata(None)
        if self._pq is not None:
            self._pq.write_table(table, row_group_size=max(1, table.num_rows))
        else:
            pacsv.write_csv(table, self._fh, pacsv.WriteOptions(include_header=False, quoting_style="none"))

    def __exit__(self, *exc) -> None:
        if self._pq is not None:
            self._pq.close()
        if self._fh is not None:
            self._fh.close()


def _write_json(path: Path, obj: dict) -> None:
    path.write_text(json.dumps(obj, sort_keys=True, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _check_fmt(fmt: str) -> str:
    key = str(fmt).strip().lower() if isinstance(fmt, str) else fmt
    if key not in FORMATS:
        raise InvalidInputError(f"Unknown format {fmt!r}: use one of {', '.join(FORMATS)}.")
    return key


def default_chunk_weeks(n_reports: int, weeks: int) -> int:
    """Weeks per report chunk so that a chunk holds about half a million reports."""
    per_week = max(1, n_reports // weeks)
    return int(max(1, min(weeks, TARGET_REPORTS_PER_CHUNK // per_week)))


def write_synthetic_city(out_dir: Path, seed: int = 7, weeks: int = 104, scale: str | int = "small",
                         fmt: str = "csv", progress: Callable[[int, int], None] | None = None,
                         *, chunk_weeks: int | None = None,
                         episode_rows_per_chunk: int = EPISODE_ROWS_PER_CHUNK,
                         plant_repeat_home: bool = False) -> dict[str, Path]:
    """Write the SYNTHETIC city's inputs and ground truth into ``out_dir``; return the paths.

    ``scale``: "small" (~25k reports), "medium" (~1M), "large" (10M), or an integer number
    of valid location reports; the file also holds the planted bad and duplicate rows
    (ground_truth.json ``counts`` gives both figures). ``progress(done, total)`` is called
    after each chunk. ``chunk_weeks`` sets weeks per report chunk (memory bound; does not
    change CSV content). ``plant_repeat_home`` plants one young person missing from, and found
    at, their own residential placement every second day (see :func:`analytics.synth.build_city`).
    """
    fmt = _check_fmt(fmt)
    n_reports = synth.resolve_scale(scale)
    if chunk_weeks is not None and (isinstance(chunk_weeks, bool) or not isinstance(chunk_weeks, (int, np.integer))
                                    or chunk_weeks < 1):
        raise InvalidInputError(f"chunk_weeks must be a positive integer; received {chunk_weeks!r}.")
    city = synth.build_city(seed=seed, weeks=weeks, scale=n_reports, plant_repeat_home=plant_repeat_home)
    if chunk_weeks is None:
        chunk_weeks = default_chunk_weeks(n_reports, city.weeks)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ext = "parquet" if fmt == "parquet" else "csv"
    paths = {
        "episodes": out_dir / f"episodes.{ext}", "location_reports": out_dir / f"location_reports.{ext}",
        "disruptions": out_dir / f"disruptions.{ext}", "places": out_dir / "places.geojson",
        "boundary": out_dir / "boundary.geojson", "placements": out_dir / "placements.csv",
        "ground_truth": out_dir / "ground_truth.json",
    }
    n_ep_chunks = -(-len(city.ep) // episode_rows_per_chunk)
    total = n_ep_chunks + -(-city.weeks // chunk_weeks) + 1
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    with _TableWriter(paths["episodes"], SCHEMAS["episodes"], fmt) as w:
        for frame in city.episode_frames(episode_rows_per_chunk):
            w.write(frame)
            tick()
    with _TableWriter(paths["location_reports"], SCHEMAS["location_reports"], fmt) as w:
        for frame in city.iter_report_frames(chunk_weeks):
            w.write(frame)
            tick()
    with _TableWriter(paths["disruptions"], SCHEMAS["disruptions"], fmt) as w:
        w.write(city.disruptions_frame())
    with _TableWriter(paths["placements"], SCHEMAS["placements"], "csv") as w:
        w.write(city.placements_frame())
    _write_json(paths["places"], city.places_geojson())
    _write_json(paths["boundary"], city.boundary_geojson())
    truth = city.ground_truth()
    truth["files"] = {k: p.name for k, p in sorted(paths.items())}
    truth["format"] = fmt
    _write_json(paths["ground_truth"], truth)
    tick()
    return paths
