-- clean(x): trimmed text, or null when empty. Every staged text column goes through it.
create or replace temp macro clean(x) as nullif(trim(cast(x as varchar)), '')
