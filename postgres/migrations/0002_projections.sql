-- Chronicle schema 2 for PostgreSQL: the state of projections (package projection).
--
-- {{schema}}.projections: one row per projection name and version. stage is
-- 'active' (the version that serves), 'building' (a newer version replaying
-- beside it) or 'retired'. pos_* is how far the global stream was examined:
-- every event up to it that passes the projection's filter has been applied
-- (or is held in a parked stream). last_* identifies the last event applied,
-- to prove at start that the checkpoint still points where it did.
-- caught_up is 1 once the version has reached the head. owner and
-- lease_until (Unix milliseconds) give the projection to one runner at a
-- time. failure is the error that stopped it, or ''.
CREATE TABLE {{schema}}.projections (
    name         text    NOT NULL,
    version      bigint  NOT NULL,
    stage        text    NOT NULL,
    pos_commit   bigint  NOT NULL DEFAULT 0,
    pos_prepare  bigint  NOT NULL DEFAULT 0,
    last_commit  bigint  NOT NULL DEFAULT 0,
    last_prepare bigint  NOT NULL DEFAULT 0,
    last_id      text    NOT NULL DEFAULT '',
    caught_up    bigint  NOT NULL DEFAULT 0,
    failure      text    NOT NULL DEFAULT '',
    owner        text    NOT NULL DEFAULT '',
    lease_until  bigint  NOT NULL DEFAULT 0,
    updated_ns   bigint  NOT NULL DEFAULT 0,
    PRIMARY KEY (name, version)
);

-- {{schema}}.projection_parked: streams whose events a projection holds after
-- one of them failed every retry. pos_* and event_* describe that event; the
-- stream's later events are held until a retry or skip (request).
CREATE TABLE {{schema}}.projection_parked (
    name          text    NOT NULL,
    version       bigint  NOT NULL,
    stream        text    NOT NULL,
    pos_commit    bigint  NOT NULL,
    pos_prepare   bigint  NOT NULL,
    event_id      text    NOT NULL,
    event_version bigint  NOT NULL,
    event_type    text    NOT NULL,
    error         text    NOT NULL,
    attempts      bigint  NOT NULL,
    parked_ns     bigint  NOT NULL,
    request       text    NOT NULL DEFAULT '',
    PRIMARY KEY (name, version, stream)
);

-- projection_log: what was done to projections by hand or by the
-- runner's error handling (parked, retried, skipped, reset, switched).
CREATE TABLE {{schema}}.projection_log (
    seq         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text    NOT NULL,
    version     bigint  NOT NULL,
    at_ns       bigint  NOT NULL,
    action      text    NOT NULL,
    stream      text    NOT NULL DEFAULT '',
    pos_commit  bigint  NOT NULL DEFAULT 0,
    pos_prepare bigint  NOT NULL DEFAULT 0,
    event_id    text    NOT NULL DEFAULT '',
    detail      text    NOT NULL DEFAULT ''
);
CREATE INDEX projection_log_name ON {{schema}}.projection_log (name, seq);
