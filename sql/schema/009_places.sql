-- Places of interest (shopping centres, stations...). lat/lon is a representative point.
create table places (
    place_id     varchar not null,
    name         varchar not null,
    category     varchar not null,
    lat          double not null,
    lon          double not null,
    cell         ubigint not null,
    geometry_wkt varchar not null,      -- point or polygon, EPSG:4326
    row_hash     varchar not null,
    batch_id     varchar not null
)
