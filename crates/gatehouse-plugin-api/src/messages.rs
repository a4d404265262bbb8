//! The JSON messages that cross the ABI, versioned with
//! [`SCHEMA_VERSION`](crate::abi::SCHEMA_VERSION).
//!
//! Every call answers a [`Reply`]: `{"ok": …}` or `{"error": {"kind", "message"}}`.
//! Fields added in later schema versions are optional (`#[serde(default)]`),
//! so an older plugin keeps working with a newer host.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Method names of `call` (host → plugin).
pub mod plugin_methods {
    /// `Manifest` after init (routes may depend on configuration).
    pub const MANIFEST: &str = "manifest";
    /// `HttpRequest` → `HttpResponse`.
    pub const ROUTE: &str = "route";
    /// `BeginLogin` → `LoginRedirect`.
    pub const BEGIN_LOGIN: &str = "identity.begin_login";
    /// `CompleteLogin` → `ExternalIdentity`.
    pub const COMPLETE_LOGIN: &str = "identity.complete_login";
    /// `RefreshIdentity` → `ExternalIdentity`.
    pub const REFRESH: &str = "identity.refresh";
    /// `ShapeClaims` → JSON object.
    pub const SHAPE_CLAIMS: &str = "connector.shape_claims";
    /// `TranslateScopes` → `TranslatedScopes`.
    pub const TRANSLATE_SCOPES: &str = "connector.translate_scopes";
    /// `SetupRequest` → `SetupInstructions`.
    pub const SETUP_INSTRUCTIONS: &str = "connector.setup_instructions";
    /// `UserEvent` → `null`.
    pub const USER_EVENT: &str = "connector.user_event";
}

/// Method names of `host_call` (plugin → host).
pub mod host_methods {
    pub const INFO: &str = "host.info";
    pub const CONFIG: &str = "host.config";
    pub const LOG: &str = "host.log";
    pub const SCOPES: &str = "scopes.list";
    pub const USER_GET: &str = "users.get";
    pub const USER_CREATE: &str = "users.create";
    pub const USER_SET_STATUS: &str = "users.set_status";
    pub const USER_SET_ALLOW_SSO: &str = "users.set_allow_sso";
    pub const USER_VERIFY_PASSWORD: &str = "users.verify_password";
    pub const ACCOUNT_GET: &str = "accounts.get";
    pub const ACCOUNTS_OF_USER: &str = "accounts.of_user";
    pub const ACCOUNT_CREATE: &str = "accounts.create";
    pub const ACCOUNT_ADD_MEMBER: &str = "accounts.add_member";
    pub const CLIENT_CREATE: &str = "clients.create";
    pub const CLIENT_LIST: &str = "clients.list";
    pub const CLIENT_GET: &str = "clients.get";
    pub const CLIENT_UPDATE: &str = "clients.update";
    pub const CLIENT_DELETE: &str = "clients.delete";
    pub const CLIENT_AUTHENTICATE: &str = "clients.authenticate";
    pub const API_CREDENTIAL_CHECK: &str = "api_credentials.check";
    pub const SSO_TOKEN_ISSUE: &str = "tokens.issue_sso";
    pub const SESSION_START: &str = "sessions.start";
    pub const AUDIT: &str = "audit.write";
    pub const KV_GET: &str = "kv.get";
    pub const KV_SET: &str = "kv.set";
    pub const KV_DELETE: &str = "kv.delete";
}

// ---------------------------------------------------------------------------
// Envelope and errors

/// The answer to every call in either direction.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply<T> {
    Ok(T),
    Error(Error),
}

impl<T> From<Result<T, Error>> for Reply<T> {
    fn from(r: Result<T, Error>) -> Self {
        match r {
            Ok(v) => Reply::Ok(v),
            Err(e) => Reply::Error(e),
        }
    }
}

impl<T> Reply<T> {
    pub fn into_result(self) -> Result<T, Error> {
        match self {
            Reply::Ok(v) => Ok(v),
            Reply::Error(e) => Err(e),
        }
    }
}

