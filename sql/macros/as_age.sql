-- as_age(x): a whole number of years, or null when x is not one. Only digits (optionally signed,
-- optionally '.0' as spreadsheets write whole numbers) are read: DuckDB's integer cast would round
-- '15.5' to 16 and read '0x0F' as 15, changing a value silently (issue 12 item 9).
create or replace temp macro as_age(x) as
    case
        when regexp_full_match(clean(x), '\s*[+-]?\d{1,3}(\.0*)?\s*')
            then try_cast(split_part(clean(x), '.', 1) as integer)
    end
