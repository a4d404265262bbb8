-- Groups a member belongs to (set by administrators; connectors map them to
-- forum groups, clients receive them through the `groups` scope).
CREATE TABLE user_groups (
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, name)
);
CREATE INDEX user_groups_name ON user_groups (name);
-- OpenID Connect Back-Channel and Front-Channel Logout: where a client hears
-- that a member signed out.
ALTER TABLE clients ADD COLUMN backchannel_logout_uri TEXT;
ALTER TABLE clients ADD COLUMN frontchannel_logout_uri TEXT;
-- "Which clients did this session sign in to?" is asked at every sign-out.
CREATE INDEX grants_session ON grants (session_id) WHERE session_id IS NOT NULL;
-- Plugin values that expire (a DiscourseConnect nonce is remembered for a
-- day to refuse replays); NULL: kept until deleted.
ALTER TABLE plugin_kv ADD COLUMN expires_at BIGINT;
CREATE INDEX plugin_kv_expires_at ON plugin_kv (expires_at) WHERE expires_at IS NOT NULL;
