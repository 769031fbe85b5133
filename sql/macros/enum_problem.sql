-- enum_problem(x, allowed, col): reject struct when x (normalised) is not an allowed value.
create or replace temp macro enum_problem(x, allowed, col) as
    case
        when clean(x) is not null and not list_contains(allowed, lower(clean(x)))
            then reject('unknown_enum:' || col, clean(x))
    end
