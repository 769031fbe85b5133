-- iso_week_label(d): 'YYYY-Www' label of the ISO week starting on date d (uses the ISO year).
create or replace temp macro iso_week_label(d) as strftime(d, '%G-W%V')
