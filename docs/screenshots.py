"""README screenshots on a real city: Denver's published offences, one weekly run, three pictures.

Run from the repository root (needs ``../shared/data/real`` and Chromium; about a minute)::

    .venv/bin/python docs/screenshots.py [--week 2019-W24] [--real ../shared/data/real]

It builds a throw-away store from the Denver files exactly as the README's quick start does
(neighbourhoods as boundary and as the ``neighbourhoods`` area layer), runs ``hotspots weekly
--units areas``, and writes ``docs/img/report.png`` (the report's first screen, 1280 x 900),
``docs/img/analyst_map.png`` (1280 x 900) and ``docs/img/patrol_sheet.png`` (the patrol map in
Chromium's print layout, A4 landscape at 96 dpi: 1123 x 794). Nothing here is shipped or tested;
it only refreshes the README's pictures.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.browser.cdp import Browser  # noqa: E402  (the project's small Chromium client)

OUT = ROOT / "docs" / "img"
COLUMNS = "report_id=OFFENSE_ID,observed_at=FIRST_OCCURRENCE_DATE,lat=GEO_LAT,lon=GEO_LON"


def _hotspots(*args: str) -> None:
    """One CLI call; stop with its own message when it fails."""
    done = subprocess.run([str(ROOT / ".venv" / "bin" / "hotspots"), *args], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"Error: hotspots {args[0]} failed: {done.stderr.strip() or done.stdout.strip()}")


def denver_week(real: Path, week: str, work: Path) -> Path:
    """The weekly run folder of ``week`` on a fresh Denver store under ``work``."""
    db, hoods = str(work / "denver.duckdb"), str(real / "denver" / "statistical_neighborhoods.geojson")
    _hotspots("init", "--db", db, "--tz", "America/Denver")
    _hotspots("ingest", "boundary", hoods, "--db", db, "--drop-identifying-columns")
    _hotspots("ingest", "areas", hoods, "--db", db, "--layer-name", "neighbourhoods", "--name-column", "NBHD_NAME")
    _hotspots("ingest", "reports", str(real / "denver" / "denver_offenses.csv.gz"), "--db", db,
              "--columns", COLUMNS, "--date-format", "%m/%d/%Y %I:%M:%S %p", "--set", "source=police")
    _hotspots("weekly", "--db", db, "--week", week, "--out", str(work / "out"), "--units", "areas")
    return work / "out" / week


def shoot(folder: Path, chromium: str, profile: Path) -> list[Path]:
    """The three README pictures of one weekly run folder."""
    analyst = next(folder.rglob("analyst_map.html"))
    made = []
    with Browser(chromium, profile / "a", width=1280, height=900) as b:
        b.open(folder / "report.html", settle_s=1.0)
        made.append(b.screenshot(OUT / "report.png"))
        b.open(analyst, settle_s=2.0)
        made.append(b.screenshot(OUT / "analyst_map.png"))
    with Browser(chromium, profile / "p", width=1123, height=794) as b:
        b.call("Emulation.setEmulatedMedia", {"media": "print"})
        b.open(folder / "patrol_map.html", settle_s=2.0)
        made.append(b.screenshot(OUT / "patrol_sheet.png"))
    return made


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--week", default="2019-W24")
    ap.add_argument("--real", type=Path, default=ROOT.parent / "shared" / "data" / "real")
    args = ap.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("Error: Chromium is needed (apt-get install chromium).")
    if not (args.real / "denver" / "denver_offenses.csv.gz").is_file():
        sys.exit(f"Error: no Denver data under {args.real} (see ../shared/data/real/README.md).")
    with tempfile.TemporaryDirectory() as tmp:
        folder = denver_week(args.real, args.week, Path(tmp))
        for path in shoot(folder, chromium, Path(tmp) / "profiles"):
            print(path.relative_to(ROOT))


if __name__ == "__main__":
    main()
