-- Stage one file of care placements: trim, cast and validate every data row.
-- Grain: one row per data row of raw_placements. reject as in stg_reports.
-- placement_ref is already pseudonymised in raw_placements (same key as episodes, so the
-- pseudonyms join); it is stored as placement_key, the id column.
-- cell: H3 of each valid row at $resolution, computed here.
-- row_hash: content hash of each valid row as stored; row_hash_placements() is defined by ingest
-- from the store's columns (pipelines.ingest.row_hash_sql, which rekey uses too) just before this runs.
-- params: max_field_chars, placement_types, resolution
create or replace temp table stg_placements as
with src as (
    select * from raw_placements
),

typed as (
    select
        _row,
        clean(placement_ref) as placement_key,
        norm_enum(placement_type, $placement_types) as placement_type,
        as_double(lat) as lat,
        as_double(lon) as lon,
        coalesce(
            too_long(placement_ref, 'placement_ref', $max_field_chars),
            too_long(placement_type, 'placement_type', $max_field_chars),
            too_long(lat, 'lat', $max_field_chars),
            too_long(lon, 'lon', $max_field_chars),
            id_problem(_bad_id),
            case when clean(placement_ref) is null then reject('missing_required:placement_ref', null) end,
            case when blank(lat) and blank(lon) then reject('missing_required:lat', null) end,
            coord_problem(lat, lon, ''),
            enum_problem(placement_type, $placement_types, 'placement_type')
        ) as reject
    from src
),

final as (
    select
        _row, placement_key, placement_type, lat, lon,
        h3_cell(case when reject is null then lat end, lon, $resolution) as cell,
        reject
    from typed
)

select *, case when reject is null then row_hash_placements(final) end as row_hash
from final
