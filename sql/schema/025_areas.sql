-- The areas of every layer (only id, name and polygon are stored; other columns are never read).
-- Grain: one row per (layer, area_id).
create table areas (
    layer         varchar not null,
    area_id       varchar not null,     -- from the id column, else the row number in the file (1-based)
    area_name     varchar not null,
    row_number    bigint not null,      -- 1-based feature number in the file (keeps the file's order)
    geometry_wkt  varchar not null      -- (multi)polygon, EPSG:4326
)
