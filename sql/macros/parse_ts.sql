-- parse_ts(x, date_order, excel_dates): x as timestamptz, or null when it cannot be read.
--   A typed timestamptz (Parquet) is itself, without a round trip through text, when it lies in
--     1980..9000 (there its text, offset included, reads back as the same instant); outside that
--     range it takes the text path below like any other value, so results never differ.
--   ISO 8601 and other year-first text: cast by DuckDB; an offset (+11:00, Z) is honoured,
--     a naive time is read in the session time zone (the store's configured zone).
--   d/m/yyyy-style dates: read day-first (date_order 'dmy') or month-first ('mdy'), always in
--     the configured order even when a part above 12 makes the other order look evident;
--     null under 'ymd' (ambiguous) and for two-digit years.
--   Excel day numbers: converted (local time) only when excel_dates is true.
create or replace temp macro parse_ts(x, date_order, excel_dates) as
    case
        when typeof(x) = 'TIMESTAMP WITH TIME ZONE'
                and try_cast(x as timestamptz) >= timestamptz '1980-01-01 00:00:00+00'
                and try_cast(x as timestamptz) < timestamptz '9000-01-01 00:00:00+00'
            then try_cast(x as timestamptz)
        when dmy_like(x) then
            case
                when date_order not in ('dmy', 'mdy') then null
                when not regexp_matches(clean(x), '^\d{1,2}[/.\-]\d{1,2}[/.\-]\d{4}([ T]|$)') then null
                else try_cast(
                    regexp_extract(clean(x), '^\d{1,2}[/.\-]\d{1,2}[/.\-](\d{4})', 1) || '-'
                    || lpad(case when date_order = 'dmy'
                                 then regexp_extract(clean(x), '^\d{1,2}[/.\-](\d{1,2})', 1)
                                 else regexp_extract(clean(x), '^(\d{1,2})', 1) end, 2, '0') || '-'
                    || lpad(case when date_order = 'dmy'
                                 then regexp_extract(clean(x), '^(\d{1,2})', 1)
                                 else regexp_extract(clean(x), '^\d{1,2}[/.\-](\d{1,2})', 1) end, 2, '0')
                    || regexp_extract(clean(x), '^\d{1,2}[/.\-]\d{1,2}[/.\-]\d{4}(.*)$', 1)
                    as timestamptz)
            end
        when excel_like(x) then
            case
                when excel_dates then cast(timestamp '1899-12-30 00:00:00'
                    + to_microseconds(cast(round(cast(clean(x) as double) * 86400000000) as bigint)) as timestamptz)
            end
        else try_cast(clean(x) as timestamptz)
    end
