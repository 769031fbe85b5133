-- Issue 12 (items 4 and 9): what a batch kept but changed or flagged, as a JSON object of counts
-- (never values), null when nothing was:
--   recoded: values outside a closed vocabulary (gender, equity flags) stored as other / not_stated,
--            per column, e.g. {"gender": 3};
--   flagged: accepted rows carrying a warning, per flag, e.g. {"ambiguous_local_time": 2}.
-- e.g. {"recoded": {"gender": 3}, "flagged": {"ambiguous_local_time": 2}}
alter table batches add column adjustments varchar
