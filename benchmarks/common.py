"""Rows, timing and machine facts shared by the benchmark figures.

Ratio direction: every row's ``ratio`` is defined so that **> 1 means ours is
better**. For a throughput (``better="higher"``, e.g. rows/s) it is
``ours / baseline``; for a cost (``better="lower"``, e.g. seconds, GB) it is
``baseline / ours``. ``met`` is ``ratio >= target_ratio``; ``target`` is the
human-readable form of that threshold.
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

#: Keys of one exported row, in order (``--json`` writes exactly these).
ROW_KEYS = ("figure", "unit", "ours", "baseline", "ratio", "target", "met")


@dataclass
class Row:
    """One measured figure: ours and its baseline, measured in the same run."""

    figure: str
    unit: str
    ours: float | None
    baseline: float | None
    better: str                 # "higher" (throughput) or "lower" (time, memory)
    target_ratio: float         # met when ratio >= target_ratio
    target: str                 # human-readable target
    notes: list[str] = field(default_factory=list)
    ratio: float | None = None
    met: bool | None = None

    def __post_init__(self) -> None:
        if self.better not in ("higher", "lower"):
            raise ValueError(f"better must be 'higher' or 'lower'; got {self.better!r}")
        if self.ours is not None and self.baseline is not None and self.ours > 0 and self.baseline > 0:
            self.ratio = ratio_of(self.ours, self.baseline, self.better)
            self.met = bool(self.ratio >= self.target_ratio)

    def as_json(self) -> dict:
        return {k: getattr(self, k) for k in ROW_KEYS}


def ratio_of(ours: float, baseline: float, better: str) -> float:
    """> 1 means ours is better: ours/baseline for throughput, baseline/ours for cost."""
    return ours / baseline if better == "higher" else baseline / ours


def error_row(figure: str, exc: BaseException) -> Row:
    """A figure that could not be measured: no numbers, the error in the notes."""
    first = (str(exc).strip().splitlines() or [""])[0][:200]
    return Row(figure, "-", None, None, "higher", 1.0, "-",
               notes=[f"NOT MEASURED: {type(exc).__name__}: {first}"])


class Timer:
    """``with Timer() as t: ...; t.s`` wall seconds (perf_counter)."""

    def __enter__(self) -> "Timer":
        self._t0 = time.perf_counter()
        self.s = float("nan")
        return self

    def __exit__(self, *exc) -> None:
        self.s = time.perf_counter() - self._t0


def best_of(fn, repeats: int) -> tuple[float, object]:
    """Minimum wall time of ``repeats`` calls (and the last result)."""
    best, out = float("inf"), None
    for _ in range(max(1, repeats)):
        with Timer() as t:
            out = fn()
        best = min(best, t.s)
    return best, out


def fmt_num(x: float | None) -> str:
    if x is None:
        return "-"
    ax = abs(x)
    if ax >= 1e6:
        return f"{x / 1e6:.2f} M"
    if ax >= 1e4:
        return f"{x / 1e3:.0f} k"
    if ax >= 100:
        return f"{x:.0f}"
    if ax >= 1:
        return f"{x:.2f}"
    if ax >= 0.01:
        return f"{x:.3f}"
    return f"{x:.2e}"


def loadavg() -> str:
    try:
        return " / ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:  # pragma: no cover
        return "n/a"


def mem_total_gib() -> float | None:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 1024 / 1024
    except OSError:  # pragma: no cover
        pass
    return None


_LIBS = ("numpy", "scipy", "pandas", "pyarrow", "duckdb", "h3", "h3ronpy", "esda", "libpysal",
         "pymannkendall")


def machine_info() -> dict:
    versions = {}
    for lib in _LIBS:
        try:
            versions[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            versions[lib] = "not installed"
    mem = mem_total_gib()
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu_count": os.cpu_count(),
        "mem_total_gib": round(mem, 1) if mem else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
    }


def replace_results_section(text: str, path: Path, heading: str) -> None:
    """Put ``text`` (a section starting with ``heading``) into RESULTS.md at ``path``: replace that
    section if it is there (up to the next ``## `` heading), else append it; the rest stays as it is."""
    old = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
    if heading in old:
        head, rest = old.split(heading, 1)
        nxt = rest.find("\n## ")
        tail = rest[nxt + 1:] if nxt >= 0 else ""
        new = head + text + ("\n" + tail if tail else "")
    else:
        new = old.rstrip("\n") + "\n\n" + text
    path.write_text(new, encoding="utf-8")
