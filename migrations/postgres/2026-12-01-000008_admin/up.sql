-- Administrators are ordinary users with a role (issue: operators).
ALTER TABLE users ADD COLUMN is_admin BOOLEAN NOT NULL DEFAULT FALSE;
-- The admin user list searches by e-mail and pages by id.
CREATE INDEX users_email_lower ON users (lower(email));
