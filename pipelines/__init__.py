"""Everything that touches files, the DuckDB store or the user."""
