-- time_known of superseded report versions (see 020_location_reports_time_known.sql); history rows
-- are written by name (pipelines.ingest), so the column's position does not matter.
alter table location_reports_history add column time_known boolean default true
