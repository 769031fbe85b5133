-- too_long(x, col, max_chars): reject struct when the text of x is longer than max_chars
-- (contracts.MAX_FIELD_CHARS), else null. The detail is the length, never the value.
create or replace temp macro too_long(x, col, max_chars) as
    case
        when length(cast(x as varchar)) > max_chars
            then reject('field_too_long:' || col,
                        cast(length(cast(x as varchar)) as varchar) || ' characters (limit ' || cast(max_chars as varchar) || ')')
    end
