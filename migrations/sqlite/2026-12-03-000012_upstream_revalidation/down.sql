ALTER TABLE identity_links DROP COLUMN check_lease_until;
ALTER TABLE identity_links DROP COLUMN checked_at;
ALTER TABLE identity_links DROP COLUMN refresh_token_enc;
