-- enum_problem(x, allowed, col): reject struct when x, normalised as norm_enum does
-- (trim, lower-case, spaces/hyphens -> underscore), is not an allowed value.
create or replace temp macro enum_problem(x, allowed, col) as
    case
        when clean(x) is not null and not list_contains(allowed, norm_enum(x, allowed))
            then reject('unknown_enum:' || col, clean(x))
    end
