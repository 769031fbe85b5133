-- utc_offset_minutes(x): the absolute UTC offset, in minutes, written after the clock time of a
-- timestamp text ('...10:00+05:30' -> 330, '+1400' -> 840, '-03' -> 180), or null when the text has
-- none (naive, 'Z', or a typed timestamptz). Offsets beyond 14:00 do not exist (bad_utc_offset).
create or replace temp macro utc_offset_minutes(x) as
    case
        when typeof(x) = 'TIMESTAMP WITH TIME ZONE' then null
        when regexp_matches(clean(x), '\d:\d{2}(:\d{2}(\.\d+)?)?\s*[+-]\d')
            then cast(regexp_extract(clean(x), '\d:\d{2}(?::\d{2}(?:\.\d+)?)?\s*[+-](\d{1,2})', 1) as integer) * 60
                 + coalesce(try_cast(regexp_extract(
                       clean(x), '\d:\d{2}(?::\d{2}(?:\.\d+)?)?\s*[+-]\d{1,2}:?(\d{2})', 1) as integer), 0)
    end
