-- Migrations applied to this store, in order; the highest version is the schema version.
create table if not exists schema_migrations (
    version      integer not null,   -- the NNN prefix of the migration file
    name         varchar not null,   -- the migration file name
    applied_at   timestamptz not null,
    tool_version varchar not null    -- safeguard-hotspots version that applied it
)
