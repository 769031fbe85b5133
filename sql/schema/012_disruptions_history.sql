-- Superseded versions of disruptions.
create table disruptions_history as
select *, cast(null as varchar) as superseded_by_batch, cast(null as timestamptz) as superseded_at
from disruptions
with no data
