-- Families revoked as a whole (a reused code or refresh token). Checked on
-- every use of a token, so a token inserted into a family after it was
-- revoked (a concurrent legitimate refresh that lost the race to a thief's
-- replay) is dead too, on every replica.
CREATE TABLE revoked_families (
    family TEXT PRIMARY KEY NOT NULL,
    revoked_at BIGINT NOT NULL
);
