-- reported_at of superseded report versions (see 022_location_reports_reported_at.sql); history rows
-- are written by name (pipelines.ingest), so the column's position does not matter.
alter table location_reports_history add column reported_at timestamptz
