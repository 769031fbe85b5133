-- dmy_like(x): x starts with a day/month/year date (3/4/2025, 03.04.25, 03-04-2025 ...),
-- optionally followed by a time. Such dates are ambiguous (3 April or March 4?) unless the
-- file's date order is configured; year-first dates (2025/03/04, ISO 8601) never match.
-- A typed timestamp (Parquet) never matches: its text is year-first. typeof() is folded when
-- the query is bound, so a typed column costs no text conversion here.
create or replace temp macro dmy_like(x) as
    case
        when typeof(x) = 'TIMESTAMP WITH TIME ZONE' then false
        else regexp_matches(clean(x), '^\d{1,2}[/.\-]\d{1,2}[/.\-]\d{2}(\d{2})?([ T]|$)')
    end
