-- iso_week_start(ts, tz): Monday (local date) of the ISO week holding ts in time zone tz.
create or replace temp macro iso_week_start(ts, tz) as cast(date_trunc('week', timezone(tz, ts)) as date)
