-- Every batch balances: read = accepted + updated + duplicate + rejected.
select batch_id, n_read, n_accepted, n_updated, n_duplicate, n_rejected
from batches
where n_read <> n_accepted + n_updated + n_duplicate + n_rejected
