-- Chronicle's multi-row insert (sqlite/append.go), 100 rows a statement.
-- Chronicle binds the position explicitly; letting SQLite pick max+1 is the
-- same work. Events carry idempotency keys, so keyed = 1.
-- @rows 100
-- @params stream,version,type,data,meta,key,ts
INSERT OR ROLLBACK INTO chronicle_events (stream, version, type, data, meta, id, keyed, ts) VALUES {{(?, ?, ?, ?, ?, ?, 1, ?)}}
