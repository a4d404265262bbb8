-- Single-use links mailed to members (password reset; later e-mail
-- verification and invitations). Only the digest of the token is stored.
CREATE TABLE user_tokens (
    digest TEXT PRIMARY KEY NOT NULL,
    purpose TEXT NOT NULL CHECK (purpose IN ('password_reset', 'verify_email', 'invitation')),
    user_id BIGINT REFERENCES users(id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX user_tokens_user ON user_tokens (user_id, purpose);
CREATE INDEX user_tokens_expires_at ON user_tokens (expires_at);
-- Accounts members made themselves (sign-up): they confirm their e-mail
-- address before they sign in to apps (when the operator asks for it).
ALTER TABLE users ADD COLUMN self_registered BOOLEAN NOT NULL DEFAULT 0;
