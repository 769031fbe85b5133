-- flag_recoded(x, not_stated_aliases): true when an equity flag is given but is neither a boolean
-- (parse_bool) nor a spelling of "not stated"; it is stored as not stated (null), counted, never shown.
create or replace temp macro flag_recoded(x, not_stated_aliases) as
    clean(x) is not null and parse_bool(x) is null
    and not list_contains(not_stated_aliases, norm_enum(x, not_stated_aliases))
