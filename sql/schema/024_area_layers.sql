-- Area layers (police beats, wards, suburbs, neighbourhoods): one row per layer, under the
-- name the user gave (never the file name). Re-ingesting a layer name replaces it.
create table area_layers (
    layer         varchar not null,     -- the user's --layer-name, e.g. beats
    batch_id      varchar not null,     -- the batch that loaded the current version
    name_column   varchar,              -- the file column the names came from (null: none, ids used)
    id_column     varchar,              -- the file column the ids came from (null: row order)
    n_areas       bigint not null,
    row_hash      varchar not null,     -- md5 over the stored areas, to tell a re-ingest of the same layer
    first_loaded_at timestamptz not null  -- when the layer name was first loaded (keeps the layers in order)
)
