"""Run in a fresh process: init a store, ingest one reports file, build the cube; print JSON.

Usage: ``python -m benchmarks._ingest_child STORE PARQUET``. The peak RSS reported is this
process's ``ru_maxrss`` right after ingest (before the cube build), so it measures ingest
alone and nothing the parent process allocated. ``ingest_cpu_s`` (CPU seconds of all
threads) is printed too: on a shared machine it varies far less with the load than wall time.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

from analytics.privacy import key_fingerprint
from pipelines.cube import build_cube
from pipelines.ingest import ingest_file
from pipelines.store import init_store, open_store

KEY = b"benchmark-key-0123456789abcdef0123456789ab"  # 40+ bytes, benchmarks only


def main(store_path: str, data_path: str) -> dict:
    path = Path(store_path)
    init_store(path, key_fingerprint=key_fingerprint(KEY))
    store = open_store(path)
    try:
        t0, cpu0 = time.perf_counter(), time.process_time()
        res = ingest_file(store, "reports", Path(data_path), KEY)
        ingest_s, ingest_cpu_s = time.perf_counter() - t0, time.process_time() - cpu0
        ingest_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t0 = time.perf_counter()
        info = build_cube(store)
        cube_s = time.perf_counter() - t0
        cube_rows = store.con.execute("select count(*) from mart_cell_week_counts").fetchone()[0]
    finally:
        store.close()
    return {
        "ingest_s": ingest_s, "ingest_cpu_s": ingest_cpu_s, "ingest_maxrss_kb": ingest_rss, "cube_s": cube_s,
        "end_maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "read": res.read, "accepted": res.accepted, "rejected": res.rejected, "reasons": res.reasons,
        "cube_cells": info.n_cells, "cube_weeks": info.n_weeks, "cube_rows": int(cube_rows),
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2])))
