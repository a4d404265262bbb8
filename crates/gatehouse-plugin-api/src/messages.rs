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
    /// `null` → `HostInfo`.
    pub const INFO: &str = "host.info";
    /// `null` → the plugin's `[plugins.config]` table as JSON.
    pub const CONFIG: &str = "host.config";
    /// `LogLine` → `null`.
    pub const LOG: &str = "host.log";
    /// `null` → `[ScopeInfo]`, the whole scope catalog.
    pub const SCOPES: &str = "scopes.list";
    /// `Lookup` (numeric id or e-mail) → `User`.
    pub const USER_GET: &str = "users.get";
    /// `NewUser` → `User`.
    pub const USER_CREATE: &str = "users.create";
    /// `SetUserStatus` → `User`.
    pub const USER_SET_STATUS: &str = "users.set_status";
    /// `SetUserAllowSso` → `User`.
    pub const USER_SET_ALLOW_SSO: &str = "users.set_allow_sso";
    /// `VerifyPassword` → `User`, or `null` when the check fails.
    pub const USER_VERIFY_PASSWORD: &str = "users.verify_password";
    /// `IdArg` (account id) → `Account`.
    pub const ACCOUNT_GET: &str = "accounts.get";
    /// `IdArg` (user id) → `[Account]`.
    pub const ACCOUNTS_OF_USER: &str = "accounts.of_user";
    /// `NewAccount` → `Account`.
    pub const ACCOUNT_CREATE: &str = "accounts.create";
    /// `AccountMember` → `null`.
    pub const ACCOUNT_ADD_MEMBER: &str = "accounts.add_member";
    /// `NewClient` → `ClientWithSecret`.
    pub const CLIENT_CREATE: &str = "clients.create";
    /// `null` → `[Client]`, the clients this plugin created.
    pub const CLIENT_LIST: &str = "clients.list";
    /// `Lookup` (numeric id or `client_id`) → `Client`.
    pub const CLIENT_GET: &str = "clients.get";
    /// `ClientUpdate` → `ClientWithSecret`.
    pub const CLIENT_UPDATE: &str = "clients.update";
    /// `IdArg` (client's numeric id) → `Client`, as it was.
    pub const CLIENT_DELETE: &str = "clients.delete";
    /// `ClientCredentials` → `Client`, or `null` when unknown or wrong.
    pub const CLIENT_AUTHENTICATE: &str = "clients.authenticate";
    /// `ApiCredentialCheck` → `ApiCredentialVerdict`.
    pub const API_CREDENTIAL_CHECK: &str = "api_credentials.check";
    /// `IssueSsoToken` → `SsoToken`.
    pub const SSO_TOKEN_ISSUE: &str = "tokens.issue_sso";
    /// `StartSession` → `Session`.
    pub const SESSION_START: &str = "sessions.start";
    /// (Schema 3.) `EndSession` → `true` when the session was live and
    /// has ended now (clients hear of it by back-channel logout).
    pub const SESSION_END: &str = "sessions.end";
    /// `AuditLine` → `null`.
    pub const AUDIT: &str = "audit.write";
    /// `KvKey` → the value as a string, or `null` when unset.
    pub const KV_GET: &str = "kv.get";
    /// `KvEntry` → `null`.
    pub const KV_SET: &str = "kv.set";
    /// `KvKey` → `true` when the key existed.
    pub const KV_DELETE: &str = "kv.delete";
    /// (Schema 3.) `KvNew` → `true` when stored, `false` when the key was
    /// already set (and not expired): remember a nonce once.
    pub const KV_INSERT_NEW: &str = "kv.insert_new";
}

// ---------------------------------------------------------------------------
// Envelope and errors

/// The answer to every call in either direction.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply<T> {
    /// Success: `{"ok": …}`.
    Ok(T),
    /// Failure: `{"error": {"kind": …, "message": …}}`.
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
    /// `Ok` → `Ok`, `Error` → `Err`.
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
    /// No such user, account, client…, or one out of the plugin's reach.
    NotFound,
    /// Clashes with what exists (an e-mail already taken, a member added twice).
    Conflict,
    /// Not allowed (e.g. a kv key outside the plugin's scope).
    Forbidden,
    /// The method is unknown or the capability not implemented.
    Unsupported,
    /// The plugin panicked; the message is the panic's.
    Panic,
    /// Anything else: the server's or the plugin's fault.
    Internal,
    /// From `init`: the plugin needs configuration it was not given (an
    /// upstream issuer, a forum URL…). The host lists it as "not enabled",
    /// logs the message (say what to set) and starts without it.
    NotConfigured,
}

