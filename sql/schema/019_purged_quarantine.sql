-- Quarantined rows removed by `hotspots purge` (retention or erasure), per batch: counts only, never
-- the rows. Batches keep their accounting (read = accepted + updated + duplicate + rejected); the
-- quarantine check compares a batch's rejected count with its quarantined plus purged rows.
create table purged_quarantine (
    batch_id  varchar not null,
    n_rows    bigint not null,          -- quarantined rows of this batch removed by one purge
    purged_at timestamptz not null
)