/// What kind of failure an [`Error`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The input was refused (a message fit to show the caller).
    Invalid,
    NotFound,
    Conflict,
    /// Not allowed (e.g. a kv key outside the plugin's scope).
    Forbidden,
    /// The method is unknown or the capability not implemented.
    Unsupported,
    /// The plugin panicked; the message is the panic's.
    Panic,
    /// Anything else: the server's or the plugin's fault.
    Internal,
}

/// An error crossing the boundary in either direction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error { kind, message: message.into() }
    }
    pub fn invalid(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Invalid, message)
    }
    pub fn not_found(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::NotFound, message)
    }
    pub fn internal(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Internal, message)
    }
    pub fn unsupported(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Unsupported, message)
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.message)
    }
}

impl std::error::Error for Error {}

// ---------------------------------------------------------------------------
// Manifest

/// What a plugin can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    Routes,
    Dialect,
    IdentityProvider,
    ClientConnector,
}

/// What a plugin is and what it serves. `describe` answers the static
/// manifest; after `init` the host asks again, so routes may depend on config.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Manifest {
    /// Short name, `[a-z0-9_-]+` (`whmcs`).
    pub name: String,
    pub version: String,
    pub description: String,
    pub capabilities: Vec<Capability>,
    /// `routes`: paths the plugin serves itself.
    pub routes: Vec<RouteDecl>,
    /// `dialect`: engine endpoints served under other paths.
    pub aliases: Vec<AliasDecl>,
    /// `dialect`: the behaviour knobs applied on the aliases.
    pub dialect: Option<DialectTable>,
    /// `identity_provider`: how the login page shows it.
    pub identity_provider: Option<IdentityProviderInfo>,
}

/// A path the plugin serves: an exact path (`/includes/api.php`) or a prefix
/// ending in `/*` (`/example/*`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteDecl {
    /// `GET`, `POST`…; empty: every method.
    #[serde(default)]
    pub methods: Vec<String>,
    pub path: String,
    /// When a plugin call fails (error or panic), answer with this JSON
    /// object (plus `request_id`) and status 500 instead of the host's
    /// `{"error":"server_error",…}`: the protocol's own error format.
    #[serde(default)]
    pub error_body: Option<Value>,
}

impl RouteDecl {
    pub fn new(methods: &[&str], path: &str) -> RouteDecl {
        RouteDecl { methods: methods.iter().map(|m| m.to_string()).collect(), path: path.into(), error_body: None }
    }
}

/// The engine endpoints an alias can point at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EngineEndpoint {
    Discovery,
    Jwks,
    Authorize,
    Token,
    Userinfo,
    Sso,
    Revoke,
    Introspect,
    Logout,
}

/// An engine endpoint under another path (`/oauth/token.php` → `token`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AliasDecl {
    pub path: String,
    /// Allowed methods; others get 405. Empty: the endpoint's own.
    #[serde(default)]
    pub methods: Vec<String>,
    pub endpoint: EngineEndpoint,
}

/// How a dialect differs from the standard endpoints. Every field is
/// optional: an absent one keeps the standard behaviour, whose defaults live
/// once, in the host. The host converts this table field by field, so a
/// field it does not know is a compile error there, never a silent default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DialectTable {
    /// A name for logs; absent: the plugin's name.
    pub name: Option<String>,
    /// `state` is required at the authorization endpoint (standard: no).
    pub require_state: Option<bool>,
    /// The scope used when an authorization request sends none.
    pub default_scope: Option<String>,
    /// Authorization code lifetime in seconds (absent: the server's setting).
    pub code_ttl: Option<i64>,
    /// Access token lifetime in seconds (absent: the server's setting).
    pub access_ttl: Option<i64>,
    /// The OAuth `error` code sent when the user declines consent
    /// (standard: `access_denied`); must be a known code or the plugin is
    /// refused at load.
    pub consent_denied_error: Option<String>,
    /// Errors before the redirect URI is trusted are JSON rather than an
    /// HTML page (standard: no).
    pub pre_redirect_errors_as_json: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct IdentityProviderInfo {
    /// "Sign in with …" on the login page.
    pub display_name: String,
}

