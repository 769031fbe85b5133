-- Stage one file of location reports: trim, cast and validate every data row.
-- Grain: one row per data row of raw_reports (_row is 1-based, header excluded).
-- reject is null for a valid row, else {r: reason code, d: offending value}; the
-- first failing rule wins, in the order written below.
-- person_ref is already pseudonymised in raw_reports (ingest does that first).
-- params: not_after, report_sources, report_kinds
create or replace temp table stg_reports as
with src as (
    select * from raw_reports
),

typed as (
    select
        _row,
        clean(report_id) as report_id,
        try_cast(clean(observed_at) as timestamptz) as observed_at,
        try_cast(clean(lat) as double) as lat,
        try_cast(clean(lon) as double) as lon,
        cast(null as ubigint) as cell,                     -- filled by the H3 step
        lower(clean(source)) as source,
        lower(clean(kind)) as kind,
        clean(episode_id) as episode_id,
        clean(person_ref) as person_key,
        clean(grading) as grading,
        coalesce(
            case when clean(report_id) is null then reject('missing_required:report_id', null) end,
            case when clean(observed_at) is null then reject('missing_required:observed_at', null) end,
            case when clean(lat) is null then reject('missing_required:lat', null) end,
            case when clean(lon) is null then reject('missing_required:lon', null) end,
            timestamp_problem(observed_at, 'observed_at', $not_after),
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
