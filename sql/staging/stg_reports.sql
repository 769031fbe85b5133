-- Stage one file of location reports: trim, cast, validate and H3-index every data row.
-- Grain: one row per data row of raw_reports (_row is 1-based, header excluded).
-- reject is null for a valid row, else {r: reason code, d: offending value}; the
-- first failing rule wins, in the order written below.
-- person_ref is already pseudonymised in raw_reports (ingest does that first).
-- Timestamps: see parse_ts / ts_problem (date order, Excel day numbers, 1970..now window, UTC
-- offsets, daylight-saving gaps). A date without a clock time is kept at local midnight with
-- time_known = false (flagged date_without_time): it counts in its day's week but never in the
-- hour-of-week patrol windows. adjust: 'flagged:ambiguous_local_time' for a local time a
-- daylight-saving change repeats (kept, counted by ingest). Identifiers: id_problem (bad_id:<col>).
-- reported_at (optional): when the report reached the service, read like observed_at; a value before
-- observed_at is reported_before_observed (a date-only value: a day before observed_at's local day).
-- A Parquet file's typed columns (double lat/lon, timestamptz observed_at) are used as they
-- are; the macros give them the outcome their text would (typeof() is folded at bind time).
-- cell: H3 of each valid row at $resolution, computed here (one vectorised call per chunk)
-- so the rows are written once; the study-area rule is applied by ingest afterwards.
-- row_hash: content hash of each valid row as stored; row_hash_reports() is defined by ingest
-- from the store's columns (pipelines.ingest.row_hash_sql, which rekey uses too) just before this runs.
-- params: not_before, not_after, date_order, excel_dates, max_field_chars, report_sources, report_kinds, resolution
create or replace temp table stg_reports as
with src as (
    select * from raw_reports
),

typed as (
    select
        _row,
        clean(report_id) as report_id,
        parse_ts(observed_at, $date_order, $excel_dates) as observed_at,
        not date_only(observed_at) as time_known,
        as_double(lat) as lat,
        as_double(lon) as lon,
        norm_enum(source, $report_sources) as source,
        norm_enum(kind, $report_kinds) as kind,
        clean(episode_id) as episode_id,
        clean(person_ref) as person_key,
        clean(grading) as grading,
        parse_ts(reported_at, $date_order, $excel_dates) as reported_at,
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
            too_long(reported_at, 'reported_at', $max_field_chars),
            id_problem(_bad_id),
            case when clean(report_id) is null then reject('missing_required:report_id', null) end,
            case when blank(observed_at) then reject('missing_required:observed_at', null) end,
            case when blank(lat) then reject('missing_required:lat', null) end,
            case when blank(lon) then reject('missing_required:lon', null) end,
            ts_problem(observed_at, 'observed_at', $not_before, $not_after, $date_order, $excel_dates),
            ts_problem(reported_at, 'reported_at', $not_before, $not_after, $date_order, $excel_dates),
            case
                when case when date_only(reported_at)
                          then cast(parse_ts(reported_at, $date_order, $excel_dates) as date)
                               < cast(parse_ts(observed_at, $date_order, $excel_dates) as date)
                          else parse_ts(reported_at, $date_order, $excel_dates)
                               < parse_ts(observed_at, $date_order, $excel_dates) end
                    then reject('reported_before_observed', clean(reported_at) || ' < ' || clean(observed_at))
            end,
            coord_problem(lat, lon, ''),
            enum_problem(source, $report_sources, 'source'),
            enum_problem(kind, $report_kinds, 'kind')
        ) as reject,
        list_filter([case when ambiguous_local(observed_at, $date_order, $excel_dates)
                               or ambiguous_local(reported_at, $date_order, $excel_dates)
                          then 'flagged:ambiguous_local_time' end,
                     case when date_only(observed_at) then 'flagged:date_without_time' end],
                    lambda f: f is not null) as adjust
    from src
),

final as (
    select
        _row, report_id, observed_at, lat, lon,
        h3_cell(case when reject is null then lat end, lon, $resolution) as cell,
        source, kind, episode_id, person_key, grading, time_known, reported_at, reject, adjust
    from typed
)

select *, case when reject is null then row_hash_reports(final) end as row_hash
from final
