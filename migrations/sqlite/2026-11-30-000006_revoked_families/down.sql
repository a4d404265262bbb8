DROP TABLE revoked_families;
