-- ts_problem(raw, col, not_before, not_after, date_order, excel_dates): reject struct for a
-- timestamp that cannot be trusted, else null (empty is not a problem here). First match wins:
--   ambiguous_date         d/m/y text while the date order is not configured (ymd = ISO only)
--                          and the text is a real date in at least one order (else bad_timestamp)
--   excel_serial_date      a spreadsheet day number while --excel-dates is off
--   bad_timestamp          unparseable, impossible (13th month, 30 February), two-digit year
--   bad_utc_offset         an offset beyond +-14:00 (+15:00, -99:00): no such zone exists
--   nonexistent_local_time a naive local time skipped by a daylight-saving change (Sydney
--                          2025-10-05 02:30): DuckDB would move it an hour on, silently
--   implausible_timestamp  before not_before (1970-01-01: a mis-read date, not a record)
--   future_timestamp       after not_after (now plus a little clock skew)
-- A typed timestamptz (Parquet) is empty only when null; its text is made only for a detail.
create or replace temp macro ts_problem(raw, col, not_before, not_after, date_order, excel_dates) as
    case
        when blank(raw) then null
        when dmy_like(raw) and date_order not in ('dmy', 'mdy')
                and (parse_ts(raw, 'dmy', false) is not null or parse_ts(raw, 'mdy', false) is not null)
            then reject('ambiguous_date',
                        col || '=' || clean(raw) || ' (day/month order unknown: set --date-order dmy or mdy)')
        when excel_like(raw) and not excel_dates
            then reject('excel_serial_date',
                        col || '=' || clean(raw) || ' (a spreadsheet day number: export ISO 8601 text, or set --excel-dates)')
        when parse_ts(raw, date_order, excel_dates) is null then reject('bad_timestamp', col || '=' || clean(raw))
        when bad_utc_offset(raw) then reject('bad_utc_offset', col || '=' || clean(raw))
        when naive_local(raw)
                and (hour(cast(parse_ts(raw, date_order, excel_dates) as timestamp)) * 60
                     + minute(cast(parse_ts(raw, date_order, excel_dates) as timestamp))) % 1440
                    <> clock_minutes(raw) % 1440
            then reject('nonexistent_local_time',
                        col || '=' || clean(raw) || ' (skipped by a daylight-saving change in the store''s time zone)')
        when parse_ts(raw, date_order, excel_dates) < not_before
            then reject('implausible_timestamp', col || '=' || clean(raw))
        when parse_ts(raw, date_order, excel_dates) > not_after
            then reject('future_timestamp', col || '=' || clean(raw))
    end
