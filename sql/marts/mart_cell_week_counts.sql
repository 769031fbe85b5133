-- The cube: counts per (H3 cell, ISO week) over the study area, zeros included.
-- Grain: one row per cell in cube_cells x ISO week from $first_week to $last_week (Mondays,
-- local dates in the store's time zone). Inputs: int_cell_events (one row per event at the
-- cube's resolution) and cube_cells (the study area's cells), both prepared by pipelines/cube.py.
-- Counts: episodes started (last-seen location) and found (found location), distinct young
-- people and distinct placements over all events in the bin, location reports by kind and by
-- source, episodes flagged cse_concern or high risk. exposure defaults to 1 (METHODS.md §1).
-- kind and source are set on reports only (null on episode events), so their filters need no event test.
-- Every event counts; the counts as reported by an origin week are derived from this cube
-- (pipelines/as_reported.py, with sql/backtest/late_reports.sql).
-- params: first_week, last_week
create or replace temp table mart_cell_week_counts as
with weeks as (
    select cast(unnest(generate_series(cast($first_week as date), cast($last_week as date), interval 7 day)) as date)
        as week_start
),

week_labels as (  -- label each week once, not once per cell-week
    select week_start, iso_week_label(week_start) as week from weeks
),

cells as (
    select distinct cell from cube_cells
),

bins as (
    select cells.cell, w.week, w.week_start from cells cross join week_labels w
),

events as (
    select * from int_cell_events
    where week_start between cast($first_week as date) and cast($last_week as date)
),

counts as (
    select
        cell,
        week_start,
        count(*) filter (where event = 'episode_started') as episodes_started,
        count(*) filter (where event = 'episode_found') as found_episodes,
        count(*) filter (where event = 'report') as reports,
        count(*) filter (where kind = 'sighting') as reports_sighting,
        count(*) filter (where kind = 'found') as reports_found,
        count(*) filter (where kind = 'rhi_disclosure') as reports_rhi_disclosure,
        count(*) filter (where kind = 'adult_of_concern') as reports_adult_of_concern,
        count(*) filter (where kind = 'vehicle_of_concern') as reports_vehicle_of_concern,
        count(*) filter (where kind = 'premises_of_concern') as reports_premises_of_concern,
        count(*) filter (where kind = 'other') as reports_other,
        count(*) filter (where source = 'police') as reports_police,
        count(*) filter (where source = 'child_protection') as reports_child_protection,
        count(*) filter (where source = 'care_provider') as reports_care_provider,
        count(*) filter (where source = 'education') as reports_education,
        count(*) filter (where source = 'health') as reports_health,
        count(*) filter (where source = 'youth_service') as reports_youth_service,
        count(*) filter (where source = 'community') as reports_community,
        count(*) filter (where source = 'return_interview') as reports_return_interview,
        count(*) filter (where event <> 'report' and cse_concern) as cse_concern_episodes,
        count(*) filter (where event <> 'report' and risk_level = 'high') as high_risk_episodes
    from events
    group by cell, week_start
),

-- distinct young people / placements per bin: de-duplicate (bin, key) pairs with a plain hash
-- aggregate, then count; much cheaper than count(distinct ...) next to 20 other aggregates
people as (
    select cell, week_start, count(*) as young_people
    from (select distinct cell, week_start, person_key from events where person_key is not null)
    group by cell, week_start
),

placements as (
    select cell, week_start, count(*) as placements
    from (select distinct cell, week_start, placement_key from events where placement_key is not null)
    group by cell, week_start
),

final as (
    select
        b.cell,
        b.week,
        b.week_start,
        coalesce(a.episodes_started, 0) as episodes_started,
        coalesce(a.found_episodes, 0) as found_episodes,
        coalesce(pp.young_people, 0) as young_people,
        coalesce(pl.placements, 0) as placements,
        coalesce(a.reports, 0) as reports,
        coalesce(a.reports_sighting, 0) as reports_sighting,
        coalesce(a.reports_found, 0) as reports_found,
        coalesce(a.reports_rhi_disclosure, 0) as reports_rhi_disclosure,
        coalesce(a.reports_adult_of_concern, 0) as reports_adult_of_concern,
        coalesce(a.reports_vehicle_of_concern, 0) as reports_vehicle_of_concern,
        coalesce(a.reports_premises_of_concern, 0) as reports_premises_of_concern,
        coalesce(a.reports_other, 0) as reports_other,
        coalesce(a.reports_police, 0) as reports_police,
        coalesce(a.reports_child_protection, 0) as reports_child_protection,
        coalesce(a.reports_care_provider, 0) as reports_care_provider,
        coalesce(a.reports_education, 0) as reports_education,
        coalesce(a.reports_health, 0) as reports_health,
        coalesce(a.reports_youth_service, 0) as reports_youth_service,
        coalesce(a.reports_community, 0) as reports_community,
        coalesce(a.reports_return_interview, 0) as reports_return_interview,
        coalesce(a.cse_concern_episodes, 0) as cse_concern_episodes,
        coalesce(a.high_risk_episodes, 0) as high_risk_episodes,
        cast(1.0 as double) as exposure          -- weekly exposure weight; 1 = uniform
    from bins b
    left join counts a on a.cell = b.cell and a.week_start = b.week_start
    left join people pp on pp.cell = b.cell and pp.week_start = b.week_start
    left join placements pl on pl.cell = b.cell and pl.week_start = b.week_start
)

select * from final  -- unordered: readers order (sorting 3.6 M rows costs more than building them)
