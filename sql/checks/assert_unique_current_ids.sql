-- Each record id appears once among current rows (older versions live in *_history).
select 'episodes' as table_name, episode_id as id, count(*) as n from episodes group by episode_id having count(*) > 1
union all
select 'location_reports', report_id, count(*) from location_reports group by report_id having count(*) > 1
union all
select 'places', place_id, count(*) from places group by place_id having count(*) > 1
union all
select 'disruptions', activity_id, count(*) from disruptions group by activity_id having count(*) > 1
