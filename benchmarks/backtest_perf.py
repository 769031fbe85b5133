"""Wall time of a 26-origin ``hotspots backtest`` on one year of SYNTHETIC reports (issue 14 target: ≤ 5 min at 1 M).

``python -m benchmarks.backtest_perf [--reports 1000000] [--origins 26] [--results benchmarks/RESULTS.md]``

Generates the synthetic city (:func:`pipelines.synthesize.write_synthetic_city`, 52 weeks,
Parquet), ingests it (timed, not in the figure), then times :func:`pipelines.backtest.run_backtest`
with the product defaults (forecast, plan builder, safeguarding rules at every origin). The
baseline in the same run is the target itself (300 s), as for ``hotspots weekly`` in
:mod:`benchmarks.figures`; the ratio is target ÷ measured (> 1 = within target). The process's
CPU time over the backtest (all threads) is recorded too: on a shared machine the wall time
depends on what else runs, the CPU time much less (the fits run on one thread).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from benchmarks.common import Row, replace_results_section

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
SECTION = "## Backtest wall time (issue 14)"
TARGET_S = 300.0
CITY_ORDER = (("boundary", "boundary"), ("placements", "placements"), ("episodes", "episodes"),
              ("reports", "location_reports"))


def measure(n_reports: int, origins: int, weeks: int = 52, seed: int = 11, log=print) -> tuple[Row, dict]:
    """Generate, ingest and backtest; return the figure and the run's facts."""
    from analytics.privacy import key_fingerprint
    from benchmarks._ingest_child import KEY
    from pipelines import store as store_mod
    from pipelines.backtest import run_backtest
    from pipelines.ingest import ingest_file
    from pipelines.synthesize import write_synthetic_city

    facts: dict = {}
    with tempfile.TemporaryDirectory(prefix="hotspots-backtest-") as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        paths = write_synthetic_city(tmp / "city", seed=seed, weeks=weeks, scale=n_reports, fmt="parquet")
        facts["generate_s"] = time.perf_counter() - t0
        log(f"generated in {facts['generate_s']:.0f} s")
        db = tmp / "store.duckdb"
        store_mod.init_store(db, key_fingerprint=key_fingerprint(KEY))
        t0 = time.perf_counter()
        rows = 0
        with store_mod.opened(db) as st:
            for kind, key in CITY_ORDER:
                if key in paths and paths[key].exists():
                    rows += ingest_file(st, kind, paths[key], KEY).read
        facts["ingest_s"] = time.perf_counter() - t0
        facts["rows_read"] = rows
        log(f"ingested {rows:,} rows in {facts['ingest_s']:.0f} s")
        done = []
        with store_mod.opened(db, read_only=True) as st:
            t0, c0 = time.perf_counter(), time.process_time()
            result = run_backtest(st, weeks=origins, out_dir=tmp / "bt",
                                  progress=lambda i, n: (done.append(i), log(f"  origin {i}/{n} "
                                                                             f"({time.perf_counter() - t0:.0f} s)")))
            facts["backtest_s"] = time.perf_counter() - t0
            facts["backtest_cpu_s"] = time.process_time() - c0
        facts["cells"] = result["n_cells"]
        facts["origins"] = result["origins"]["n"]
        facts["headline"] = result["headline"]
        facts["models"] = json.dumps(result["choices"][-1])
    row = Row(f"`hotspots backtest`, {origins} origins, one year ({weeks} weeks) of {n_reports:,} SYNTHETIC reports: "
              "run_backtest wall time (baseline = the 300 s target itself)", "s", facts["backtest_s"], TARGET_S,
              "lower", 1.0, "≤ 300 s at 1 M reports",
              notes=[f"CPU time of the backtest (all threads of the process): {facts['backtest_cpu_s']:.0f} s",
                     f"{facts['cells']:,} cells; {facts['rows_read']:,} rows read; generated in "
                     f"{facts['generate_s']:.0f} s, ingested in {facts['ingest_s']:.0f} s (not in the figure)",
                     f"headline: {facts['headline']}"])
    return row, facts


def _markdown(row: Row, header: str) -> str:
    met = "yes" if row.met else "no"
    return "\n".join([SECTION, "", header, "", "| figure | ours | target | ratio (target ÷ ours) | met? |",
                      "|---|---|---|---|---|",
                      f"| {row.figure} | {row.ours:.0f} s | {row.target} | {row.ratio:.2f} | {met} |", ""]
                     + [f"- {n}" for n in row.notes]) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.backtest_perf", description=__doc__.splitlines()[0])
    ap.add_argument("--reports", type=int, default=1_000_000)
    ap.add_argument("--origins", type=int, default=26)
    ap.add_argument("--results", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    row, facts = measure(args.reports, args.origins)
    header = (f"Written by `python -m benchmarks.backtest_perf --reports {args.reports}` on "
              f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC ({time.perf_counter() - t0:.0f} s in all; a shared "
              "2-core machine, other work running).")
    text = _markdown(row, header)
    print(text)
    replace_results_section(text, args.results, SECTION)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
