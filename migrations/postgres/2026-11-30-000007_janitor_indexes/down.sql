DROP INDEX grants_expires_at;
DROP INDEX sessions_expires_at;
DROP INDEX audit_events_at;