/// An error crossing the boundary in either direction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Error {
    /// What went wrong, for the receiving side to act on.
    pub kind: ErrorKind,
    /// A human-readable explanation, for logs and operators.
    pub message: String,
}

impl Error {
    /// An error of any kind.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error { kind, message: message.into() }
    }
    /// An [`ErrorKind::Invalid`] error.
    pub fn invalid(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Invalid, message)
    }
    /// An [`ErrorKind::NotConfigured`] error (from `init`: say what to set).
    pub fn not_configured(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::NotConfigured, message)
    }
    /// An [`ErrorKind::NotFound`] error.
    pub fn not_found(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::NotFound, message)
    }
    /// An [`ErrorKind::Internal`] error.
    pub fn internal(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Internal, message)
    }
    /// An [`ErrorKind::Unsupported`] error.
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
    /// Serves its own HTTP paths: [`Manifest::routes`], `Plugin::route`.
    Routes,
    /// Serves engine endpoints under other paths: [`Manifest::aliases`] and
    /// [`Manifest::dialect`].
    Dialect,
    /// Signs users in from an upstream provider: `Plugin::begin_login` and
    /// `Plugin::complete_login`; the host serves
    /// `/federation/<name>/start` and `/federation/<name>/callback`.
    IdentityProvider,
    /// Shapes what the clients whose `connector` is this plugin receive, and
    /// gets every [`UserEvent`].
    ClientConnector,
}

/// What a plugin is and what it serves. `describe` answers the static
/// manifest; after `init` the host asks again, so routes may depend on config.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Manifest {
    /// Short name, `[a-z0-9_-]+` (`whmcs`).
    pub name: String,
    /// The plugin's version; empty: `export_plugin!` fills in the plugin
    /// crate's version.
    pub version: String,
    /// One line on what the plugin does, for `gatehouse plugin check`.
    pub description: String,
    /// What the plugin does. Routes without [`Capability::Routes`], or
    /// aliases without [`Capability::Dialect`], refuse the plugin at load.
    pub capabilities: Vec<Capability>,
    /// `routes`: paths the plugin serves itself.
    pub routes: Vec<RouteDecl>,
    /// `dialect`: engine endpoints served under other paths.
    pub aliases: Vec<AliasDecl>,
    /// `dialect`: the behaviour knobs applied on the aliases.
    pub dialect: Option<DialectTable>,
    /// `identity_provider`: how the login page shows it.
    pub identity_provider: Option<IdentityProviderInfo>,
    /// (Schema 3.) `identity_provider` with several upstreams: one entry per
    /// upstream, each with its own `id` (its paths `/federation/<id>/…`, its
    /// button and its identity links). Empty: one upstream named after the
    /// plugin, shown as `identity_provider` says.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub identity_providers: Vec<IdentityProviderInfo>,
}

/// A path the plugin serves: an exact path (`/includes/api.php`) or a prefix
/// ending in `/*` (`/example/*`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteDecl {
    /// `GET`, `POST`…; empty: every method.
    #[serde(default)]
    pub methods: Vec<String>,
    /// The exact path or `/prefix/*` (see above); checked at load, and must
    /// not overlap the core's paths or another plugin's.
    pub path: String,
    /// When a plugin call fails (error or panic), answer with this JSON
    /// object (plus `request_id`) and status 500 instead of the host's
    /// `{"error":"server_error",…}`: the protocol's own error format.
    #[serde(default)]
    pub error_body: Option<Value>,
    /// When a request's body is over the host's limit for plugin routes
    /// ([`MAX_ROUTE_BODY`] bytes), answer with this JSON object (plus
    /// `request_id`) and status 413, in the protocol's own format; absent:
    /// the host's own JSON error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub too_large_body: Option<Value>,
    /// (Schema 2.) The content type of `error_body` when it is a string
    /// rather than a JSON object: `text/plain`, `text/html`,
    /// `application/xml` or `application/json` (charset UTF-8 is added).
    /// `{request_id}` in the string becomes the request id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_content_type: Option<String>,
    /// (Schema 2.) Only for a signed-in member: without a live session the
    /// host sends the browser to sign in and back to the same URL, and the
    /// plugin is never called; with one, [`HttpRequest::user`] is set.
    #[serde(default)]
    pub requires_sign_in: bool,
    /// (Schema 2.) With `requires_sign_in`: a sign-in older than this many
    /// seconds counts as none (the member signs in again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<i64>,
}

