-- Superseded versions of placements (an update keeps the old row here).
create table placements_history as
select *, cast(null as varchar) as superseded_by_batch, cast(null as timestamptz) as superseded_at
from placements
with no data
