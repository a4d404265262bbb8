ALTER TABLE clients DROP COLUMN require_2fa;
ALTER TABLE sessions DROP COLUMN amr;
DROP TABLE recovery_codes;
DROP TABLE user_factors;
