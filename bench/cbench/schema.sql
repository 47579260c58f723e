-- Chronicle's SQLite schema (sqlite/migrations) and per-connection pragmas,
-- for ../shared/perf's cbench: the same SQL straight from C, the engine's
-- limit for Chronicle's layout. See BENCHMARKS.md.
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
PRAGMA cache_size = -16384;
PRAGMA busy_timeout = 5000;
PRAGMA temp_store = MEMORY;

CREATE TABLE IF NOT EXISTS chronicle_events (
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
CREATE UNIQUE INDEX IF NOT EXISTS chronicle_events_stream_version ON chronicle_events (stream, version);
CREATE UNIQUE INDEX IF NOT EXISTS chronicle_events_stream_key ON chronicle_events (stream, id) WHERE keyed = 1;
CREATE TABLE IF NOT EXISTS chronicle_streams (
    name     TEXT    PRIMARY KEY,
    version  INTEGER NOT NULL,
    first_ts INTEGER NOT NULL,
    last_ts  INTEGER NOT NULL
) WITHOUT ROWID;
