-- Stage one file of places (read from GeoJSON/GeoPackage/CSV into raw_places by ingest,
-- which also derives lat/lon of a representative point and the WKT geometry).
-- Grain: one row per feature/row. reject as in stg_reports.
-- params: place_categories
create or replace temp table stg_places as
with src as (
    select * from raw_places
),

typed as (
    select
        _row,
        clean(place_id) as place_id,
        clean(name) as name,
        lower(clean(category)) as category,
        try_cast(clean(lat) as double) as lat,
        try_cast(clean(lon) as double) as lon,
        cast(null as ubigint) as cell,                     -- filled by the H3 step
        coalesce(clean(geometry_wkt), 'POINT (' || clean(lon) || ' ' || clean(lat) || ')') as geometry_wkt,
        coalesce(
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
    select * from typed
)

select * from final
