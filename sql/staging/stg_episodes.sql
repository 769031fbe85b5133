-- Stage one file of missing episodes: trim, cast and validate every data row.
-- Grain: one row per data row of raw_episodes. reject as in stg_reports.
-- person_ref / placement_ref are already pseudonymised in raw_episodes.
-- missing_from and returned_at are event times (hour-of-week patrol windows): a date without a clock
-- time is date_without_time; reported_at may be a date. age_years: whole years only (as_age).
-- An episode returned more than $max_episode_days after it began is an absurd_duration
-- (almost always a mistyped year), not a real episode.
-- last_seen_cell / found_cell: H3 of each valid row's points at $resolution, computed here.
-- row_hash: content hash of each valid row as stored; row_hash_episodes() is defined by ingest
-- from the store's columns (pipelines.ingest.row_hash_sql, which rekey uses too) just before this runs.
-- Equity fields (gender, disability, first_nations, cald, lgbtqia) are never rejected: they take a
-- closed vocabulary (analytics.contracts.GENDERS, EQUITY_FLAG_COLUMNS); anything else is recoded
-- (gender -> other, a flag -> null = not stated) and named in adjust ('recoded:<col>'), which
-- ingest counts per column for the batch result. adjust: list of 'recoded:<col>' / 'flagged:<flag>'.
-- params: not_before, not_after, date_order, excel_dates, max_field_chars, max_episode_days, placement_types, risk_levels, genders, gender_aliases, gender_alias_values, gender_recoded_to, not_stated_aliases, resolution
create or replace temp table stg_episodes as
with src as (
    select * from raw_episodes
),

typed as (
    select
        _row,
        clean(episode_id) as episode_id,
        clean(person_ref) as person_key,
        parse_ts(missing_from, $date_order, $excel_dates) as missing_from,
        parse_ts(returned_at, $date_order, $excel_dates) as returned_at,
        parse_ts(reported_at, $date_order, $excel_dates) as reported_at,
        clean(placement_ref) as placement_key,
        norm_enum(placement_type, $placement_types) as placement_type,
        try_cast(clean(last_seen_lat) as double) as last_seen_lat,
        try_cast(clean(last_seen_lon) as double) as last_seen_lon,
        try_cast(clean(found_lat) as double) as found_lat,
        try_cast(clean(found_lon) as double) as found_lon,
        norm_enum(risk_level, $risk_levels) as risk_level,
        parse_bool(cse_concern) as cse_concern,
        parse_bool(rhi_completed) as rhi_completed,
        as_age(age_years) as age_years,
        vocab_value(gender, $genders, $gender_aliases, $gender_alias_values, $gender_recoded_to[1]) as gender,
        parse_bool(disability) as disability,
        parse_bool(first_nations) as first_nations,
        parse_bool(cald) as cald,
        parse_bool(lgbtqia) as lgbtqia,
        coalesce(
            too_long(episode_id, 'episode_id', $max_field_chars),
            too_long(person_ref, 'person_ref', $max_field_chars),
            too_long(missing_from, 'missing_from', $max_field_chars),
            too_long(returned_at, 'returned_at', $max_field_chars),
            too_long(reported_at, 'reported_at', $max_field_chars),
            too_long(placement_ref, 'placement_ref', $max_field_chars),
            too_long(placement_type, 'placement_type', $max_field_chars),
            too_long(last_seen_lat, 'last_seen_lat', $max_field_chars),
            too_long(last_seen_lon, 'last_seen_lon', $max_field_chars),
            too_long(found_lat, 'found_lat', $max_field_chars),
            too_long(found_lon, 'found_lon', $max_field_chars),
            too_long(risk_level, 'risk_level', $max_field_chars),
            too_long(cse_concern, 'cse_concern', $max_field_chars),
            too_long(rhi_completed, 'rhi_completed', $max_field_chars),
            too_long(age_years, 'age_years', $max_field_chars),
            id_problem(_bad_id),
            case when clean(episode_id) is null then reject('missing_required:episode_id', null) end,
            case when clean(person_ref) is null then reject('missing_required:person_ref', null) end,
            case when clean(missing_from) is null then reject('missing_required:missing_from', null) end,
            ts_problem(missing_from, 'missing_from', $not_before, $not_after, $date_order, $excel_dates),
            date_only_problem(missing_from, 'missing_from'),
            ts_problem(returned_at, 'returned_at', $not_before, $not_after, $date_order, $excel_dates),
            date_only_problem(returned_at, 'returned_at'),
            ts_problem(reported_at, 'reported_at', $not_before, $not_after, $date_order, $excel_dates),
            case
                when parse_ts(returned_at, $date_order, $excel_dates) < parse_ts(missing_from, $date_order, $excel_dates)
                    then reject('returned_before_missing', clean(returned_at) || ' < ' || clean(missing_from))
                when parse_ts(returned_at, $date_order, $excel_dates)
                        > parse_ts(missing_from, $date_order, $excel_dates) + to_days(cast($max_episode_days as integer))
                    then reject('absurd_duration', clean(missing_from) || ' .. ' || clean(returned_at)
                                || ' (more than ' || cast($max_episode_days as varchar) || ' days)')
            end,
            coord_problem(last_seen_lat, last_seen_lon, 'last_seen_'),
            coord_problem(found_lat, found_lon, 'found_'),
            enum_problem(placement_type, $placement_types, 'placement_type'),
            enum_problem(risk_level, $risk_levels, 'risk_level'),
            case
                when clean(age_years) is not null and as_age(age_years) is null
                    then reject('bad_number:age_years', clean(age_years))
                when as_age(age_years) not between 0 and 17
                    then reject('age_out_of_range', clean(age_years))
            end,
            bool_problem(cse_concern, 'cse_concern'),
            bool_problem(rhi_completed, 'rhi_completed')
        ) as reject,
        list_filter([
            case when vocab_recoded(gender, $genders, $gender_aliases) then 'recoded:gender' end,
            case when flag_recoded(disability, $not_stated_aliases) then 'recoded:disability' end,
            case when flag_recoded(first_nations, $not_stated_aliases) then 'recoded:first_nations' end,
            case when flag_recoded(cald, $not_stated_aliases) then 'recoded:cald' end,
            case when flag_recoded(lgbtqia, $not_stated_aliases) then 'recoded:lgbtqia' end,
            case when ambiguous_local(missing_from, $date_order, $excel_dates)
                      or ambiguous_local(returned_at, $date_order, $excel_dates)
                      or ambiguous_local(reported_at, $date_order, $excel_dates)
                 then 'flagged:ambiguous_local_time' end
        ], lambda a: a is not null) as adjust
    from src
),

final as (
    select
        _row, episode_id, person_key, missing_from, returned_at, reported_at, placement_key, placement_type,
        last_seen_lat, last_seen_lon,
        h3_cell(case when reject is null then last_seen_lat end, last_seen_lon, $resolution) as last_seen_cell,
        found_lat, found_lon,
        h3_cell(case when reject is null then found_lat end, found_lon, $resolution) as found_cell,
        risk_level, cse_concern, rhi_completed, age_years, gender, disability, first_nations, cald, lgbtqia, reject,
        adjust
    from typed
)

select *, case when reject is null then row_hash_episodes(final) end as row_hash
from final
