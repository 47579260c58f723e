-- Chronicle's global read (sqlite/read.go), a page at a time.
-- @params after,limit
SELECT position, stream, version, type, data, meta, id, ts FROM chronicle_events WHERE position > ? ORDER BY position LIMIT ?
