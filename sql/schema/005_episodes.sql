-- Current version of each missing episode. person_key/placement_key are keyed
-- HMAC-SHA256 pseudonyms; raw references never reach the store.
create table episodes (
    episode_id      varchar not null,
    person_key      varchar not null,
    missing_from    timestamptz not null,
    returned_at     timestamptz,
    reported_at     timestamptz,
    placement_key   varchar,
    placement_type  varchar,
    last_seen_lat   double,
    last_seen_lon   double,
    last_seen_cell  ubigint,            -- H3 at the store resolution
    found_lat       double,
    found_lon       double,
    found_cell      ubigint,
    risk_level      varchar,
    cse_concern     boolean,
    rhi_completed   boolean,
    age_years       integer,
    gender          varchar,
    disability      boolean,
    first_nations   boolean,
    cald            boolean,
    lgbtqia         boolean,
    row_hash        varchar not null,   -- hash of the stored content, for duplicate/update detection
    batch_id        varchar not null
)
