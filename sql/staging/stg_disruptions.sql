-- Stage one file of disruption activities: trim, cast and validate every data row.
-- A location is one of lat/lon, h3_cell (hex) or place_id.
-- Grain: one row per data row of raw_disruptions. reject and adjust as in stg_reports; start and
-- end may be dates without a clock time (a disruption period is often given in days).
-- cell: an h3_cell given is taken at $resolution (its parent; bad_h3_cell when it is not a
-- valid cell or finer than that); otherwise H3 of lat/lon at $resolution, computed here.
-- row_hash: content hash of each valid row as stored; row_hash_disruptions() is defined by ingest
-- from the store's columns (pipelines.ingest.row_hash_sql, which rekey uses too) just before this runs.
-- params: not_before, not_after, date_order, excel_dates, max_field_chars, disruption_kinds, resolution
create or replace temp table stg_disruptions as
with src as (
    select * from raw_disruptions
),

typed as (
    select
        _row,
        clean(activity_id) as activity_id,
        norm_enum(kind, $disruption_kinds) as kind,
        parse_ts("start", $date_order, $excel_dates) as start_at,
        parse_ts("end", $date_order, $excel_dates) as end_at,
        try_cast(clean(lat) as double) as lat,
        try_cast(clean(lon) as double) as lon,
        lower(clean(h3_cell)) as h3_cell,                  -- converted in hexed
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
            id_problem(_bad_id),
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
        ) as reject,
        case when ambiguous_local("start", $date_order, $excel_dates) or ambiguous_local("end", $date_order, $excel_dates)
            then ['flagged:ambiguous_local_time'] end as adjust
    from src
),

hexed as (
    select * replace (
        case when reject is null and h3_cell is not null
            then h3_cell_to_parent(h3_hex_to_cell(h3_cell), $resolution) end as cell)
    from typed
),

checked as (
    select * replace (
        coalesce(reject, case when h3_cell is not null and cell is null
                              then reject('bad_h3_cell', h3_cell) end) as reject)
    from hexed
),

final as (
    select * replace (coalesce(cell, h3_cell(case when reject is null then lat end, lon, $resolution)) as cell)
    from checked
)

select *, case when reject is null then row_hash_disruptions(final) end as row_hash
from final
