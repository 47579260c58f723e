-- upgrade only
--
-- Chronicle schema 2: the chronicle_ prefix for the tables and indexes of
-- files created at schema 1 by earlier versions, which named them events,
-- streams, snapshots, events_stream_version and events_stream_key. (New
-- files get the prefixed names from 0001_init.sql and skip this migration:
-- the "upgrade only" line above.)
--
-- SQLite cannot rename an index, so the two indexes are dropped and created
-- again under their new names; like every migration, this runs in the
-- transaction that checks the file, so a failure leaves the file at schema 1.
DROP INDEX events_stream_version;
DROP INDEX events_stream_key;
ALTER TABLE events RENAME TO chronicle_events;
ALTER TABLE streams RENAME TO chronicle_streams;
ALTER TABLE snapshots RENAME TO chronicle_snapshots;
CREATE UNIQUE INDEX chronicle_events_stream_version ON chronicle_events (stream, version);
CREATE UNIQUE INDEX chronicle_events_stream_key ON chronicle_events (stream, id) WHERE keyed = 1;
