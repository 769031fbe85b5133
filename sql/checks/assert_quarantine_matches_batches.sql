-- Quarantined rows per batch (plus those removed by `hotspots purge`) equal the batch's rejected count.
select b.batch_id, b.n_rejected, coalesce(q.n, 0) as n_quarantined, coalesce(p.n, 0) as n_purged
from batches b
left join (select batch_id, count(*) as n from quarantine group by batch_id) q using (batch_id)
left join (select batch_id, sum(n_rows) as n from purged_quarantine group by batch_id) p using (batch_id)
where b.n_rejected <> coalesce(q.n, 0) + coalesce(p.n, 0)
