-- Upstream re-validation (issue: federation). The refresh token an
-- upstream gave at sign-in is kept encrypted under the master key
-- (AES-256-GCM, the link as associated data), never in the clear.
-- `checked_at`: when the upstream last vouched for the identity;
-- `check_lease_until`: a replica is re-checking it right now (a claim taken
-- with a conditional UPDATE, so no two replicas spend one upstream refresh
-- token).
ALTER TABLE identity_links ADD COLUMN refresh_token_enc TEXT;
ALTER TABLE identity_links ADD COLUMN checked_at BIGINT;
ALTER TABLE identity_links ADD COLUMN check_lease_until BIGINT;
