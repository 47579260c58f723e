-- Chronicle schema 1.
--
-- events: one row per event. position is the global position (INTEGER
-- PRIMARY KEY: the rowid, no AUTOINCREMENT). Times are Unix nanoseconds, UTC.
-- Only caller-given IDs (keyed = 1) are in the unique idempotency index;
-- store-generated UUIDv7s cost no index maintenance.
CREATE TABLE events (
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
CREATE UNIQUE INDEX events_stream_version ON events (stream, version);
CREATE UNIQUE INDEX events_stream_key ON events (stream, id) WHERE keyed = 1;

-- streams: one row per stream that holds events; its current version and the
-- times of its first and last events. Versions are contiguous, so the number
-- of events equals the version.
CREATE TABLE streams (
    name     TEXT    PRIMARY KEY,
    version  INTEGER NOT NULL,
    first_ts INTEGER NOT NULL,
    last_ts  INTEGER NOT NULL
) WITHOUT ROWID;

-- snapshots: the latest snapshot per (stream, name). The global stream's
-- snapshots use stream '' (never a valid stream name) and keep the position.
CREATE TABLE snapshots (
    stream   TEXT    NOT NULL,
    name     TEXT    NOT NULL,
    version  INTEGER NOT NULL,
    position INTEGER NOT NULL,
    state    BLOB    NOT NULL,
    ts       INTEGER NOT NULL,
    PRIMARY KEY (stream, name)
) WITHOUT ROWID;