// ---------------------------------------------------------------------------
// init

/// What `init` receives (as JSON in its `config` argument).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct InitRequest {
    /// The `[plugins.config]` table, as JSON.
    pub config: Value,
    pub host: HostInfo,
}

/// Facts about the host a plugin may need.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HostInfo {
    /// The issuer, no trailing slash.
    pub issuer: String,
    /// The client-area base URL, no trailing slash.
    pub client_area_url: String,
    /// The name the host knows this plugin by.
    pub plugin_name: String,
    pub host_version: String,
    pub abi_version: u32,
    pub schema_version: u32,
}

// ---------------------------------------------------------------------------
// routes

/// An HTTP request for a plugin route or a protocol hook.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HttpRequest {
    pub method: String,
    /// The path, percent-decoding not applied.
    pub path: String,
    /// The raw query string, without `?`.
    pub query: String,
    /// Header names lower-cased, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The body: UTF-8 text, or base64 when `body_base64`.
    pub body: String,
    pub body_base64: bool,
    /// The TCP peer's IP address.
    pub peer_addr: Option<String>,
    pub request_id: String,
}

impl HttpRequest {
    /// The first header with this (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Query parameters, decoded (`application/x-www-form-urlencoded`).
    pub fn query_params(&self) -> Vec<(String, String)> {
        crate::form::parse(&self.query)
    }

    /// Form body parameters, decoded (for `application/x-www-form-urlencoded`).
    pub fn form_params(&self) -> Vec<(String, String)> {
        if self.body_base64 {
            return Vec::new();
        }
        crate::form::parse(&self.body)
    }

    /// The body as bytes.
    pub fn body_bytes(&self) -> Vec<u8> {
        if self.body_base64 {
            crate::form::base64_decode(&self.body).unwrap_or_default()
        } else {
            self.body.as_bytes().to_vec()
        }
    }
}

/// A plugin's answer to an HTTP request. The host validates it: status in
/// 200..=599, well-formed headers, no hop-by-hop or length headers, and a
/// `Location` that is relative or points at the issuer, the client area or a
/// registered redirect URI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub body_base64: bool,
    /// Sign the browser in: the host starts a session and sets its cookie.
    pub start_session: Option<SessionStart>,
}

impl Default for HttpResponse {
    fn default() -> Self {
        HttpResponse { status: 200, headers: Vec::new(), body: String::new(), body_base64: false, start_session: None }
    }
}

impl HttpResponse {
    pub fn new(status: u16) -> HttpResponse {
        HttpResponse { status, ..Default::default() }
    }
    /// A JSON body with `Content-Type: application/json`.
    pub fn json(status: u16, body: &impl Serialize) -> HttpResponse {
        HttpResponse::new(status)
            .header("Content-Type", "application/json")
            .body(serde_json::to_string(body).unwrap_or_else(|_| "null".into()))
    }
    /// A text body with the given content type.
    pub fn text(status: u16, content_type: &str, body: impl Into<String>) -> HttpResponse {
        HttpResponse::new(status).header("Content-Type", content_type).body(body)
    }
    /// `302 Found` to `location`.
    pub fn redirect(location: &str) -> HttpResponse {
        HttpResponse::new(302).header("Location", location)
    }
    pub fn header(mut self, name: &str, value: &str) -> HttpResponse {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
    pub fn body(mut self, body: impl Into<String>) -> HttpResponse {
        self.body = body.into();
        self.body_base64 = false;
        self
    }
    pub fn binary_body(mut self, body: &[u8]) -> HttpResponse {
        self.body = crate::form::base64_encode(body);
        self.body_base64 = true;
        self
    }
    pub fn with_session(mut self, session: SessionStart) -> HttpResponse {
        self.start_session = Some(session);
        self
    }
}

/// Asks the host to sign the browser in as `user_id` with this response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionStart {
    pub user_id: i64,
    /// How the user arrived (`sso`, `whmcs-sso`…), for the session and audit.
    pub via: String,
}

