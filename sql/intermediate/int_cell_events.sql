-- Every located event, one row each, at the cube's H3 resolution and local ISO week.
-- Grain: one row per event: an episode's last-seen location (episode_started, week of
-- missing_from), an episode's found location (episode_found, week of returned_at or
-- missing_from), a location report (report, week of observed_at).
-- Cells are recomputed from lat/lon when the cube resolution differs from the store's.
-- time_known: false for a report given as a date only (kept out of hour-of-week windows).
-- params: resolution, store_resolution, tz
create or replace temp table int_cell_events as
with episodes_started as (
    select
        'episode_started' as event,
        case when $resolution = $store_resolution then last_seen_cell
             else h3_cell(last_seen_lat, last_seen_lon, $resolution) end as cell,
        iso_week_start(missing_from, $tz) as week_start,
        missing_from as at,
        last_seen_lat as lat, last_seen_lon as lon,
        person_key, placement_key, cast(null as varchar) as source, cast(null as varchar) as kind,
        cse_concern, risk_level, true as time_known
    from episodes
    where last_seen_lat is not null
),

episodes_found as (
    select
        'episode_found' as event,
        case when $resolution = $store_resolution then found_cell
             else h3_cell(found_lat, found_lon, $resolution) end as cell,
        iso_week_start(coalesce(returned_at, missing_from), $tz) as week_start,
        coalesce(returned_at, missing_from) as at,
        found_lat, found_lon,
        person_key, placement_key, null, null,
        cse_concern, risk_level, true
    from episodes
    where found_lat is not null
),

reports as (
    select
        'report' as event,
        case when $resolution = $store_resolution then r.cell
             else h3_cell(r.lat, r.lon, $resolution) end as cell,
        iso_week_start(r.observed_at, $tz) as week_start,
        r.observed_at as at,
        r.lat, r.lon,
        coalesce(r.person_key, e.person_key) as person_key, e.placement_key, r.source, r.kind,
        e.cse_concern, e.risk_level, r.time_known
    from location_reports r
    left join episodes e on e.episode_id = r.episode_id
),

final as (
    select * from episodes_started
    union all select * from episodes_found
    union all select * from reports
)

select * from final