/// The largest request body the host reads for a plugin route.
pub const MAX_ROUTE_BODY: usize = 1 << 20;

impl RouteDecl {
    /// `methods` (empty: every method) on `path`, failing in the host's
    /// error format.
    pub fn new(methods: &[&str], path: &str) -> RouteDecl {
        RouteDecl {
            methods: methods.iter().map(|m| m.to_string()).collect(),
            path: path.into(),
            requires_sign_in: false,
            max_age: None,
            error_content_type: None,
            error_body: None,
            too_large_body: None,
        }
    }
}

/// The engine endpoints an alias can point at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EngineEndpoint {
    /// OpenID Connect discovery (`/.well-known/openid-configuration`).
    Discovery,
    /// The signing keys (`/jwks.json`).
    Jwks,
    /// The authorization endpoint (`/oauth2/authorize`).
    Authorize,
    /// The token endpoint (`/oauth2/token`).
    Token,
    /// The userinfo endpoint (`/oauth2/userinfo`).
    Userinfo,
    /// Single sign-on token redemption (`/oauth2/sso`).
    Sso,
    /// Token revocation (`/oauth2/revoke`).
    Revoke,
    /// Token introspection (`/oauth2/introspect`).
    Introspect,
    /// RP-initiated logout (`/oauth2/logout`).
    Logout,
}

/// An engine endpoint under another path (`/oauth/token.php` → `token`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AliasDecl {
    /// The exact path to serve it under (no `/*` prefixes); must not
    /// overlap the core's paths or another plugin's.
    pub path: String,
    /// Allowed methods; others get 405. Empty: the endpoint's own.
    #[serde(default)]
    pub methods: Vec<String>,
    /// The endpoint served there. The first alias of an endpoint is the
    /// path the dialect's discovery and SSO redirects advertise.
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
    /// The HTTP status of `invalid_client` when the client used HTTP Basic
    /// (standard: 401 with a `WWW-Authenticate` challenge, RFC 6749 §5.2);
    /// 400 or 401.
    pub basic_auth_failure_status: Option<u16>,
    /// Refuse scope values nobody defined with `invalid_scope` (standard:
    /// ignore them, OpenID Connect Core §3.1.2.1).
    pub refuse_unknown_scopes: Option<bool>,
}

/// How an `identity_provider` plugin appears to users.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct IdentityProviderInfo {
    /// "Sign in with …" on the login page.
    pub display_name: String,
    /// (Schema 3.) The upstream's id in [`Manifest::identity_providers`]:
    /// `[a-z0-9_-]+`, unique across plugins.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// (Schema 3.) The operator's first-sign-in rule for this upstream:
    /// `create` (default), `link` (link to the local user with the same
    /// upstream-verified e-mail) or `refuse` (only identities an
    /// administrator linked beforehand).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_sign_in: Option<String>,
    /// (Schema 3.) A first sign-in needs an e-mail in one of these domains.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub email_domains: Vec<String>,
    /// (Schema 3.) Upstream group → Gatehouse group: at every sign-in the
    /// member's mapped Gatehouse groups follow the upstream's `groups` claim
    /// (groups outside the map are left alone).
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub group_map: BTreeMap<String, String>,
}

// ---------------------------------------------------------------------------
// init

