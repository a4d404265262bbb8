DROP INDEX plugin_kv_expires_at;
ALTER TABLE plugin_kv DROP COLUMN expires_at;
DROP INDEX grants_session;
ALTER TABLE clients DROP COLUMN frontchannel_logout_uri;
ALTER TABLE clients DROP COLUMN backchannel_logout_uri;
DROP TABLE user_groups;
