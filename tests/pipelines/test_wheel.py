"""The built wheel works outside the checkout: SQL and data samples ship inside it."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """Build the wheel and unpack it into a folder away from the checkout."""
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), str(ROOT)],
                   check=True, capture_output=True)
    wheel = next(dist.glob("safeguard_hotspots-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "pipelines/_shipped/sql/marts/mart_cell_week_counts.sql" in names
    assert "pipelines/_shipped/data_samples/ground_truth.json" in names
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
                    str(wheel)], check=True, capture_output=True)
    return target


def _run(target: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(target), "HOTSPOTS_KEY": "k" * 40}
    return subprocess.run([sys.executable, "-m", "pipelines", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_wheel_runs_outside_the_checkout(installed, tmp_path):
    probe = subprocess.run(
        [sys.executable, "-c", "import pipelines, pipelines.resources as r; print(pipelines.__file__); "
                               "print(r.shipped_dir('sql')); print(r.shipped_dir('data_samples'))"],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(installed)}, capture_output=True, text=True, check=True)
    lines = probe.stdout.split()
    assert all(line.startswith(str(installed)) for line in lines), lines
    assert _run(installed, tmp_path, "init", "--db", "w.duckdb").returncode == 0
    samples = installed / "pipelines" / "_shipped" / "data_samples"
    done = _run(installed, tmp_path, "ingest", "reports", str(samples / "location_reports.csv"),
                "--db", "w.duckdb", "--json")
    assert done.returncode == 0, done.stderr
    assert '"accepted"' in done.stdout
    cube = _run(installed, tmp_path, "cube", "--db", "w.duckdb", "--out", "c.parquet")
    assert cube.returncode == 0, cube.stderr
    assert (tmp_path / "c.parquet").stat().st_size > 0