/// What `init` receives (as JSON in its `config` argument).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct InitRequest {
    /// The `[plugins.config]` table, as JSON.
    pub config: Value,
    /// Facts about the host.
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
    /// The Gatehouse server's version (`0.1.0`).
    pub host_version: String,
    /// The host's [`ABI_VERSION`](crate::abi::ABI_VERSION) (always the plugin's).
    pub abi_version: u32,
    /// The host's [`SCHEMA_VERSION`](crate::abi::SCHEMA_VERSION): the
    /// plugin's or newer.
    pub schema_version: u32,
}

// ---------------------------------------------------------------------------
// routes

/// An HTTP request for a plugin route or a protocol hook.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HttpRequest {
    /// The method as sent, upper-case (`GET`, `POST`…).
    pub method: String,
    /// The path, percent-decoding not applied.
    pub path: String,
    /// The raw query string, without `?`.
    pub query: String,
    /// Header names lower-cased, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The body: UTF-8 text, or base64 when `body_base64`.
    pub body: String,
    /// Set by the host when the body is not valid UTF-8: `body` is then its
    /// base64 (use [`HttpRequest::body_bytes`]).
    pub body_base64: bool,
    /// The caller's IP address: the TCP peer, or the client behind a
    /// configured trusted proxy (`X-Forwarded-For`). `None`: unknown.
    pub peer_addr: Option<String>,
    /// The id the host gave the request, as its logs show it.
    pub request_id: String,
    /// (Schema 2.) The member signed in to this browser, when there is a
    /// live session; `None` otherwise. The host never forwards its own
    /// session and CSRF cookies: this is how a plugin learns who is there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<RouteUser>,
}

/// The member a plugin route is serving (see [`HttpRequest::user`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RouteUser {
    /// The numeric user id (host services take it).
    pub id: i64,
    /// The stable public identifier (the OpenID Connect `sub`).
    pub uuid: String,
    /// The member's e-mail address.
    pub email: String,
    /// Whether the member confirmed the address.
    pub email_verified: bool,
    /// The member's display name.
    pub name: String,
    /// `Active` or `Inactive` (a Closed member never has a session).
    pub status: String,
    /// The member's "Allow Single Sign-On" switch: a plugin that signs the
    /// member in to another app without asking should honour it.
    pub allow_sso: bool,
    /// The session's id.
    pub session_id: i64,
    /// How long ago the member signed in (seconds).
    pub session_age: i64,
    /// How the member signed in (`password`, an identity provider plugin's name…).
    pub signed_in_via: String,
    /// The second factor used, when there was one (none yet: always `None`).
    pub second_factor: Option<String>,
    /// (Schema 3.) The member's Gatehouse groups, sorted.
    pub groups: Vec<String>,
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
    /// The HTTP status, 200..=599 (default 200).
    pub status: u16,
    /// `(name, value)` pairs, sent in this order.
    pub headers: Vec<(String, String)>,
    /// The body: UTF-8 text, or base64 when `body_base64`.
    pub body: String,
    /// `body` is base64 and the host sends the decoded bytes (see
    /// [`HttpResponse::binary_body`]).
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
    /// An empty answer with this status.
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
    /// Adds a header (a name given twice is sent twice).
    pub fn header(mut self, name: &str, value: &str) -> HttpResponse {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
    /// Sets a text body.
    pub fn body(mut self, body: impl Into<String>) -> HttpResponse {
        self.body = body.into();
        self.body_base64 = false;
        self
    }
    /// Sets a binary body (carried as base64, sent as the bytes).
    pub fn binary_body(mut self, body: &[u8]) -> HttpResponse {
        self.body = crate::form::base64_encode(body);
        self.body_base64 = true;
        self
    }
    /// Signs the browser in with this answer (sets
    /// [`HttpResponse::start_session`]).
    pub fn with_session(mut self, session: SessionStart) -> HttpResponse {
        self.start_session = Some(session);
        self
    }
}

/// Asks the host to sign the browser in as `user_id` with this response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionStart {
    /// The user to sign in; one who may not sign in (`Closed`) fails the
    /// request with a 500.
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
    /// (Schema 3.) Which of the plugin's upstreams
    /// ([`Manifest::identity_providers`]); empty for a single-upstream plugin.
    pub provider: String,
}

