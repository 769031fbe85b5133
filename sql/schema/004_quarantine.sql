-- Rows that failed validation, with a machine-readable reason. Identifiers in the
-- row are pseudonymised before the row is stored here, as everywhere else.
create table quarantine (
    batch_id   varchar not null,
    kind       varchar not null,
    row_number bigint not null,         -- 1-based data row in the file (header excluded)
    record_id  varchar,                 -- episode_id / report_id / ... when present
    reason     varchar not null,        -- e.g. lat_out_of_range, unknown_enum:kind
    detail     varchar,                 -- the offending value or rule, for a person to read
    row_json   varchar not null         -- the row as read (identifiers pseudonymised)
)
