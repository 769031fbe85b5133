-- date_only(x): x is a date without a clock time ('2025-03-01', '3/4/2025': no ':' at all). Such a
-- value is rejected as date_without_time where the time of day matters (event times feed the
-- hour-of-week patrol windows: midnight would be invented). Spreadsheet day numbers (--excel-dates)
-- and typed timestamps are not date-only.
create or replace temp macro date_only(x) as
    case
        when typeof(x) = 'TIMESTAMP WITH TIME ZONE' then false
        else clean(x) is not null and not contains(clean(x), ':') and not excel_like(x)
    end