/// Where to send the browser, and the opaque state to keep until the callback.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LoginRedirect {
    /// The provider's login URL, absolute `http` or `https`; anything else
    /// fails the sign-in.
    pub redirect_url: String,
    /// Opaque to the host; handed back in [`CompleteLogin::state`].
    pub state: String,
}

/// The provider sent the browser back.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CompleteLogin {
    /// The callback URL [`BeginLogin::callback_url`] gave (for the code
    /// exchange).
    pub callback_url: String,
    /// The callback's query parameters.
    pub params: BTreeMap<String, String>,
    /// The state [`LoginRedirect`] returned.
    pub state: String,
    /// (Schema 3.) Which of the plugin's upstreams
    /// ([`Manifest::identity_providers`]); empty for a single-upstream plugin.
    pub provider: String,
}

/// Refresh an identity with a refresh token the plugin returned before.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RefreshIdentity {
    /// The [`ExternalIdentity::subject`] to refresh.
    pub subject: String,
    /// The [`ExternalIdentity::refresh_token`] the plugin returned for it.
    pub refresh_token: String,
    /// (Schema 3.) Which of the plugin's upstreams
    /// ([`Manifest::identity_providers`]); empty for a single-upstream plugin.
    pub provider: String,
}

/// An identity the plugin verified at the upstream provider.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExternalIdentity {
    /// The provider's stable id for the user.
    pub subject: String,
    /// The user's e-mail address, when the provider gave one.
    pub email: Option<String>,
    /// Whether the provider vouches that `email` is the user's. Without a
    /// verified e-mail, a first sign-in (no link to a local user yet) is
    /// refused.
    pub email_verified: bool,
    /// The full name, for a user created at first sign-in; `None`:
    /// `given_name` and `family_name` joined.
    pub name: Option<String>,
    /// The given (first) name.
    pub given_name: Option<String>,
    /// The family (last) name.
    pub family_name: Option<String>,
    /// The preferred locale, for a user created at first sign-in.
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
    /// The client's `client_id`.
    pub client_id: String,
    /// The granted scope, space separated.
    pub scope: String,
    /// The user the claims are about.
    pub user: User,
    /// The engine's standard claims for the scope; return the replacement
    /// (the engine keeps `sub`).
    pub claims: Value,
}

/// Map the scope a client of this connector requested to the hub's scopes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TranslateScopes {
    /// The client's `client_id`.
    pub client_id: String,
    /// The requested scope, space separated.
    pub scope: String,
}

/// The answer to [`TranslateScopes`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TranslatedScopes {
    /// The hub's scope to use instead, space separated.
    pub scope: String,
}

/// Produce setup instructions for a client (e.g. the forum's form values).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetupRequest {
    /// The client to connect (its `connector` is this plugin).
    pub client: Client,
    /// Present right after creation or a secret reset only.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// The issuer, no trailing slash.
    pub issuer: String,
}

/// What the app's administrator must enter to connect a client.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SetupInstructions {
    /// A heading (`Invision Community settings for Forum`).
    pub title: String,
    /// `(label, value)` pairs, ready to paste.
    pub fields: Vec<(String, String)>,
    /// Free text (Markdown).
    pub notes: String,
}

/// Something happened to a user: `created`, `updated`, `status_changed`, `deleted`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserEvent {
    /// What happened: `created`, `updated`, `status_changed` or `deleted`.
    pub event: String,
    /// The user it happened to.
    pub user: User,
}

// ---------------------------------------------------------------------------
// Host services

/// A user as plugins see it (never the password hash).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct User {
    /// The numeric id (the `user_id` of other messages).
    pub id: i64,
    /// Stable opaque id (the `sub`).
    pub uuid: String,
    /// The e-mail address, lower-cased; unique.
    pub email: String,
    /// Whether the address is known to be the user's.
    pub email_verified: bool,
    /// The full name.
    pub display_name: String,
    /// The given (first) name; may be empty.
    pub given_name: String,
    /// The family (last) name; may be empty.
    pub family_name: String,
    /// The preferred locale; empty when unknown.
    pub locale: String,
    /// `Active`, `Inactive` or `Closed`.
    pub status: String,
    /// "Allow Single Sign-On": whether SSO tokens may be issued for the user.
    pub allow_sso: bool,
    /// Seconds since the Unix epoch.
    pub created_at: i64,
    /// The last change, in seconds since the Unix epoch.
    pub updated_at: i64,
    /// (Schema 3.) The member's Gatehouse groups, sorted (admin API,
    /// console or CLI set them; connectors map them to the app's groups).
    pub groups: Vec<String>,
    /// (Schema 3.) Whether the member has a second factor set up (WHMCS's
    /// `twoFactorEnabled`).
    pub two_factor_enabled: bool,
}

