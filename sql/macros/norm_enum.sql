-- norm_enum(x, allowed): an enum value as compared and stored: trimmed, lower-case, and runs of
-- spaces/hyphens/underscores turned into one underscore ("Child Protection " -> child_protection).
-- allowed: the column's allowed values, all already in this form (tests check it); a value that
-- is one of them after trim + lower-case is returned without the regular expression, which is
-- the costly part and most values never need.
create or replace temp macro norm_enum(x, allowed) as
    case
        when list_contains(allowed, lower(clean(x))) then lower(clean(x))
        else regexp_replace(lower(clean(x)), '[\s_\-]+', '_', 'g')
    end
