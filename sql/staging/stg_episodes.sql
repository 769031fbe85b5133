-- Stage one file of missing episodes: trim, cast and validate every data row.
-- Grain: one row per data row of raw_episodes. reject as in stg_reports.
-- person_ref / placement_ref are already pseudonymised in raw_episodes.
-- params: not_after, placement_types, risk_levels
create or replace temp table stg_episodes as
with src as (
    select * from raw_episodes
),

typed as (
    select
        _row,
        clean(episode_id) as episode_id,
        clean(person_ref) as person_key,
        try_cast(clean(missing_from) as timestamptz) as missing_from,
        try_cast(clean(returned_at) as timestamptz) as returned_at,
        try_cast(clean(reported_at) as timestamptz) as reported_at,
        clean(placement_ref) as placement_key,
        lower(clean(placement_type)) as placement_type,
        try_cast(clean(last_seen_lat) as double) as last_seen_lat,
        try_cast(clean(last_seen_lon) as double) as last_seen_lon,
        cast(null as ubigint) as last_seen_cell,           -- filled by the H3 step
        try_cast(clean(found_lat) as double) as found_lat,
        try_cast(clean(found_lon) as double) as found_lon,
        cast(null as ubigint) as found_cell,
        lower(clean(risk_level)) as risk_level,
        parse_bool(cse_concern) as cse_concern,
        parse_bool(rhi_completed) as rhi_completed,
        try_cast(clean(age_years) as integer) as age_years,
        lower(clean(gender)) as gender,
        parse_bool(disability) as disability,
        parse_bool(first_nations) as first_nations,
        parse_bool(cald) as cald,
        parse_bool(lgbtqia) as lgbtqia,
        coalesce(
            case when clean(episode_id) is null then reject('missing_required:episode_id', null) end,
            case when clean(person_ref) is null then reject('missing_required:person_ref', null) end,
            case when clean(missing_from) is null then reject('missing_required:missing_from', null) end,
            timestamp_problem(missing_from, 'missing_from', $not_after),
            timestamp_problem(returned_at, 'returned_at', $not_after),
            timestamp_problem(reported_at, 'reported_at', $not_after),
            case
                when try_cast(clean(returned_at) as timestamptz) < try_cast(clean(missing_from) as timestamptz)
                    then reject('returned_before_missing', clean(returned_at) || ' < ' || clean(missing_from))
            end,
            coord_problem(last_seen_lat, last_seen_lon, 'last_seen_'),
            coord_problem(found_lat, found_lon, 'found_'),
            enum_problem(placement_type, $placement_types, 'placement_type'),
            enum_problem(risk_level, $risk_levels, 'risk_level'),
            case
                when clean(age_years) is not null and try_cast(clean(age_years) as integer) is null
                    then reject('bad_number:age_years', clean(age_years))
                when try_cast(clean(age_years) as integer) not between 0 and 17
                    then reject('age_out_of_range', clean(age_years))
            end,
            bool_problem(cse_concern, 'cse_concern'),
            bool_problem(rhi_completed, 'rhi_completed'),
            bool_problem(disability, 'disability'),
            bool_problem(first_nations, 'first_nations'),
            bool_problem(cald, 'cald'),
            bool_problem(lgbtqia, 'lgbtqia')
        ) as reject
    from src
),

final as (
    select * from typed
)

select * from final