/// A user to create (`users.create`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NewUser {
    /// The e-mail address; stored trimmed and lower-cased, must be unique.
    pub email: String,
    /// "First Last".
    pub name: String,
    /// The password in clear (the host stores a hash); `None`: none.
    pub password: Option<String>,
    /// `Active`, `Inactive` or `Closed`; `None`: `Active`.
    pub status: Option<String>,
    /// "Allow Single Sign-On"; `None`: allowed.
    pub allow_sso: Option<bool>,
    /// The preferred locale; `None`: empty.
    pub locale: Option<String>,
    /// Whether the address is known to be the user's.
    pub email_verified: bool,
}

/// An account (a WHMCS "client"): an owner and its members.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Account {
    /// The numeric id.
    pub id: i64,
    /// The account's name.
    pub name: String,
    /// The user who owns it.
    pub owner_user_id: i64,
    /// Seconds since the Unix epoch.
    pub created_at: i64,
    /// The last change, in seconds since the Unix epoch.
    pub updated_at: i64,
}

/// An OAuth client (never its secret).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Client {
    /// Numeric id (WHMCS's `credentialId`).
    pub id: i64,
    /// The OAuth `client_id`.
    pub client_id: String,
    /// The display name.
    pub name: String,
    /// Free text; may be empty.
    pub description: String,
    /// A logo URL; may be empty.
    pub logo_uri: String,
    /// `authorization_code`, `refresh_token`, `client_credentials`,
    /// `single_sign_on`.
    pub grant_types: Vec<String>,
    /// The scopes it may request.
    pub scopes: Vec<String>,
    /// The registered redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Where RP-initiated logout may send the browser.
    pub post_logout_redirect_uris: Vec<String>,
    /// A public client: no secret, PKCE required.
    pub is_public: bool,
    /// Trusted: users are not asked for consent.
    pub first_party: bool,
    /// For `single_sign_on`: the account whose owner (or, named by
    /// `user_id`, member) its tokens sign in; `None`: bound to none.
    pub bound_account_id: Option<i64>,
    /// The ID token signing algorithm: `RS256`, `ES256` or `EdDSA`.
    pub id_token_alg: String,
    /// The name of its connector plugin; `None`: none.
    pub connector: Option<String>,
    /// Seconds since the Unix epoch.
    pub created_at: i64,
    /// The last change, in seconds since the Unix epoch.
    pub updated_at: i64,
}

/// A client to register; the host generates its id and secret.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NewClient {
    /// The display name; required.
    pub name: String,
    /// Free text; may be empty.
    pub description: String,
    /// A logo URL; may be empty.
    pub logo_uri: String,
    /// The redirect URIs; at least one with `authorization_code`.
    pub redirect_uris: Vec<String>,
    /// Where RP-initiated logout may send the browser.
    pub post_logout_redirect_uris: Vec<String>,
    /// Empty: `authorization_code refresh_token`.
    pub grant_types: Vec<String>,
    /// The scopes it may request; each must be in the scope catalog.
    pub scopes: Vec<String>,
    /// No secret, PKCE required; not allowed with `client_credentials` or
    /// `single_sign_on`.
    pub is_public: bool,
    /// Trusted: users are not asked for consent.
    pub first_party: bool,
    /// See [`Client::bound_account_id`].
    pub bound_account_id: Option<i64>,
    /// A prefix for the generated client id (`COMPANY-NAME.`).
    pub client_id_prefix: Option<String>,
    /// `RS256`, `ES256` or `EdDSA`; `None`: `RS256`.
    pub id_token_alg: Option<String>,
    /// Attach the client to a connector plugin (usually this one).
    pub connector: Option<String>,
}

