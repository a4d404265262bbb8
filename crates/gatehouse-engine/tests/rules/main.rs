//! The engine's rules, one rule per test, in process: a temp-file SQLite
//! store, a fixed clock, typed errors. What these cannot show (HTTP
//! wiring, interop with real clients, PostgreSQL) the end-to-end suite in
//! `tests/e2e` does.

mod harness;

mod admin;
mod authorize;
mod directory;
mod federation;
mod groups;
mod janitor;
mod logout;
mod mfa;
mod recovery;
mod sessions;
mod signup;
mod sso;
mod token;
mod tokens;
