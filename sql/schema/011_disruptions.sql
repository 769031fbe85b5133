-- Disruption activities (patrols, notices, visits...) and where they happened.
create table disruptions (
    activity_id  varchar not null,
    kind         varchar not null,
    start_at     timestamptz not null,
    end_at       timestamptz,
    lat          double,
    lon          double,
    cell         ubigint,               -- from lat/lon or h3_cell, at the store resolution
    place_id     varchar,
    row_hash     varchar not null,
    batch_id     varchar not null
)
