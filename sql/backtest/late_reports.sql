-- Location reports reported (reported_at) in a later local ISO week than the one they were observed in:
-- the only reports a backtest origin between those weeks had not seen yet.
-- Grain: one row per such report at the cube's resolution: cell, observed_week, reported_week (local
-- Mondays), kind, source. Used by pipelines/as_reported.py (late_reports; the backtest and
-- cube.as_reported_arrays): at origin week t, a report with observed_week <= t < reported_week is removed
-- from what the forecast and the baselines see.
-- params: resolution, store_resolution, tz
select
    case when $resolution = $store_resolution then cell else h3_cell(lat, lon, $resolution) end as cell,
    iso_week_start(observed_at, $tz) as observed_week,
    iso_week_start(reported_at, $tz) as reported_week,
    kind,
    source
from location_reports
where reported_at is not null
    and iso_week_start(reported_at, $tz) > iso_week_start(observed_at, $tz)
