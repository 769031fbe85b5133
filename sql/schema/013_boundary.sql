-- Study-area boundary versions; the newest batch is current.
create table boundary (
    batch_id     varchar not null,
    name         varchar,
    geometry_wkt varchar not null,      -- (multi)polygon, EPSG:4326
    row_hash     varchar not null
)
