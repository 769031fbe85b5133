-- as_double(x): x as a double, or null when it is not a number. A typed double (Parquet) is
-- used as it is (its text reads back as the same number); text goes through clean() and must be
-- a plain decimal number (sign, digits, point, exponent): DuckDB's own cast would also read
-- '+-33.76' as -33.76 and '1_000' as 1000, changing a value silently (issue 12 item 9).
-- nan / inf spellings are not numbers here (coord_problem rejects them as bad_number either way).
-- typeof() is folded when the query is bound.
create or replace temp macro as_double(x) as
    case
        when typeof(x) = 'DOUBLE' then try_cast(x as double)
        when regexp_full_match(clean(x), '\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*') then try_cast(clean(x) as double)
    end
