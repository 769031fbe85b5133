-- excel_like(x): x is a spreadsheet day number such as 45717 or 45717.5 (days since
-- 1899-12-30; 10000-99999 covers 1927-2173), the usual result of a date cell exported as a number.
-- A typed timestamp (Parquet) never is (a typed number still is: its text is checked).
create or replace temp macro excel_like(x) as
    case
        when typeof(x) = 'TIMESTAMP WITH TIME ZONE' then false
        else regexp_full_match(clean(x), '\d{5}(\.\d+)?')
    end
