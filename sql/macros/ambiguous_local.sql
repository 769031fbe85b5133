-- ambiguous_local(x, date_order, excel_dates): x is a naive local time that occurs twice (the hour
-- a daylight-saving change repeats): the instant 30 or 60 minutes before or after the stored one
-- shows the same wall-clock time. The row is kept (DuckDB/ICU takes the later, standard-time
-- instant) and flagged ambiguous_local_time in the batch result. Only naive text is looked at
-- (CASE, so the conversions run for those rows only).
create or replace temp macro ambiguous_local(x, date_order, excel_dates) as
    case
        when naive_local(x) then coalesce(list_contains(
            [cast(parse_ts(x, date_order, excel_dates) - interval 1 hour as timestamp),
             cast(parse_ts(x, date_order, excel_dates) - interval 30 minute as timestamp),
             cast(parse_ts(x, date_order, excel_dates) + interval 30 minute as timestamp),
             cast(parse_ts(x, date_order, excel_dates) + interval 1 hour as timestamp)],
            cast(parse_ts(x, date_order, excel_dates) as timestamp)), false)
        else false
    end
