-- Care placements (where young people live): optional input, never shown in any output.
-- placement_key is the keyed HMAC-SHA256 pseudonym of placement_ref, computed with the
-- same key as episodes.placement_key, so the two join; the raw reference never reaches the store.
create table placements (
    placement_key   varchar not null,
    placement_type  varchar,
    lat             double not null,
    lon             double not null,
    cell            ubigint not null,   -- H3 at the store resolution
    row_hash        varchar not null,
    batch_id        varchar not null
)
