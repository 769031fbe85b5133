-- Quarantined rows per batch equal the batch's rejected count.
select b.batch_id, b.n_rejected, coalesce(q.n, 0) as n_quarantined
from batches b
left join (select batch_id, count(*) as n from quarantine group by batch_id) q using (batch_id)
where b.n_rejected <> coalesce(q.n, 0)
