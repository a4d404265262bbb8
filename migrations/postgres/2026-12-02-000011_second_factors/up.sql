-- Second factors (issue: two-factor sign-in). A passkey's public key is
-- kept as webauthn-rs serialises it (in secret_enc, encrypted like the rest).
-- A TOTP secret is stored
-- encrypted under the master key (AES-256-GCM, the row's id as associated
-- data), never in the clear; `last_step` refuses a code used before.
CREATE TABLE user_factors (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('totp', 'passkey')),
    name TEXT NOT NULL,
    secret_enc TEXT NOT NULL,
    last_step BIGINT NOT NULL DEFAULT 0,
    confirmed_at BIGINT,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    -- Passkeys: the credential id (base64url), to find the key a browser used.
    credential_id TEXT
);
CREATE INDEX user_factors_user ON user_factors (user_id);
-- Single-use recovery codes, as digests only.
CREATE TABLE recovery_codes (
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    digest TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    used_at BIGINT,
    PRIMARY KEY (user_id, digest)
);
-- How a browser session was authenticated (RFC 8176 values, space separated).
ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT '';
-- Clients that require a second factor of everyone who signs in to them.
ALTER TABLE clients ADD COLUMN require_2fa BOOLEAN NOT NULL DEFAULT FALSE;
