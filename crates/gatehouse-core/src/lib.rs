//! Gatehouse's domain model: users and their statuses, OAuth clients and grant
//! types, the scope catalog, secrets and their digests, PKCE and redirect-URI
//! rules.
//!
//! This crate does no IO: no SQL, no HTTP, no files. The store persists what
//! it defines, the engine applies its rules, the server renders them.
#![forbid(unsafe_code)]

pub mod client;
pub mod dialect;
pub mod endpoint;
pub mod grant;
pub mod oauth_error;
pub mod pkce;
pub mod redirect;
pub mod scope;
pub mod secret;
#[cfg(feature = "sql")]
mod sql;
pub mod time;
pub mod user;

pub use client::{ClientType, GrantType};
pub use dialect::Dialect;
pub use endpoint::Endpoint;
pub use grant::{GrantKind, SigningAlg, UserEvent};
pub use oauth_error::OAuthErrorCode;
pub use scope::{Scope, ScopeCatalog, ScopeSet};
pub use user::UserStatus;
