-- Whether a client that is bound to no account may name the user of a
-- single sign-on token (`user_id`). Off unless the operator says so: such a
-- client can sign in as anyone.
ALTER TABLE clients ADD COLUMN may_name_users BOOLEAN NOT NULL DEFAULT FALSE;
