//! Gatehouse's storage: the diesel schema, the repositories every other part
//! uses, and connection pools on SQLite (embedded, the default) or
//! PostgreSQL (for several replicas).
//!
//! Both backends share one code path: [`Store`] holds a pool of either kind
//! and each repository method is written once, in diesel's query DSL, and
//! compiled for both (see the `with_conn!` macro). This is the only crate
//! that knows SQL.
//!
//! Every method is blocking: callers on an async executor must run them on a
//! blocking thread pool.
#![forbid(unsafe_code)]

mod db;
mod group_commit;
pub mod models;
mod repo;
pub mod schema;
pub mod testing;

pub use db::{mask_url, Backend, DatabaseUrl, Store, StoreError};
pub use group_commit::PendingCommit;
pub use models::*;
pub use repo::admin::{Consent, RefreshFamily};
pub use repo::audit::AuditFilter;
pub use repo::grants::RedeemOutcome;
pub use repo::keys::KeyInstall;
pub use repo::user_tokens::{TokenPurpose, UserToken};
pub use repo::users::UserChanges;
