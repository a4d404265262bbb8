ALTER TABLE clients DROP COLUMN may_name_users;
