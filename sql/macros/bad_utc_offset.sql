-- bad_utc_offset(x): the text of a timestamp carries a UTC offset beyond +-14:00 after its clock
-- time ('+15:00', '-14:30', '+9900'): no time zone is that far from UTC, so DuckDB's reading of it
-- would be a silently wrong instant. One regular expression: hours 15-99, or 14 with minutes.
-- A typed timestamptz (Parquet) never is (typeof() is folded when the query is bound).
create or replace temp macro bad_utc_offset(x) as
    case
        when typeof(x) = 'TIMESTAMP WITH TIME ZONE' then false
        else regexp_matches(clean(x), '\d:\d{2}(:\d{2}(\.\d+)?)?\s*[+-](1[5-9]|[2-9]\d|14:?([1-5]\d|0[1-9]))')
    end
