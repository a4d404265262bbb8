//! Gatehouse's engine: the OAuth 2.0 / OpenID Connect authorization server,
//! single sign-on, browser sessions, signing keys and the directory (users,
//! clients, API credentials), as services over the store. It knows no HTTP:
//! the server parses requests, calls these services and renders the result.
//!
//! Every method blocks (it talks to the database): call it from a blocking
//! thread pool, never on the async executor.
#![forbid(unsafe_code)]

pub mod accounts;
pub mod admin;
pub mod audit;
pub mod caller;
pub mod clock;
pub mod directory;
pub mod error;
pub mod federation;
pub mod groups;
pub mod janitor;
pub mod keys;
pub mod logout;
pub mod mail;
pub mod mfa;
pub mod oauth;
pub mod passkeys;
pub mod recovery;
pub mod sessions;
pub mod signup;
pub mod sso;

pub use error::EngineError;

/// The records the engine's services take and return (users, clients,
/// sessions…): plain data, without the store that keeps them.
pub mod model {
    pub use gatehouse_store::{
        Account, ApiCredential, AuditEvent, AuditFilter, Client, ClientChanges, Grant, IdentityLink, Session, User,
        UserChanges,
    };
}
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
    /// Whether the operator set a client area. Without one, an SSO token
    /// lands on the member's account page here (a client-area path on
    /// Gatehouse itself would be a 404).
    pub client_area_configured: bool,
    pub code_ttl: i64,
    pub access_ttl: i64,
    pub refresh_ttl: i64,
    pub sso_ttl: i64,
    pub id_token_ttl: i64,
    pub session_ttl: i64,
    pub max_failures_per_account: i64,
    pub max_failures_per_ip: i64,
    pub failure_window_secs: i64,
    /// Link an upstream identity to the local user with the same
    /// (upstream-verified) e-mail on first sign-in; off: refuse.
    pub federation_link_verified_email: bool,
    /// At most how often (seconds) a refresh re-checks a federated member at
    /// their upstream (0: at every refresh).
    pub upstream_recheck_secs: i64,
    /// How recent a member's sign-in must be to link or unlink an upstream
    /// sign-in from the account page (re-authentication), in seconds.
    pub reauth_window_secs: i64,
    /// How long audit events are kept (seconds).
    pub audit_retention_secs: i64,
    /// The most PostgreSQL connections the engine opens (as needed).
    pub db_max_connections: u32,
    /// The shortest password a member or administrator may set.
    pub password_min_length: usize,
    /// The weakest password accepted, as a zxcvbn score (0–4).
    pub password_min_strength: u8,
    /// Who may create an account: closed (default), open or by invitation.
    pub registration: signup::Registration,
    /// Self-registered members confirm their address before signing in to apps.
    pub verify_email_before_apps: bool,
    /// Who must have a second factor.
    pub mfa_policy: mfa::MfaPolicy,
    /// How long a member the policy covers may skip enrolling (seconds).
    pub mfa_grace_secs: i64,
    /// "Sign in with a passkey" without a password.
    pub passwordless: bool,
}

impl EngineConfig {
    /// Defaults for an issuer (handy in tests).
    pub fn for_issuer(issuer: &str) -> EngineConfig {
        EngineConfig {
            issuer: issuer.trim_end_matches('/').to_string(),
            client_area_url: issuer.trim_end_matches('/').to_string(),
            client_area_configured: true,
            code_ttl: 60,
            access_ttl: 3600,
            refresh_ttl: 30 * 24 * 3600,
            sso_ttl: 60,
            id_token_ttl: 3600,
            session_ttl: 12 * 3600,
            max_failures_per_account: 5,
            max_failures_per_ip: 20,
            failure_window_secs: 900,
            federation_link_verified_email: false,
            upstream_recheck_secs: 300,
            reauth_window_secs: 600,
            audit_retention_secs: 90 * 86_400,
            db_max_connections: 16,
            password_min_length: 10,
            password_min_strength: 2,
            registration: signup::Registration::Closed,
            verify_email_before_apps: true,
            mfa_policy: mfa::MfaPolicy::Off,
            mfa_grace_secs: 7 * 86_400,
            passwordless: false,
        }
    }
}

