-- Which local user an upstream identity (a plugin's subject) signs in as.
-- Federated sign-in matches on this link, never on the e-mail alone.
CREATE TABLE identity_links (
    plugin TEXT NOT NULL,
    subject TEXT NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    email TEXT,
    created_at BIGINT NOT NULL,
    last_login_at BIGINT NOT NULL,
    PRIMARY KEY (plugin, subject)
);
CREATE INDEX identity_links_user ON identity_links (user_id);
