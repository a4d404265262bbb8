//! Repositories: one module per table family, each a set of `impl Store`
//! methods written once for both backends.

pub mod accounts;
pub mod admin;
pub mod api_credentials;
pub mod audit;
pub mod clients;
pub mod factors;
pub mod grants;
pub mod groups;
pub mod identity_links;
pub mod janitor;
pub mod keys;
pub mod kv;
pub mod sessions;
pub mod user_tokens;
pub mod users;
