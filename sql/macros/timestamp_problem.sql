-- DEPRECATED: staging uses ts_problem (date order, Excel dates, implausible dates). Kept only
-- because pipelines/store.py registers every macro in its _MACROS list at open.
-- timestamp_problem(raw, col, not_after): reject struct for an unparseable or future timestamp.
-- Naive timestamps are read in the session time zone (the store's configured zone).
create or replace temp macro timestamp_problem(raw, col, not_after) as
    case
        when clean(raw) is null then null
        when try_cast(clean(raw) as timestamptz) is null then reject('bad_timestamp', col || '=' || clean(raw))
        when try_cast(clean(raw) as timestamptz) > not_after then reject('future_timestamp', col || '=' || clean(raw))
    end
