"""Benchmark suite: ``python -m benchmarks.run [--quick|--full] [--json FILE] [--only NAME...] [--results PATH]``.

Each figure is measured in the same run as its baseline. The run writes a markdown table
to ``benchmarks/RESULTS.md`` (or ``--results PATH``) with the machine's cores, memory,
Python and library versions, and ``--json FILE`` writes the rows as a JSON list of
``{"figure", "unit", "ours", "baseline", "ratio", "target", "met"}``.

``ratio`` > 1 always means ours is better (throughput: ours/baseline; time or memory:
baseline/ours). Ratios are reported, never asserted.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from benchmarks.common import Row, error_row, fmt_num, loadavg, machine_info
from benchmarks.figures import DEFAULT, FIGURES, FULL, NOT_YET, QUICK, Sizes

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def run_figures(sizes: Sizes, only: list[str] | None = None, log=print) -> tuple[list[Row], dict]:
    """Run the selected figures; a figure that fails gives an error row instead of stopping the run."""
    names = only or list(FIGURES)
    unknown = [n for n in names if n not in FIGURES]
    if unknown:
        raise SystemExit(f"Unknown figure(s) {', '.join(unknown)}; choose from: {', '.join(FIGURES)}")
    rows: list[Row] = []
    timings: dict[str, dict] = {}
    for name in names:
        load_before = loadavg()
        t0 = time.perf_counter()
        try:
            got = FIGURES[name](sizes)
        except Exception as exc:  # noqa: BLE001 - report, keep measuring the others
            got = [error_row(f"{name} ({sizes.label} sizes)", exc)]
        wall = time.perf_counter() - t0
        timings[name] = {"wall_s": wall, "load_before": load_before, "load_after": loadavg()}
        for row in got:
            log(f"[{name} {wall:6.1f} s] {row.figure}: ours {fmt_num(row.ours)} {row.unit}, "
                f"baseline {fmt_num(row.baseline)}, ratio {fmt_num(row.ratio)}, met {row.met}")
        rows.extend(got)
    return rows, timings


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|")


def render_markdown(rows: list[Row], timings: dict, sizes: Sizes, info: dict, total_s: float,
                    command: str) -> str:
    v = info["versions"]
    lines = [
        "# Benchmark results",
        "",
        f"Written by `{command}` on {info['date']} ({sizes.label} sizes, whole run {total_s:.0f} s).",
        "",
        f"Machine: {info['cpu_count']} cores (os.cpu_count), {info['mem_total_gib']} GiB memory (/proc/meminfo), "
        f"Python {info['python']}, {info['platform']}.",
        "Versions: " + ", ".join(f"{k} {v[k]}" for k in v) + ".",
        "",
        "`ratio` > 1 always means ours is better: ours/baseline for throughputs (rows/s), baseline/ours for "
        "times (s) and memory (GB). `met?` compares the ratio with the target. Every baseline is measured in "
        "the same run as ours, except where the figure says the baseline is a fixed target or limit, or "
        "extrapolated from a measured subsample.",
        "",
        "| # | figure | unit | ours | baseline | ratio | target | met? |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for i, r in enumerate(rows, 1):
        met = "-" if r.met is None else ("yes" if r.met else "**no**")
        ratio = "-" if r.ratio is None else f"{r.ratio:.2f}×"
        lines.append(f"| {i} | {_cell(r.figure)} | {r.unit} | {fmt_num(r.ours)} | {fmt_num(r.baseline)} | "
                     f"{ratio} | {_cell(r.target)} | {met} |")
    for fig, target in NOT_YET:
        lines.append(f"| - | {_cell(fig)} | - | not yet measured (command not built) | - | - | {target} | - |")
    lines += ["", "## Notes", ""]
    for i, r in enumerate(rows, 1):
        for note in r.notes:
            lines.append(f"- row {i}: {note}")
    lines += ["", "## Wall time and load per figure", "",
              "Load average (1 / 5 / 15 min) before and after each figure; other work on the machine slows "
              "every number above.", "",
              "| figure | wall s | load before | load after |", "|---|---|---|---|"]
    for name, t in timings.items():
        lines.append(f"| {name} | {t['wall_s']:.1f} | {t['load_before']} | {t['load_after']} |")
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None, sizes_override: Sizes | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.splitlines()[0])
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true",
                      help="small sizes (under 3 minutes on 2 cores; weekly on 100k reports)")
    mode.add_argument("--full", action="store_true", help="issue 6 target sizes: ingest/cube at 10 M reports, `hotspots weekly` at 5 M")
    ap.add_argument("--json", type=Path, metavar="FILE", help="write the rows as a JSON list")
    ap.add_argument("--only", nargs="+", metavar="NAME", help=f"figures to run: {', '.join(FIGURES)}")
    ap.add_argument("--results", type=Path, default=RESULTS, metavar="PATH",
                    help=f"markdown output (default {RESULTS.relative_to(RESULTS.parent.parent)})")
    args = ap.parse_args(argv)
    sizes = sizes_override or (QUICK if args.quick else FULL if args.full else DEFAULT)
    info = machine_info()
    t0 = time.perf_counter()
    rows, timings = run_figures(sizes, args.only)
    total = time.perf_counter() - t0
    command = "python -m benchmarks.run " + " ".join(argv if argv is not None else sys.argv[1:])
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(render_markdown(rows, timings, sizes, info, total, command.strip()), encoding="utf-8")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps([r.as_json() for r in rows], indent=2), encoding="utf-8")
    print(f"wrote {args.results}" + (f" and {args.json}" if args.json else "") + f" in {total:.1f} s")
    return 1 if any(r.ours is None for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
