-- When a report reached the service (optional; null = known when it happened, at observed_at).
-- A backtest at an origin counts only what had been reported by then (pipelines.cube.as_reported_counts).
-- Added after rows were hashed: row_hash covers it only when it is not null (pipelines.ingest.LATE_COLUMNS),
-- so re-ingesting an older file stays a no-op.
alter table location_reports add column reported_at timestamptz