/// A client with its secret, shown once (None for public clients and
/// updates that did not reset the secret).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClientWithSecret {
    /// The client as stored.
    pub client: Client,
    /// The secret in clear; the host keeps only a digest.
    pub secret: Option<String>,
}

/// Changes to a client; `None` keeps the current value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClientUpdate {
    /// The numeric id of a client this plugin created.
    pub id: i64,
    /// The new display name.
    pub name: Option<String>,
    /// The new description.
    pub description: Option<String>,
    /// The new logo URL.
    pub logo_uri: Option<String>,
    /// The new grant types (replaces the list).
    pub grant_types: Option<Vec<String>>,
    /// The new scopes (replaces the list).
    pub scopes: Option<Vec<String>>,
    /// The new redirect URIs (replaces the list).
    pub redirect_uris: Option<Vec<String>>,
    /// `Some(None)` unbinds.
    pub bound_account_id: Option<Option<i64>>,
    /// Generate a new secret, returned in [`ClientWithSecret::secret`]; the
    /// old one stops working.
    pub reset_secret: bool,
}

/// `clients.get`, `users.get`: a numeric id or a natural key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Lookup {
    /// A numeric id, or the e-mail (users) or `client_id` (clients).
    pub key: String,
}

/// A numeric id: `accounts.get`, `accounts.of_user`, `clients.delete`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct IdArg {
    /// The account's, user's or client's numeric id, as the method says.
    pub id: i64,
}

/// `users.set_status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SetUserStatus {
    /// The user's numeric id.
    pub user_id: i64,
    /// `Active`, `Inactive` or `Closed` (any case).
    pub status: String,
}

/// `users.set_allow_sso`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SetUserAllowSso {
    /// The user's numeric id.
    pub user_id: i64,
    /// The new "Allow Single Sign-On" setting.
    pub allow: bool,
}

/// `users.verify_password`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct VerifyPassword {
    /// The e-mail address tried.
    pub email: String,
    /// The password tried, in clear.
    pub password: String,
    /// The address of whoever asks (the rate limits count by it); empty:
    /// the plugin counts as one caller.
    pub ip: String,
}

/// `accounts.create`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NewAccount {
    /// The account's name.
    pub name: String,
    /// The owner, an existing user.
    pub owner_user_id: i64,
}

/// `accounts.add_member`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AccountMember {
    /// The account's numeric id.
    pub account_id: i64,
    /// The numeric id of the user to add.
    pub user_id: i64,
}

/// Checks a client's id and secret.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClientCredentials {
    /// The `client_id` (not the numeric id).
    pub client_id: String,
    /// The secret tried.
    pub secret: String,
}

/// Checks an admin API credential and whether it may call `action`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ApiCredentialCheck {
    /// The credential's identifier.
    pub identifier: String,
    /// The secret tried.
    pub secret: String,
    /// The admin API action asked for (`CreateSsoToken`); any case.
    pub action: String,
}

/// `None` credential: unknown identifier or wrong secret.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ApiCredentialVerdict {
    /// The credential, when identifier and secret are right.
    pub credential: Option<ApiCredential>,
    /// Whether its role or action list allows the action.
    pub allowed: bool,
    /// The `allowed_ips` of the credential `identifier` names, whether or
    /// not the secret is right (so a plugin can tell a wrong secret from a
    /// refused address); `None` when no credential has that identifier.
    pub identifier_allowed_ips: Option<Vec<String>>,
}

/// An admin API credential (never its secret).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ApiCredential {
    /// The numeric id.
    pub id: i64,
    /// The public identifier.
    pub identifier: String,
    /// Free text; may be empty.
    pub description: String,
    /// `authentication` (WHMCS's "Authentication" role); `None`: no role.
    pub role: Option<String>,
    /// Actions allowed besides the role's.
    pub actions: Vec<String>,
    /// Addresses this credential may call from, on top of whatever the
    /// plugin itself allows; empty: none beyond that (the WHMCS plugin then
    /// refuses every call without its access key). The host does not check
    /// it: `allowed` ignores the caller's address.
    pub allowed_ips: Vec<String>,
}

