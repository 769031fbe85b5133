-- No count in the cube is negative and exposure is positive: rows returned break the rule.
select cell, week
from mart_cell_week_counts
where least(episodes_started, found_episodes, young_people, placements, reports,
            cse_concern_episodes, high_risk_episodes) < 0
   or exposure <= 0
   or reports < greatest(reports_sighting, reports_police)