// ---------------------------------------------------------------------------
// identity_provider

/// Start a login at the upstream provider.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BeginLogin {
    /// Where the provider must send the browser back (the host's callback).
    pub callback_url: String,
    /// Extra hints (`login_hint`, `prompt`).
    pub params: BTreeMap<String, String>,
}

/// Where to send the browser, and the opaque state to keep until the callback.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LoginRedirect {
    pub redirect_url: String,
    /// Opaque to the host; handed back in [`CompleteLogin::state`].
    pub state: String,
}

/// The provider sent the browser back.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CompleteLogin {
    pub callback_url: String,
    /// The callback's query parameters.
    pub params: BTreeMap<String, String>,
    /// The state [`LoginRedirect`] returned.
    pub state: String,
}

/// Refresh an identity with a refresh token the plugin returned before.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RefreshIdentity {
    pub subject: String,
    pub refresh_token: String,
}

/// An identity the plugin verified at the upstream provider.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExternalIdentity {
    /// The provider's stable id for the user.
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub locale: Option<String>,
    /// Every other claim, as the provider sent it.
    pub claims: Value,
    /// For `identity.refresh` later.
    pub refresh_token: Option<String>,
}

// ---------------------------------------------------------------------------
// client_connector

/// Reshape the claims a client attached to this connector receives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShapeClaims {
    pub client_id: String,
    /// The granted scope, space separated.
    pub scope: String,
    pub user: User,
    /// The engine's standard claims for the scope; return the replacement
    /// (the engine keeps `sub`).
    pub claims: Value,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TranslateScopes {
    pub client_id: String,
    pub scope: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TranslatedScopes {
    pub scope: String,
}

/// Produce setup instructions for a client (e.g. the forum's form values).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetupRequest {
    pub client: Client,
    /// Present right after creation or a secret reset only.
    #[serde(default)]
    pub client_secret: Option<String>,
    pub issuer: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SetupInstructions {
    pub title: String,
    /// `(label, value)` pairs, ready to paste.
    pub fields: Vec<(String, String)>,
    /// Free text (Markdown).
    pub notes: String,
}

/// Something happened to a user: `created`, `updated`, `status_changed`, `deleted`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserEvent {
    pub event: String,
    pub user: User,
}

// ---------------------------------------------------------------------------
// Host services

/// A user as plugins see it (never the password hash).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct User {
    pub id: i64,
    /// Stable opaque id (the `sub`).
    pub uuid: String,
    pub email: String,
    pub email_verified: bool,
    pub display_name: String,
    pub given_name: String,
    pub family_name: String,
    pub locale: String,
    /// `Active`, `Inactive` or `Closed`.
    pub status: String,
    pub allow_sso: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NewUser {
    pub email: String,
    /// "First Last".
    pub name: String,
    pub password: Option<String>,
    pub status: Option<String>,
    pub allow_sso: Option<bool>,
    pub locale: Option<String>,
    pub email_verified: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Account {
    pub id: i64,
    pub name: String,
    pub owner_user_id: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// An OAuth client (never its secret).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Client {
    /// Numeric id (WHMCS's `credentialId`).
    pub id: i64,
    pub client_id: String,
    pub name: String,
    pub description: String,
    pub logo_uri: String,
    pub grant_types: Vec<String>,
    pub scopes: Vec<String>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub is_public: bool,
    pub first_party: bool,
    pub bound_account_id: Option<i64>,
    pub id_token_alg: String,
    pub connector: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A client to register; the host generates its id and secret.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NewClient {
    pub name: String,
    pub description: String,
    pub logo_uri: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    /// Empty: `authorization_code refresh_token`.
    pub grant_types: Vec<String>,
    pub scopes: Vec<String>,
    pub is_public: bool,
    pub first_party: bool,
    pub bound_account_id: Option<i64>,
    /// A prefix for the generated client id (`COMPANY-NAME.`).
    pub client_id_prefix: Option<String>,
    pub id_token_alg: Option<String>,
    /// Attach the client to a connector plugin (usually this one).
    pub connector: Option<String>,
}

/// A client with its secret, shown once (None for public clients and
/// updates that did not reset the secret).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClientWithSecret {
    pub client: Client,
    pub secret: Option<String>,
}

/// Changes to a client; `None` keeps the current value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClientUpdate {
    pub id: i64,
    pub name: Option<String>,
    pub description: Option<String>,
    pub logo_uri: Option<String>,
    pub grant_types: Option<Vec<String>>,
    pub scopes: Option<Vec<String>>,
    pub redirect_uris: Option<Vec<String>>,
    /// `Some(None)` unbinds.
    pub bound_account_id: Option<Option<i64>>,
    pub reset_secret: bool,
}

