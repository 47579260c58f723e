-- Chronicle schema 1.
--
-- Every table and index Chronicle owns is named with the chronicle_ prefix,
-- so that an application may keep its own tables in the same file. Files
-- created at schema 1 by earlier versions have these tables and indexes
-- without the prefix; 0002_prefix.sql renames them. New files get the
-- prefixed names here and skip 0002 (it is marked upgrade only), so that
-- an application's own tables named events, streams or snapshots never
-- clash with these.
--
-- chronicle_events: one row per event. position is the global position
-- (INTEGER PRIMARY KEY: the rowid, no AUTOINCREMENT). Times are Unix
-- nanoseconds, UTC. Only caller-given IDs (keyed = 1) are in the unique
-- idempotency index; store-generated UUIDv7s cost no index maintenance.
CREATE TABLE chronicle_events (
    position INTEGER PRIMARY KEY,
    stream   TEXT    NOT NULL,
    version  INTEGER NOT NULL,
    type     TEXT    NOT NULL,
    data     BLOB    NOT NULL,
    meta     TEXT,
    id       TEXT    NOT NULL,
    keyed    INTEGER NOT NULL,
    ts       INTEGER NOT NULL
);
CREATE UNIQUE INDEX chronicle_events_stream_version ON chronicle_events (stream, version);
CREATE UNIQUE INDEX chronicle_events_stream_key ON chronicle_events (stream, id) WHERE keyed = 1;

-- chronicle_streams: one row per stream that holds events; its current
-- version and the times of its first and last events. Versions are
-- contiguous, so the number of events equals the version.
CREATE TABLE chronicle_streams (
    name     TEXT    PRIMARY KEY,
    version  INTEGER NOT NULL,
    first_ts INTEGER NOT NULL,
    last_ts  INTEGER NOT NULL
) WITHOUT ROWID;

-- chronicle_snapshots: the latest snapshot per (stream, name). The global
-- stream's snapshots use stream '' (never a valid stream name) and keep the
-- position.
CREATE TABLE chronicle_snapshots (
    stream   TEXT    NOT NULL,
    name     TEXT    NOT NULL,
    version  INTEGER NOT NULL,
    position INTEGER NOT NULL,
    state    BLOB    NOT NULL,
    ts       INTEGER NOT NULL,
    PRIMARY KEY (stream, name)
) WITHOUT ROWID;
