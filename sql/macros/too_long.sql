-- too_long(x, col, max_chars): reject struct when the text of x is longer than max_chars
-- (contracts.MAX_FIELD_CHARS), else null. The detail is the length, never the value.
-- A typed number or timestamp (Parquet) has at most ~40 characters of text, so it is
-- never too long for a limit of 64 or more and is not converted to text to find out.
create or replace temp macro too_long(x, col, max_chars) as
    case
        when typeof(x) in ('DOUBLE', 'TIMESTAMP WITH TIME ZONE') and max_chars >= 64 then null
        when length(cast(x as varchar)) > max_chars
            then reject('field_too_long:' || col,
                        cast(length(cast(x as varchar)) as varchar) || ' characters (limit ' || cast(max_chars as varchar) || ')')
    end
