"""Pure computation for safeguard-hotspots: arrays and DataFrames in, results out.

Nothing in this package touches DuckDB, files or the network; ``pipelines`` does I/O.
"""

#: The version, one home: pyproject.toml reads it from here (hatch dynamic version).
__version__ = "0.1.0"
