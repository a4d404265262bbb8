-- Most grants have no family (lone client_credentials tokens) and many no
-- user: their NULL keys were written into both indexes on every insert and
-- never read (every query asks for a given family or user). Partial indexes
-- skip them; `family = ?` and `user_id = ?` imply IS NOT NULL, so both
-- backends still use them for every lookup.
DROP INDEX grants_family;
CREATE INDEX grants_family ON grants (family) WHERE family IS NOT NULL;
DROP INDEX grants_user;
CREATE INDEX grants_user ON grants (user_id) WHERE user_id IS NOT NULL;
