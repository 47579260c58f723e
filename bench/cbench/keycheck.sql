-- Chronicle's idempotency look-up: once per stream of the batch (one Append
-- per stream), 100 keys a statement, through the partial unique index.
-- @per stream
-- @rows 100
-- @params stream,key
SELECT id FROM chronicle_events WHERE keyed = 1 AND stream = ? AND id IN ({{?}})
