-- Current version of each location report (sighting, found location, disclosure...).
create table location_reports (
    report_id    varchar not null,
    observed_at  timestamptz not null,
    lat          double not null,
    lon          double not null,
    cell         ubigint not null,      -- H3 at the store resolution
    source       varchar,
    kind         varchar,
    episode_id   varchar,
    person_key   varchar,
    grading      varchar,
    row_hash     varchar not null,
    batch_id     varchar not null
)
