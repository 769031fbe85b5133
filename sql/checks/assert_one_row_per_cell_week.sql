-- The cube has exactly one row per (cell, week): rows returned break the rule.
select cell, week, count(*) as n
from mart_cell_week_counts
group by cell, week
having count(*) <> 1
