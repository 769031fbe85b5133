"""Write the vendored excerpts of the real public data (see README.md here).

Run from the repo root when ``../shared/data/real`` exists:
``.venv/bin/python tests/data/real_excerpt/make_excerpt.py``. Rows are copied as published
(Denver's lines byte for byte; Chicago's features and SF's records unchanged), only fewer.
"""

from __future__ import annotations

import gzip
import json
import shutil
import tempfile
import zipfile
from pathlib import Path

import geopandas as gpd

HERE = Path(__file__).resolve().parent
REAL = HERE.parents[3] / "shared" / "data" / "real"
SF_ZIP = REAL / "sf2012" / "SFCrime_July_Dec2012.zip"
SF_DIR = "SFCrime_July_Dec2012 2/Crime Events"


def denver(n_first: int = 260, n_missing: int = 20, n_zero: int = 20) -> None:
    """The first rows, plus rows without coordinates and rows at (almost) 0,0, in file order."""
    with gzip.open(REAL / "denver" / "denver_offenses.csv.gz", "rt", encoding="utf-8", newline="") as fh:
        lines = fh.readlines()
    header, rows = lines[0], lines[1:]
    lat = header.strip().split(",").index("GEO_LAT")

    def field(line: str) -> str:
        import csv
        return next(csv.reader([line]))[lat]

    missing = [i for i, ln in enumerate(rows) if not field(ln)][:n_missing]
    zero = [i for i, ln in enumerate(rows) if field(ln) and abs(float(field(ln))) < 0.001][:n_zero]
    keep = sorted(set(range(n_first)) | set(missing) | set(zero))
    with open(HERE / "denver_offenses_excerpt.csv.gz", "wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz:
            gz.write((header + "".join(rows[i] for i in keep)).encode("utf-8"))


def chicago(n: int = 40) -> None:
    data = json.loads((REAL / "chicago" / "chicago_carjackings_2020.geojson").read_text(encoding="utf-8"))
    data["features"] = data["features"][:n]
    (HERE / "chicago_carjackings_excerpt.geojson").write_text(json.dumps(data, indent=0) + "\n", encoding="utf-8")


def sf(layers: dict[str, int] | None = None) -> None:
    """Two point layers (the first rows of each) in their published CRS, zipped with a macOS
    ``__MACOSX`` entry like the original."""
    layers = layers or {"sf_robbery": 40, "sf_drugs": 15}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "SFCrime_excerpt" / "Crime Events"
        folder.mkdir(parents=True)
        for name, n in layers.items():
            frame = gpd.read_file(f"zip://{SF_ZIP}!{SF_DIR}/{name}.shp", rows=n)
            for col in ("Date", "Time"):  # kept as DBF date fields, as published
                frame[col] = frame[col].dt.date
            frame.to_file(folder / f"{name}.shp")
        with zipfile.ZipFile(HERE / "sf2012_excerpt.zip", "w", zipfile.ZIP_DEFLATED) as out:
            for path in sorted(folder.iterdir()):
                info = zipfile.ZipInfo(f"SFCrime_excerpt/Crime Events/{path.name}", date_time=(2013, 1, 24, 0, 0, 0))
                out.writestr(info, path.read_bytes(), zipfile.ZIP_DEFLATED)
            with zipfile.ZipFile(SF_ZIP) as src:
                junk = src.read("__MACOSX/SFCrime_July_Dec2012 2/Crime Events/._sf_robbery.shp")
            info = zipfile.ZipInfo("__MACOSX/SFCrime_excerpt/Crime Events/._sf_robbery.shp",
                                   date_time=(2013, 1, 24, 0, 0, 0))
            out.writestr(info, junk)


if __name__ == "__main__":
    if not REAL.is_dir():
        raise SystemExit(f"{REAL} not found: the excerpts are made from ../shared/data/real.")
    denver()
    chicago()
    sf()
    for path in sorted(HERE.iterdir()):
        print(f"{path.name:40s} {path.stat().st_size:>8d} bytes")
