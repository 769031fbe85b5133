-- clock_minutes(x): minutes after midnight of the first hh:mm written in x (the clock time as
-- given), or null; compared with the stored instant's local time to find a skipped local time.
create or replace temp macro clock_minutes(x) as
    try_cast(regexp_extract(clean(x), '(\d{1,2}):(\d{2})', 1) as integer) * 60
    + try_cast(regexp_extract(clean(x), '(\d{1,2}):(\d{2})', 2) as integer)
