-- date_only_problem(raw, col): reject struct date_without_time for a date given without a clock
-- time where the time of day is used (see date_only), else null.
create or replace temp macro date_only_problem(raw, col) as
    case when date_only(raw) then reject('date_without_time', col || '=' || clean(raw)) end
