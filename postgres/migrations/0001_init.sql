-- Chronicle schema 1 for PostgreSQL. {{schema}} is the store's schema.
--
-- events: one row per event. The global order is (tx_id, seq): tx_id is the
-- 64-bit ID of the appending transaction (pg_current_xact_id()), seq a
-- sequence number. Readers of the global stream only read below the
-- visibility frontier, pg_snapshot_xmin(pg_current_snapshot()): every
-- transaction with a smaller ID has ended, so nothing can appear there
-- later. Times are Unix nanoseconds, UTC. Only caller-given IDs (keyed) are
-- in the idempotency index.
CREATE SEQUENCE {{schema}}.events_seq AS bigint CACHE 32;

CREATE TABLE {{schema}}.events (
    tx_id   bigint NOT NULL,
    seq     bigint NOT NULL DEFAULT nextval('{{schema}}.events_seq'),
    stream  text   COLLATE "C" NOT NULL,
    version bigint NOT NULL,
    type    text   NOT NULL,
    data    bytea  NOT NULL,
    meta    jsonb,
    id      text   NOT NULL,
    keyed   boolean NOT NULL,
    ts      bigint NOT NULL,
    PRIMARY KEY (tx_id, seq)
);
ALTER SEQUENCE {{schema}}.events_seq OWNED BY {{schema}}.events.seq;
CREATE UNIQUE INDEX events_stream_version ON {{schema}}.events (stream, version);
CREATE UNIQUE INDEX events_stream_key ON {{schema}}.events (stream, id) WHERE keyed;

-- streams: one row per stream that holds events, with its version (the
-- number of its events) and the times of its first and last events.
-- Appends to one stream are serialized by an advisory lock on its name,
-- taken before the appending transaction gets its ID.
CREATE TABLE {{schema}}.streams (
    name     text   COLLATE "C" PRIMARY KEY,
    version  bigint NOT NULL,
    first_ts bigint NOT NULL,
    last_ts  bigint NOT NULL
);

-- snapshots: the latest snapshot per (stream, name). The global stream's
-- snapshots use stream '' (never a valid stream name) and keep the
-- position (pos_tx, pos_seq).
CREATE TABLE {{schema}}.snapshots (
    stream  text   COLLATE "C" NOT NULL,
    name    text   COLLATE "C" NOT NULL,
    version bigint NOT NULL,
    pos_tx  bigint NOT NULL,
    pos_seq bigint NOT NULL,
    state   bytea  NOT NULL,
    ts      bigint NOT NULL,
    PRIMARY KEY (stream, name)
);
