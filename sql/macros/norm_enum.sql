-- norm_enum(x): an enum value as compared and stored: trimmed, lower-case, and runs of
-- spaces/hyphens/underscores turned into one underscore ("Child Protection " -> child_protection).
-- enum_problem.sql repeats this expression (the store registers it before this macro exists).
create or replace temp macro norm_enum(x) as regexp_replace(lower(clean(x)), '[\s_\-]+', '_', 'g')
