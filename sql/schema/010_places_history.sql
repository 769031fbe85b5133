-- Superseded versions of places.
create table places_history as
select *, cast(null as varchar) as superseded_by_batch, cast(null as timestamptz) as superseded_at
from places
with no data