/// The engine: cheap to clone, shared by every request.
#[derive(Clone)]
pub struct Engine {
    /// Private: every rule lives in the engine, so nothing outside it
    /// reaches the database.
    store: Store,
    pub config: std::sync::Arc<EngineConfig>,
    pub catalog: std::sync::Arc<ScopeCatalog>,
    /// Plugin hooks, when a plugin host is running.
    hooks: Option<std::sync::Arc<dyn ConnectorHooks>>,
    /// The master key and decrypted signing keys.
    keys: std::sync::Arc<keys::KeyRing>,
    /// Where the engine reads the time (the wall clock but in tests).
    clock: std::sync::Arc<dyn clock::Clock>,
    /// Static documents as prepared bytes (discovery per dialect, JWKS).
    docs: std::sync::Arc<oauth::documents::Documents>,
    /// Clients as the token path reads them, for at most a second.
    clients: std::sync::Arc<directory::ClientCache>,
    /// Where mail to members goes (none: the hub cannot send e-mail).
    mailer: Option<std::sync::Arc<dyn mail::Mailer>>,
    /// Where back-channel logout tokens go (none: not sent).
    logout_sender: Option<std::sync::Arc<dyn logout::LogoutSender>>,
    /// The WebAuthn relying party (none: the issuer is on an IP address).
    webauthn: Option<std::sync::Arc<webauthn_rs::Webauthn>>,
}

/// What a migration run did.
#[derive(Debug, Clone)]
pub struct Migrated {
    /// The database, password masked.
    pub database: String,
    /// The migrations applied now (empty: up to date).
    pub applied: Vec<String>,
}

/// Opens the database `url` names and applies pending migrations
/// (`gatehouse migrate`).
pub fn migrate_database(url: &str) -> Result<Migrated, EngineError> {
    let store = Store::open(url)?;
    let applied = store.migrate()?;
    Ok(Migrated { database: store.masked_url(), applied })
}

impl Engine {
    /// Opens (and migrates) the database `url` names and builds the engine
    /// on it: `postgres://…` or a SQLite path / `sqlite://…`.
    pub fn open(url: &str, config: EngineConfig, catalog: ScopeCatalog) -> Result<Engine, EngineError> {
        let store = Store::open_and_migrate_with(url, config.db_max_connections)?;
        Ok(Engine::new(store, config, catalog))
    }

    fn new(store: Store, config: EngineConfig, catalog: ScopeCatalog) -> Engine {
        let webauthn = passkeys::relying_party(&config.issuer, "Gatehouse");
        Engine {
            store,
            config: std::sync::Arc::new(config),
            catalog: std::sync::Arc::new(catalog),
            hooks: None,
            keys: Default::default(),
            clock: std::sync::Arc::new(clock::SystemClock),
            docs: Default::default(),
            clients: Default::default(),
            mailer: None,
            logout_sender: None,
            webauthn,
        }
    }

    /// Replaces the clock (tests fix it to make expiry deterministic).
    pub fn with_clock(mut self, clock: std::sync::Arc<dyn clock::Clock>) -> Engine {
        self.clock = clock;
        self
    }

    /// The database this engine works on, password masked (for logs).
    pub fn database(&self) -> String {
        self.store.masked_url()
    }

    /// Each connection pool's name, open and idle connections (metrics).
    pub fn pool_state(&self) -> Vec<(&'static str, u32, u32)> {
        self.store.pool_state()
    }

    /// Whether the database answers (readiness).
    pub fn ping_database(&self) -> Result<(), EngineError> {
        Ok(self.store.ping()?)
    }

    /// The engine's idea of now, in seconds since the Unix epoch.
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// Sets the plugin hooks (called once at start-up by the server).
    pub fn set_hooks(&mut self, hooks: std::sync::Arc<dyn ConnectorHooks>) {
        self.hooks = Some(hooks);
    }

    /// Sets where mail to members goes (called once at start-up).
    pub fn set_mailer(&mut self, mailer: std::sync::Arc<dyn mail::Mailer>) {
        self.mailer = Some(mailer);
    }

    /// Whether this hub can send e-mail.
    pub fn can_send_mail(&self) -> bool {
        self.mailer.is_some()
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

    /// Maps the scope a client attached to `connector` asked for at the
    /// authorization endpoint to the hub's scopes (an app that speaks its
    /// own scope names). The engine then checks the result as usual.
    fn translate_scopes(&self, connector: &str, client_id: &str, scope: &str) -> Result<String, String> {
        let _ = (connector, client_id);
        Ok(scope.to_string())
    }

    /// Asks the upstream `upstream` again about the identity `subject`,
    /// spending the refresh token it gave (upstream re-validation). Called
    /// by one replica at a time per identity.
    fn check_upstream(&self, upstream: &str, subject: &str, refresh_token: &str) -> federation::UpstreamCheck {
        let _ = (subject, refresh_token);
        federation::UpstreamCheck::Unavailable(format!("no plugin serves upstream {upstream}"))
    }

    /// Tells connectors that something happened to a user.
    fn user_event(&self, event: gatehouse_core::UserEvent, user: &gatehouse_store::User);
}
