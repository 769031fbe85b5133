-- as_double(x): x as a double, or null when it is not a number. A typed double (Parquet) is
-- used as it is (its text reads back as the same number); text goes through clean().
-- typeof() is folded when the query is bound.
create or replace temp macro as_double(x) as
    case when typeof(x) = 'DOUBLE' then try_cast(x as double) else try_cast(clean(x) as double) end
