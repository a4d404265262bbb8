//! The Gatehouse plugin ABI and SDK: the only crate a plugin depends on.
//!
//! A plugin is a `cdylib` that implements [`Plugin`] and calls
//! [`export_plugin!`] once. The host (gatehouse-server) loads it at start-up
//! and talks to it through a small, versioned C ABI ([`abi`]) carrying JSON
//! messages ([`messages`]); the plugin reaches the host's services (users,
//! accounts, clients, tokens, sessions, audit, a key-value store, its
//! configuration) through [`Host`]. No Rust type and no panic crosses the
//! boundary, so host and plugin need not share a compiler version.
//!
//! ```
//! use gatehouse_plugin_api::prelude::*;
//!
//! struct Hello;
//!
//! impl Plugin for Hello {
//!     const NAME: &'static str = "hello";
//!     fn describe() -> Manifest {
//!         Manifest {
//!             capabilities: vec![Capability::Routes],
//!             routes: vec![RouteDecl::new(&["GET"], "/hello")],
//!             ..Default::default()
//!         }
//!     }
//!     fn init(_ctx: InitContext) -> Result<Self, Error> {
//!         Ok(Hello)
//!     }
//!     fn route(&self, _req: HttpRequest) -> Result<HttpResponse, Error> {
//!         Ok(HttpResponse::text(200, "text/plain", "hello"))
//!     }
//! }
//!
//! export_plugin!(Hello);
//! # fn main() {
//! #     assert_eq!(Hello::describe().routes[0].path, "/hello");
//! #     let resp = Hello.route(HttpRequest::default()).unwrap();
//! #     assert_eq!((resp.status, resp.body.as_str()), (200, "hello"));
//! # }
//! ```
//!
//! The author's guide is `plugins/README.md` in the Gatehouse repository.
#![deny(missing_docs)]

pub mod abi;
pub mod form;
pub mod host;
pub mod messages;
pub mod sdk;

pub use host::Host;
pub use messages::{Error, ErrorKind};
pub use sdk::{InitContext, Plugin};

/// Everything a plugin usually needs.
pub mod prelude {
    pub use crate::export_plugin;
    pub use crate::host::Host;
    pub use crate::messages::*;
    pub use crate::sdk::{InitContext, Plugin};
    pub use serde_json::{json, Value};
}
