-- Chronicle schema 3: the state of projections (package projection).
--
-- chronicle_projections: one row per projection name and version. stage is
-- 'active' (the version that serves), 'building' (a newer version replaying
-- beside it) or 'retired'. pos_* is how far the global stream was examined:
-- every event up to it that passes the projection's filter has been applied
-- (or is held in a parked stream). last_* identifies the last event applied,
-- to prove at start that the checkpoint still points where it did.
-- caught_up is 1 once the version has reached the head. owner and
-- lease_until (Unix milliseconds) give the projection to one runner at a
-- time. failure is the error that stopped it, or ''.
CREATE TABLE chronicle_projections (
    name         TEXT    NOT NULL,
    version      INTEGER NOT NULL,
    stage        TEXT    NOT NULL,
    pos_commit   INTEGER NOT NULL DEFAULT 0,
    pos_prepare  INTEGER NOT NULL DEFAULT 0,
    last_commit  INTEGER NOT NULL DEFAULT 0,
    last_prepare INTEGER NOT NULL DEFAULT 0,
    last_id      TEXT    NOT NULL DEFAULT '',
    caught_up    INTEGER NOT NULL DEFAULT 0,
    failure      TEXT    NOT NULL DEFAULT '',
    owner        TEXT    NOT NULL DEFAULT '',
    lease_until  INTEGER NOT NULL DEFAULT 0,
    updated_ns   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (name, version)
) WITHOUT ROWID;

-- chronicle_projection_parked: streams whose events a projection holds after
-- one of them failed every retry. pos_* and event_* describe that event; the
-- stream's later events are held until a retry or skip (request).
CREATE TABLE chronicle_projection_parked (
    name          TEXT    NOT NULL,
    version       INTEGER NOT NULL,
    stream        TEXT    NOT NULL,
    pos_commit    INTEGER NOT NULL,
    pos_prepare   INTEGER NOT NULL,
    event_id      TEXT    NOT NULL,
    event_version INTEGER NOT NULL,
    event_type    TEXT    NOT NULL,
    error         TEXT    NOT NULL,
    attempts      INTEGER NOT NULL,
    parked_ns     INTEGER NOT NULL,
    request       TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (name, version, stream)
) WITHOUT ROWID;

-- chronicle_projection_log: what was done to projections by hand or by the
-- runner's error handling (parked, retried, skipped, reset, switched).
CREATE TABLE chronicle_projection_log (
    seq         INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    at_ns       INTEGER NOT NULL,
    action      TEXT    NOT NULL,
    stream      TEXT    NOT NULL DEFAULT '',
    pos_commit  INTEGER NOT NULL DEFAULT 0,
    pos_prepare INTEGER NOT NULL DEFAULT 0,
    event_id    TEXT    NOT NULL DEFAULT '',
    detail      TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX chronicle_projection_log_name ON chronicle_projection_log (name, seq);
