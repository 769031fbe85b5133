-- Every cube cell is a study-area cell, and every study-area cell is in the cube.
select coalesce(m.cell, c.cell) as cell
from (select distinct cell from mart_cell_week_counts) m
full outer join (select distinct cell from cube_cells) c on m.cell = c.cell
where m.cell is null or c.cell is null
