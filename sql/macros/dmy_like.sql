-- dmy_like(x): x starts with a day/month/year date (3/4/2025, 03.04.25, 03-04-2025 ...),
-- optionally followed by a time. Such dates are ambiguous (3 April or March 4?) unless the
-- file's date order is configured; year-first dates (2025/03/04, ISO 8601) never match.
create or replace temp macro dmy_like(x) as regexp_matches(clean(x), '^\d{1,2}[/.\-]\d{1,2}[/.\-]\d{2}(\d{2})?([ T]|$)')
