DROP TABLE audit_events;
DROP TABLE api_credentials;
DROP TABLE clients;
DROP TABLE account_members;
DROP TABLE accounts;
DROP TABLE users;