/// `clients.get`, `users.get`, `accounts.get`…: a numeric id or a natural key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Lookup {
    pub key: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct IdArg {
    pub id: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SetUserStatus {
    pub user_id: i64,
    pub status: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SetUserAllowSso {
    pub user_id: i64,
    pub allow: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct VerifyPassword {
    pub email: String,
    pub password: String,
    /// The address of whoever asks (the rate limits count by it); empty:
    /// the plugin counts as one caller.
    pub ip: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NewAccount {
    pub name: String,
    pub owner_user_id: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AccountMember {
    pub account_id: i64,
    pub user_id: i64,
}

/// Checks a client's id and secret.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClientCredentials {
    pub client_id: String,
    pub secret: String,
}

/// Checks an admin API credential and whether it may call `action`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ApiCredentialCheck {
    pub identifier: String,
    pub secret: String,
    pub action: String,
}

/// `None` credential: unknown identifier or wrong secret.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ApiCredentialVerdict {
    pub credential: Option<ApiCredential>,
    /// Whether its role or action list allows the action.
    pub allowed: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ApiCredential {
    pub id: i64,
    pub identifier: String,
    pub description: String,
    pub role: Option<String>,
    pub actions: Vec<String>,
    /// Empty: any IP.
    pub allowed_ips: Vec<String>,
}

/// Issue a single sign-on token for `user_id` through `client_id`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct IssueSsoToken {
    /// The client's `client_id` or numeric id.
    pub client_id: String,
    pub user_id: i64,
    /// A destination scope (`clientarea:invoices`); None: the home.
    pub destination: Option<String>,
    /// The destination's parameters (`service_id`…).
    pub params: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SsoToken {
    pub token: String,
    pub expires_in: i64,
    pub scope: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StartSession {
    pub user_id: i64,
    pub via: String,
    pub ip: String,
    pub user_agent: String,
}

/// A started browser session: set `cookie_name=cookie_value` (the host does
/// that itself for [`HttpResponse::start_session`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Session {
    pub cookie_name: String,
    pub cookie_value: String,
    pub expires_at: i64,
}

/// One audit line (table and log).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuditLine {
    /// A short machine name; the host prefixes it with `plugin.<name>.` unless
    /// it already starts with a core kind such as `sso.`.
    pub kind: String,
    pub message: String,
    pub user_id: Option<i64>,
    pub client_id: Option<String>,
    pub ip: Option<String>,
    pub details: Value,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct KvKey {
    pub key: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct KvEntry {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    Error,
    Warn,
    #[default]
    Info,
    Debug,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LogLine {
    pub level: LogLevel,
    pub message: String,
}

/// A scope of the host's catalog.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScopeInfo {
    pub name: String,
    pub description: String,
    pub claims: Vec<String>,
    /// The destination path template (`/clientarea.php?action=productdetails&id={service_id}`).
    pub destination: Option<String>,
    pub params: Vec<String>,
}