/// Issue a single sign-on token for `user_id` through `client_id`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct IssueSsoToken {
    /// The client's `client_id` or numeric id.
    pub client_id: String,
    /// The user to sign in; one who is `Closed` or does not allow SSO is
    /// refused (`invalid`).
    pub user_id: i64,
    /// A destination scope (`clientarea:invoices`); None: the home.
    pub destination: Option<String>,
    /// The destination's parameters (`service_id`…).
    pub params: BTreeMap<String, String>,
}

/// A single-use SSO token (shown once; the host keeps only a digest).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SsoToken {
    /// The token; the browser redeems it once at the `sso` endpoint.
    pub token: String,
    /// Seconds until it expires (at most 60).
    pub expires_in: i64,
    /// `clientarea:sso`, then the destination scope if any; space separated.
    pub scope: String,
}

/// `sessions.start`: a browser session for a user.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StartSession {
    /// The user; one who may not sign in (`Closed`) is `forbidden`.
    pub user_id: i64,
    /// How the user signed in (`sso`, `whmcs-sso`…), kept with the session
    /// (first 32 bytes).
    pub via: String,
    /// The browser's IP address, kept with the session (first 64 bytes).
    pub ip: String,
    /// The browser's `User-Agent`, kept with the session (first 256 bytes).
    pub user_agent: String,
}

/// A started browser session: set `cookie_name=cookie_value` (the host does
/// that itself for [`HttpResponse::start_session`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Session {
    /// The cookie's name (`gatehouse_session`).
    pub cookie_name: String,
    /// The cookie's value, the session's secret: shown once, the host keeps
    /// only a digest.
    pub cookie_value: String,
    /// When the session ends, in seconds since the Unix epoch.
    pub expires_at: i64,
}

/// End a member's browser session at Gatehouse (schema 3), e.g. when the app
/// signs the member out and asks Gatehouse to do the same.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EndSession {
    /// The member whose session it is.
    pub user_id: i64,
    /// [`RouteUser::session_id`].
    pub session_id: i64,
}

/// One audit line (table and log).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuditLine {
    /// A short machine name; the host prefixes it with `plugin.<name>.` unless
    /// it already starts with a core kind such as `sso.`.
    pub kind: String,
    /// The human-readable line.
    pub message: String,
    /// The user concerned, if any.
    pub user_id: Option<i64>,
    /// The `client_id` of the client concerned, if any.
    pub client_id: Option<String>,
    /// The caller's IP address, if any.
    pub ip: Option<String>,
    /// Extra JSON kept with the event; `null`: `{}`.
    pub details: Value,
}

/// `kv.get`, `kv.delete`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct KvKey {
    /// The key, in this plugin's own store.
    pub key: String,
}

/// `kv.set`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct KvEntry {
    /// The key, in this plugin's own store.
    pub key: String,
    /// The value; replaces any previous one.
    pub value: String,
}

/// Store a value only if its key is unset (schema 3): atomic across
/// replicas, so a nonce or a one-time code is accepted once.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct KvNew {
    /// The key, within this plugin's own space.
    pub key: String,
    /// The value to store.
    pub value: String,
    /// Forget the value after this many seconds (`None`: keep it); the
    /// janitor deletes expired values.
    pub ttl_secs: Option<i64>,
}

/// How severe a [`LogLine`] is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    /// Something failed.
    Error,
    /// Something looks wrong.
    Warn,
    /// Normal operation (the default).
    #[default]
    Info,
    /// Detail for troubleshooting.
    Debug,
}

/// `host.log`: a line in the server's log.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LogLine {
    /// The level.
    pub level: LogLevel,
    /// The text; the host tags it with the plugin's name.
    pub message: String,
}

/// A scope of the host's catalog.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScopeInfo {
    /// The scope (`openid`, `clientarea:invoices`).
    pub name: String,
    /// What granting it means, in words for a consent screen.
    pub description: String,
    /// The claims it releases at userinfo and in ID tokens.
    pub claims: Vec<String>,
    /// The destination path template (`/clientarea.php?action=productdetails&id={service_id}`).
    pub destination: Option<String>,
    /// The parameters the destination needs (its `{name}` placeholders);
    /// pass them in [`IssueSsoToken::params`].
    pub params: Vec<String>,
}
