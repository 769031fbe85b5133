-- blank(x): true when x is empty. A typed double or timestamptz (Parquet) is empty only when
-- null; text is empty when clean() makes it null. typeof() is folded when the query is bound,
-- so a typed column never goes through text.
create or replace temp macro blank(x) as
    case when typeof(x) in ('DOUBLE', 'TIMESTAMP WITH TIME ZONE') then x is null else clean(x) is null end
