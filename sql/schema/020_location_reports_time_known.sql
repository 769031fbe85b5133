-- A report whose time was given as a date only (SF's published incidents, many exports) is kept,
-- stored at local midnight with time_known = false, and left out of the hour-of-week patrol
-- windows (it says on which day, not when). true for every report given with a clock time.
alter table location_reports add column time_known boolean default true
