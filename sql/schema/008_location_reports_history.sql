-- Superseded versions of location reports.
create table location_reports_history as
select *, cast(null as varchar) as superseded_by_batch, cast(null as timestamptz) as superseded_at
from location_reports
with no data
