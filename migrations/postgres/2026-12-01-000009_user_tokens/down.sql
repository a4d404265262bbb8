ALTER TABLE users DROP COLUMN self_registered;
DROP TABLE user_tokens;
