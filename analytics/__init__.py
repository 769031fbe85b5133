"""Pure computation for safeguard-hotspots: arrays and DataFrames in, results out.

Nothing in this package touches DuckDB, files or the network; ``pipelines`` does I/O.
"""

__version__ = "0.1.0"
