-- naive_local(x): x is text with a clock time (hh:mm) and no zone after it (no offset, 'Z' or
-- zone name): a wall-clock time in the store's time zone, which a daylight-saving change can
-- skip (nonexistent_local_time) or repeat (ambiguous_local_time). A typed timestamptz never is.
create or replace temp macro naive_local(x) as
    case
        when typeof(x) = 'TIMESTAMP WITH TIME ZONE' then false
        else regexp_matches(clean(x), '\d:\d{2}')
             and not regexp_matches(clean(x), '\d:\d{2}(:\d{2}(\.\d+)?)?\s*([zZ]|[+-]\d|[A-Za-z])')
    end
