-- The analysed measure's events with their own points, to be counted by area (pipelines/area_hotspots.py).
-- Grain: one row per event of int_cell_events whose local ISO week starts between $first_week and
-- $last_week, and whose event ($event, e.g. 'report') and report kind ($kind, e.g. 'sighting') match
-- the measure (a null parameter matches any). Episode starts are left out, as in the cell engine.
-- params: first_week, last_week, event, kind
select
    lat,
    lon,
    week_start
from int_cell_events
where week_start between cast($first_week as date) and cast($last_week as date)
    and event <> 'episode_started'
    and (cast($event as varchar) is null or event = $event)
    and (cast($kind as varchar) is null or kind = $kind)
