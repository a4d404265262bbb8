-- Browser sessions at Gatehouse: the cookie carries a random value, the
-- table only its digest.
CREATE TABLE sessions (
    id BIGSERIAL PRIMARY KEY,
    digest TEXT NOT NULL UNIQUE,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    auth_time BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT,
    ip TEXT NOT NULL DEFAULT '',
    user_agent TEXT NOT NULL DEFAULT '',
    via TEXT NOT NULL DEFAULT 'password'
);
CREATE INDEX sessions_user ON sessions (user_id);

-- Every opaque credential Gatehouse issues: authorization codes, access,
-- refresh and SSO tokens. Only digests are stored. Redemption is one
-- conditional UPDATE on used_at.
CREATE TABLE grants (
    id BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL,
    digest TEXT NOT NULL UNIQUE,
    client_id TEXT NOT NULL,
    user_id BIGINT,
    session_id BIGINT,
    scope TEXT NOT NULL DEFAULT '',
    redirect_uri TEXT,
    nonce TEXT,
    code_challenge TEXT,
    code_challenge_method TEXT,
    auth_time BIGINT,
    family TEXT,
    data TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX grants_family ON grants (family);
CREATE INDEX grants_user ON grants (user_id);

CREATE TABLE consents (
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    client_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_id)
);

-- Signing keys, shared by replicas; private parts encrypted (AES-256-GCM)
-- under the master key.
CREATE TABLE signing_keys (
    id BIGSERIAL PRIMARY KEY,
    kid TEXT NOT NULL UNIQUE,
    alg TEXT NOT NULL,
    public_jwk TEXT NOT NULL,
    private_enc TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    retired_at BIGINT,
    publish_until BIGINT
);

-- A key-value store per plugin.
CREATE TABLE plugin_kv (
    plugin TEXT NOT NULL,
    k TEXT NOT NULL,
    v TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (plugin, k)
);
