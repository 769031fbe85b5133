"""data_samples/ is exactly `hotspots synth --seed 7 --scale small --format csv` (bit for bit)."""

from __future__ import annotations

from pipelines.resources import shipped_dir
from pipelines.synthesize import write_synthetic_city


def test_committed_sample_regenerates_bit_for_bit(tmp_path):
    paths = write_synthetic_city(tmp_path, seed=7, scale="small", fmt="csv")
    sample = shipped_dir("data_samples")
    for name, path in paths.items():
        committed = sample / path.name
        assert committed.is_file(), f"{path.name} missing from data_samples/"
        assert committed.read_bytes() == path.read_bytes(), f"{path.name} differs: regenerate data_samples/"
