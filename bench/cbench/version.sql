-- The stream's version. Chronicle reads it from its chronicle_streams
-- table, which cbench does not maintain; max(version) over the unique index
-- is the same one index probe.
-- @params stream
SELECT max(version) FROM chronicle_events WHERE stream = ?
