//! Gatehouse's engine: the OAuth 2.0 / OpenID Connect authorization server,
//! single sign-on, browser sessions, signing keys and the directory (users,
//! clients, API credentials), as services over the store. It knows no HTTP:
//! the server parses requests, calls these services and renders the result.
//!
//! Every method blocks (it talks to the database): call it from a blocking
//! thread pool, never on the async executor.

pub mod audit;
pub mod clock;
pub mod directory;
pub mod error;
pub mod keys;
pub mod oauth;
pub mod sessions;
pub mod sso;

pub use error::EngineError;
pub use sso::IssuedSsoToken;

use gatehouse_core::ScopeCatalog;
use gatehouse_store::Store;

/// Lifetimes and URLs the engine works with.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The issuer, no trailing slash.
    pub issuer: String,
    /// Base URL SSO destinations resolve against, no trailing slash.
    pub client_area_url: String,
    pub code_ttl: i64,
    pub access_ttl: i64,
    pub refresh_ttl: i64,
    pub sso_ttl: i64,
    pub id_token_ttl: i64,
    pub session_ttl: i64,
    pub max_failures_per_account: i64,
    pub max_failures_per_ip: i64,
    pub failure_window_secs: i64,
}

impl EngineConfig {
    /// Defaults for an issuer (handy in tests).
    pub fn for_issuer(issuer: &str) -> EngineConfig {
        EngineConfig {
            issuer: issuer.trim_end_matches('/').to_string(),
            client_area_url: issuer.trim_end_matches('/').to_string(),
            code_ttl: 60,
            access_ttl: 3600,
            refresh_ttl: 30 * 24 * 3600,
            sso_ttl: 60,
            id_token_ttl: 3600,
            session_ttl: 12 * 3600,
            max_failures_per_account: 5,
            max_failures_per_ip: 20,
            failure_window_secs: 900,
        }
    }
}

/// The engine: cheap to clone, shared by every request.
#[derive(Clone)]
pub struct Engine {
    pub store: Store,
    pub config: std::sync::Arc<EngineConfig>,
    pub catalog: std::sync::Arc<ScopeCatalog>,
    /// Plugin hooks, when a plugin host is running.
    hooks: Option<std::sync::Arc<dyn ConnectorHooks>>,
    /// The master key and decrypted signing keys.
    keys: std::sync::Arc<keys::KeyRing>,
    /// Where the engine reads the time (the wall clock but in tests).
    clock: std::sync::Arc<dyn clock::Clock>,
}

impl Engine {
    pub fn new(store: Store, config: EngineConfig, catalog: ScopeCatalog) -> Engine {
        Engine {
            store,
            config: std::sync::Arc::new(config),
            catalog: std::sync::Arc::new(catalog),
            hooks: None,
            keys: Default::default(),
            clock: std::sync::Arc::new(clock::SystemClock),
        }
    }

    /// Replaces the clock (tests fix it to make expiry deterministic).
    pub fn with_clock(mut self, clock: std::sync::Arc<dyn clock::Clock>) -> Engine {
        self.clock = clock;
        self
    }

    /// The engine's idea of now, in seconds since the Unix epoch.
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// Sets the plugin hooks (called once at start-up by the server).
    pub fn set_hooks(&mut self, hooks: std::sync::Arc<dyn ConnectorHooks>) {
        self.hooks = Some(hooks);
    }

    /// The plugin hooks, if set.
    pub fn hooks(&self) -> Option<&std::sync::Arc<dyn ConnectorHooks>> {
        self.hooks.as_ref()
    }
}

/// What plugins may add to the engine's work, implemented by the server's
/// plugin host. The engine calls these at the documented points and never
/// knows about plugins otherwise.
pub trait ConnectorHooks: Send + Sync {
    /// Reshapes the userinfo / ID-token claims a client attached to
    /// `connector` receives. `claims` is the engine's standard claim set for
    /// the granted `scope`; the result replaces it (the engine keeps `sub`).
    fn shape_claims(
        &self,
        connector: &str,
        client_id: &str,
        scope: &str,
        user: &gatehouse_store::User,
        claims: serde_json::Value,
    ) -> Result<serde_json::Value, String>;

    /// Tells connectors that something happened to a user
    /// (`created`, `updated`, `status_changed`, `deleted`).
    fn user_event(&self, event: &str, user: &gatehouse_store::User);
}
