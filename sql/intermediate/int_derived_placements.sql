-- Placements the placements file lacks, derived from where their episodes start.
-- Grain: one row per placement_key named by an episode with a last-seen location and absent
-- from the placements table; an episode naming no placement stands for its young person's own
-- (unknown) home, keyed by the person's pseudonym. cell: the usual (modal) last-seen H3 cell of
-- those episodes at the store resolution (ties: the smaller cell id, so the result is stable);
-- episodes: how many episodes back it. A home is usually where a missing episode starts, so this
-- cell stands for the home (the caller widens its radius by the cell's extent).
with starts as (
    select coalesce(placement_key, person_key) as placement_key, last_seen_cell as cell, count(*) as episodes
    from episodes
    where last_seen_cell is not null
        and coalesce(placement_key, person_key) not in (select placement_key from placements)
    group by coalesce(placement_key, person_key), last_seen_cell
),

final as (
    select placement_key, cell, episodes
    from starts
    qualify row_number() over (partition by placement_key order by episodes desc, cell) = 1
)

select * from final order by placement_key
