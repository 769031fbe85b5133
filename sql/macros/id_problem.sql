-- id_problem(bad_id): reject struct bad_id:<col> when ingest found a control character (NUL,
-- U+0001-U+001F, U+007F-U+009F) in identifier column <col> of the row as read (raw_<kind>._bad_id,
-- computed before pseudonymising). The detail never holds the value.
create or replace temp macro id_problem(bad_id) as
    case when bad_id is not null then reject('bad_id:' || bad_id, 'a control character in the identifier') end
