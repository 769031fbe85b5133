-- H3 cells overlapping the current boundary, per resolution (filled at boundary ingest
-- for the store resolution, and on demand for others).
create table study_area_cells (
    resolution integer not null,
    cell       ubigint not null
)
