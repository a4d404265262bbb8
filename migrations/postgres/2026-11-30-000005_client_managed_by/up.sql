-- The plugin that created (and alone may see and change) a client through
-- host services; NULL for clients the operator made. Clients a plugin made
-- before this column existed carry its name as their connector and can
-- never name users, so they are given back to that plugin.
ALTER TABLE clients ADD COLUMN managed_by TEXT NULL;
UPDATE clients SET managed_by = connector WHERE connector IS NOT NULL AND may_name_users = FALSE AND first_party = FALSE;
