-- Chronicle schema 3 for PostgreSQL: an index of the reset entries of the
-- projection log, so that a runner's look for a reset requested through
-- projection.Admin (every third of its lease) costs one index look-up
-- however long the log.
CREATE INDEX projection_log_reset ON {{schema}}.projection_log (name, version, seq)
    WHERE action IN ('reset', 'reset requested');
