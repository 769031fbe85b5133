-- Superseded versions of episodes (an update keeps the old row here).
create table episodes_history as
select *, cast(null as varchar) as superseded_by_batch, cast(null as timestamptz) as superseded_at
from episodes
with no data
