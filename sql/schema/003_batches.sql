-- One row per ingested file (one batch = one file = one transaction).
-- Invariant: n_read = n_accepted + n_updated + n_duplicate + n_rejected.
create table batches (
    batch_id      varchar not null,     -- B000001, increasing
    kind          varchar not null,     -- episodes | reports | places | disruptions | boundary
    file_name     varchar not null,     -- base name only (no directories)
    file_sha256   varchar not null,
    started_at    timestamptz not null,
    finished_at   timestamptz not null,
    n_read        bigint not null,
    n_accepted    bigint not null,
    n_updated     bigint not null,
    n_duplicate   bigint not null,
    n_rejected    bigint not null,
    dropped_columns varchar,            -- identifying columns dropped on request (names only)
    ignored_columns varchar,            -- columns outside the contract, not stored
    synthetic     boolean not null      -- every id carried the SYN- prefix of the synthetic generator
)
