DROP INDEX grants_family;
CREATE INDEX grants_family ON grants (family);
DROP INDEX grants_user;
CREATE INDEX grants_user ON grants (user_id);
