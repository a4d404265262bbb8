DROP TABLE plugin_kv;
DROP TABLE signing_keys;
DROP TABLE consents;
DROP TABLE grants;
DROP TABLE sessions;
