-- The janitor deletes by age in small batches: each batch must find its
-- rows through an index, not a scan of millions.
CREATE INDEX grants_expires_at ON grants (expires_at);
CREATE INDEX sessions_expires_at ON sessions (expires_at);
CREATE INDEX audit_events_at ON audit_events (at);
