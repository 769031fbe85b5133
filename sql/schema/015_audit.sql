-- Every command run against the store (who, what, on which files, with what outcome).
create table audit (
    run_at        timestamptz not null,
    os_user       varchar not null,
    command       varchar not null,
    parameters    varchar,              -- JSON, never the key
    input_hashes  varchar,              -- JSON {file: sha256}
    output_hashes varchar,              -- JSON {file: sha256}
    row_counts    varchar,              -- JSON
    outcome       varchar not null      -- ok | error: <message>
)
