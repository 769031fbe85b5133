-- Stage one file of disruption activities: trim, cast and validate every data row.
-- A location is one of lat/lon, h3_cell (hex) or place_id.
-- Grain: one row per data row of raw_disruptions. reject as in stg_reports.
-- params: not_before, not_after, date_order, excel_dates, max_field_chars, disruption_kinds
create or replace temp table stg_disruptions as
with src as (
    select * from raw_disruptions
),

typed as (
    select
        _row,
        clean(activity_id) as activity_id,
        norm_enum(kind) as kind,
        parse_ts("start", $date_order, $excel_dates) as start_at,
        parse_ts("end", $date_order, $excel_dates) as end_at,
        try_cast(clean(lat) as double) as lat,
        try_cast(clean(lon) as double) as lon,
        lower(clean(h3_cell)) as h3_cell,                  -- converted by the H3 step
        cast(null as ubigint) as cell,
        clean(place_id) as place_id,
        coalesce(
            too_long(activity_id, 'activity_id', $max_field_chars),
            too_long(kind, 'kind', $max_field_chars),
            too_long("start", 'start', $max_field_chars),
            too_long("end", 'end', $max_field_chars),
            too_long(lat, 'lat', $max_field_chars),
            too_long(lon, 'lon', $max_field_chars),
            too_long(h3_cell, 'h3_cell', $max_field_chars),
            too_long(place_id, 'place_id', $max_field_chars),
            case when clean(activity_id) is null then reject('missing_required:activity_id', null) end,
            case when clean(kind) is null then reject('missing_required:kind', null) end,
            case when clean("start") is null then reject('missing_required:start', null) end,
            case
                when clean(lat) is null and clean(lon) is null and clean(h3_cell) is null and clean(place_id) is null
                    then reject('missing_required:location', 'one of lat/lon, h3_cell, place_id')
            end,
            ts_problem("start", 'start', $not_before, $not_after, $date_order, $excel_dates),
            case
                when clean("end") is not null then ts_problem("end", 'end', $not_before, cast('infinity' as timestamptz), $date_order, $excel_dates)
            end,
            case
                when parse_ts("end", $date_order, $excel_dates) < parse_ts("start", $date_order, $excel_dates)
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
