-- naive_local(x): x is text ending in its clock time ('T' or ' ', then hh:mm, optional :ss and a
-- fraction), so with no zone after it (no offset -- '+11:00' is not a clock time --, 'Z' or zone
-- name): a wall-clock time in the store's time zone, which a daylight-saving change can skip
-- (nonexistent_local_time) or repeat (ambiguous_local_time).
-- A typed timestamptz never is (typeof() is folded when the query is bound).
create or replace temp macro naive_local(x) as
    case
        when typeof(x) = 'TIMESTAMP WITH TIME ZONE' then false
        else regexp_matches(clean(x), '[T ]\d{1,2}:\d{2}(:\d{2}(\.\d*)?)?$')
    end
