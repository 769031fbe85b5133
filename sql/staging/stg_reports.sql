-- Stage one file of location reports: trim, cast and validate every data row.
-- Grain: one row per data row of raw_reports (_row is 1-based, header excluded).
-- reject is null for a valid row, else {r: reason code, d: offending value}; the
-- first failing rule wins, in the order written below.
-- person_ref is already pseudonymised in raw_reports (ingest does that first).
-- Timestamps: see parse_ts / ts_problem (date order, Excel day numbers, 1970..now window).
-- params: not_before, not_after, date_order, excel_dates, max_field_chars, report_sources, report_kinds
create or replace temp table stg_reports as
with src as (
    select * from raw_reports
),

typed as (
    select
        _row,
        clean(report_id) as report_id,
        parse_ts(observed_at, $date_order, $excel_dates) as observed_at,
        try_cast(clean(lat) as double) as lat,
        try_cast(clean(lon) as double) as lon,
        cast(null as ubigint) as cell,                     -- filled by the H3 step
        norm_enum(source) as source,
        norm_enum(kind) as kind,
        clean(episode_id) as episode_id,
        clean(person_ref) as person_key,
        clean(grading) as grading,
        coalesce(
            too_long(report_id, 'report_id', $max_field_chars),
            too_long(observed_at, 'observed_at', $max_field_chars),
            too_long(lat, 'lat', $max_field_chars),
            too_long(lon, 'lon', $max_field_chars),
            too_long(source, 'source', $max_field_chars),
            too_long(kind, 'kind', $max_field_chars),
            too_long(episode_id, 'episode_id', $max_field_chars),
            too_long(person_ref, 'person_ref', $max_field_chars),
            too_long(grading, 'grading', $max_field_chars),
            case when clean(report_id) is null then reject('missing_required:report_id', null) end,
            case when clean(observed_at) is null then reject('missing_required:observed_at', null) end,
            case when clean(lat) is null then reject('missing_required:lat', null) end,
            case when clean(lon) is null then reject('missing_required:lon', null) end,
            ts_problem(observed_at, 'observed_at', $not_before, $not_after, $date_order, $excel_dates),
            coord_problem(lat, lon, ''),
            enum_problem(source, $report_sources, 'source'),
            enum_problem(kind, $report_kinds, 'kind')
        ) as reject
    from src
),

final as (
    select * from typed
)

select * from final
