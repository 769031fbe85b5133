-- Stage one file of disruption activities: trim, cast and validate every data row.
-- A location is one of lat/lon, h3_cell (hex) or place_id.
-- Grain: one row per data row of raw_disruptions. reject as in stg_reports.
-- params: not_after, disruption_kinds
create or replace temp table stg_disruptions as
with src as (
    select * from raw_disruptions
),

typed as (
    select
        _row,
        clean(activity_id) as activity_id,
        lower(clean(kind)) as kind,
        try_cast(clean("start") as timestamptz) as start_at,
        try_cast(clean("end") as timestamptz) as end_at,
        try_cast(clean(lat) as double) as lat,
        try_cast(clean(lon) as double) as lon,
        lower(clean(h3_cell)) as h3_cell,                  -- converted by the H3 step
        cast(null as ubigint) as cell,
        clean(place_id) as place_id,
        coalesce(
            case when clean(activity_id) is null then reject('missing_required:activity_id', null) end,
            case when clean(kind) is null then reject('missing_required:kind', null) end,
            case when clean("start") is null then reject('missing_required:start', null) end,
            case
                when clean(lat) is null and clean(lon) is null and clean(h3_cell) is null and clean(place_id) is null
                    then reject('missing_required:location', 'one of lat/lon, h3_cell, place_id')
            end,
            timestamp_problem("start", 'start', $not_after),
            case
                when clean("end") is not null and try_cast(clean("end") as timestamptz) is null
                    then reject('bad_timestamp', 'end=' || clean("end"))
                when try_cast(clean("end") as timestamptz) < try_cast(clean("start") as timestamptz)
                    then reject('end_before_start', clean("end") || ' < ' || clean("start"))
            end,
            coord_problem(lat, lon, ''),
            enum_problem(kind, $disruption_kinds, 'kind')
        ) as reject
    from src
),

final as (
    select * from typed
)

select * from final
