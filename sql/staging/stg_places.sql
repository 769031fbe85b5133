-- Stage one file of places (read from GeoJSON/GeoPackage/CSV into raw_places by ingest,
-- which also derives lat/lon of a representative point and the WKT geometry).
-- Grain: one row per feature/row. reject as in stg_reports. geometry_wkt has no length
-- limit (a detailed polygon is legitimately long); every other field has max_field_chars.
-- cell: H3 of each valid row at $resolution, computed here.
-- row_hash: content hash of each valid row as stored; row_hash_places() is defined by ingest
-- from the store's columns (pipelines.ingest.row_hash_sql, which rekey uses too) just before this runs.
-- params: max_field_chars, place_categories, resolution
create or replace temp table stg_places as
with src as (
    select * from raw_places
),

typed as (
    select
        _row,
        clean(place_id) as place_id,
        clean(name) as name,
        norm_enum(category, $place_categories) as category,
        try_cast(clean(lat) as double) as lat,
        try_cast(clean(lon) as double) as lon,
        coalesce(clean(geometry_wkt), 'POINT (' || clean(lon) || ' ' || clean(lat) || ')') as geometry_wkt,
        coalesce(
            too_long(place_id, 'place_id', $max_field_chars),
            too_long(name, 'name', $max_field_chars),
            too_long(category, 'category', $max_field_chars),
            too_long(lat, 'lat', $max_field_chars),
            too_long(lon, 'lon', $max_field_chars),
            id_problem(_bad_id),
            case when clean(place_id) is null then reject('missing_required:place_id', null) end,
            case when clean(name) is null then reject('missing_required:name', null) end,
            case when clean(category) is null then reject('missing_required:category', null) end,
            case when clean(lat) is null or clean(lon) is null then reject('missing_required:geometry', null) end,
            coord_problem(lat, lon, ''),
            enum_problem(category, $place_categories, 'category')
        ) as reject
    from src
),

final as (
    select
        _row, place_id, name, category, lat, lon,
        h3_cell(case when reject is null then lat end, lon, $resolution) as cell,
        geometry_wkt, reject
    from typed
)

select *, case when reject is null then row_hash_places(final) end as row_hash
from final
