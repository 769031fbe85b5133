-- bool_problem(x, col): a reject struct when x is present but not a boolean, else null.
create or replace temp macro bool_problem(x, col) as
    case when clean(x) is not null and parse_bool(x) is null then reject('bad_boolean:' || col, clean(x)) end
