//! The admin API's wire types: what goes over HTTP, apart from the
//! engine's records (secrets and digests never appear here).

use gatehouse_engine::model::{ApiCredential, AuditEvent, Client, IdentityLink, Session, User};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProblemDocument {
    /// A URI naming the kind of problem.
    pub r#type: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// The problem kind as a short code (`not_found`, `invalid_request`, …).
    pub code: String,
    /// The request id to quote (also in `X-Request-Id`).
    pub request_id: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: i64,
    pub uuid: String,
    pub email: String,
    pub email_verified: bool,
    pub name: String,
    pub locale: String,
    /// `Active`, `Inactive` or `Closed`.
    pub status: String,
    pub allow_sso: bool,
    pub is_admin: bool,
    /// Whether the user has a password (false: cannot sign in with one).
    pub has_password: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        UserView {
            id: u.id,
            uuid: u.uuid.clone(),
            email: u.email.clone(),
            email_verified: u.email_verified,
            name: u.display_name.clone(),
            locale: u.locale.clone(),
            status: u.status.to_string(),
            allow_sso: u.allow_sso,
            is_admin: u.is_admin,
            has_password: u.password_hash.is_some(),
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

/// A page of users; pass `next_cursor` as `after` for the next page.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserPage {
    pub items: Vec<UserView>,
    pub next_cursor: Option<i64>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserQuery {
    /// Text the e-mail or name contains (any case).
    pub q: Option<String>,
    /// The `next_cursor` of the previous page.
    pub after: Option<i64>,
    /// Page size, 1 to 500 (default 50).
    pub limit: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserCreate {
    pub email: String,
    #[serde(default)]
    pub name: String,
    /// At least 10 characters; without one the user cannot sign in with a password.
    pub password: Option<String>,
    pub locale: Option<String>,
    /// `Active` (default), `Inactive` or `Closed`.
    pub status: Option<String>,
    pub allow_sso: Option<bool>,
    #[serde(default)]
    pub email_verified: bool,
    #[serde(default)]
    pub is_admin: bool,
}

/// Fields to change; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserUpdate {
    pub email: Option<String>,
    pub name: Option<String>,
    pub locale: Option<String>,
    /// `Active`, `Inactive` or `Closed` (closing ends sessions and revokes tokens).
    pub status: Option<String>,
    pub allow_sso: Option<bool>,
    pub email_verified: Option<bool>,
    pub is_admin: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordSet {
    /// The new password (at least 10 characters). Every session of the
    /// user ends and every token they hold is revoked.
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    pub id: i64,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub ip: String,
    pub user_agent: String,
    /// How the user signed in (`password`, a plugin's name…).
    pub via: String,
}

impl From<&Session> for SessionView {
    fn from(s: &Session) -> Self {
        SessionView {
            id: s.id,
            created_at: s.created_at,
            last_seen_at: s.last_seen_at,
            expires_at: s.expires_at,
            ip: s.ip.clone(),
            user_agent: s.user_agent.clone(),
            via: s.via.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentView {
    pub client_id: String,
    pub scope: String,
    pub created_at: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FamilyView {
    pub family: String,
    pub client_id: String,
    pub scope: String,
    pub refreshed_at: i64,
    pub expires_at: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IdentityView {
    pub plugin: String,
    pub subject: String,
    pub email: Option<String>,
    pub created_at: i64,
    pub last_login_at: i64,
}

impl From<&IdentityLink> for IdentityView {
    fn from(l: &IdentityLink) -> Self {
        IdentityView {
            plugin: l.plugin.clone(),
            subject: l.subject.clone(),
            email: l.email.clone(),
            created_at: l.created_at,
            last_login_at: l.last_login_at,
        }
    }
}

/// How many things an action touched.
#[derive(Debug, Serialize, ToSchema)]
pub struct Count {
    pub count: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClientView {
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
    pub may_name_users: bool,
    /// The plugin that created it (through the WHMCS API, for example), if any.
    pub managed_by: Option<String>,
    /// OpenID Connect Back-Channel Logout: where logout tokens are posted.
    pub backchannel_logout_uri: Option<String>,
    /// OpenID Connect Front-Channel Logout: loaded in an iframe at sign-out.
    pub frontchannel_logout_uri: Option<String>,
    /// Everyone signing in to this client must use a second factor.
    pub require_2fa: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<&Client> for ClientView {
    fn from(c: &Client) -> Self {
        ClientView {
            id: c.id,
            client_id: c.client_id.clone(),
            name: c.name.clone(),
            description: c.description.clone(),
            logo_uri: c.logo_uri.clone(),
            grant_types: c.grant_types.iter().map(|g| g.to_string()).collect(),
            scopes: c.scopes.iter().map(str::to_string).collect(),
            redirect_uris: c.redirect_uris.clone(),
            post_logout_redirect_uris: c.post_logout_redirect_uris.clone(),
            is_public: c.is_public,
            first_party: c.first_party,
            bound_account_id: c.bound_account_id,
            id_token_alg: c.id_token_alg.to_string(),
            connector: c.connector.clone(),
            may_name_users: c.may_name_users,
            managed_by: c.managed_by.clone(),
            backchannel_logout_uri: c.backchannel_logout_uri.clone(),
            frontchannel_logout_uri: c.frontchannel_logout_uri.clone(),
            require_2fa: c.require_2fa,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientCreate {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub logo_uri: String,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// Default: `authorization_code` and `refresh_token`.
    pub grant_types: Option<Vec<String>>,
    /// Default: `openid profile email`.
    pub scopes: Option<Vec<String>>,
    #[serde(default)]
    pub is_public: bool,
    #[serde(default)]
    pub first_party: bool,
    pub bound_account_id: Option<i64>,
    /// `RS256` (default), `ES256` or `EdDSA`.
    pub id_token_alg: Option<String>,
    /// A connector plugin (`whmcs`, `ipb`…).
    pub connector: Option<String>,
    #[serde(default)]
    pub may_name_users: bool,
    /// OpenID Connect Back-Channel Logout URI.
    pub backchannel_logout_uri: Option<String>,
    /// OpenID Connect Front-Channel Logout URI.
    pub frontchannel_logout_uri: Option<String>,
    /// Everyone signing in to this client must use a second factor.
    #[serde(default)]
    pub require_2fa: bool,
}

/// Fields to change; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub logo_uri: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    pub grant_types: Option<Vec<String>>,
    pub scopes: Option<Vec<String>>,
    /// A first-party app skips the consent screen.
    pub first_party: Option<bool>,
    /// A connector plugin's name, or `""` for none.
    pub connector: Option<String>,
    /// Back-Channel Logout URI, or `""` for none.
    pub backchannel_logout_uri: Option<String>,
    /// Front-Channel Logout URI, or `""` for none.
    pub frontchannel_logout_uri: Option<String>,
    /// Everyone signing in to this client must use a second factor.
    pub require_2fa: Option<bool>,
}

/// An upstream identity to link to a user: the upstream's id
/// (`/federation/<id>/…`) and the subject it asserts.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreLink {
    pub upstream: String,
    pub subject: String,
}

/// A member's groups (names of 1-64 letters, digits, `_`, `-`, `.`, `:`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Groups {
    pub groups: Vec<String>,
}

/// The groups after a change, and what changed.
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupsChange {
    pub groups: Vec<String>,
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

/// A group in use.
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupCount {
    pub name: String,
    pub members: i64,
}

/// A client with its secret: shown once, never stored in the clear.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientWithSecret {
    pub client: ClientView,
    pub client_secret: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiCredentialView {
    pub id: i64,
    pub identifier: String,
    pub description: String,
    pub role: Option<String>,
    pub actions: Vec<String>,
    pub allowed_ips: Vec<String>,
    pub created_at: i64,
}

impl From<&ApiCredential> for ApiCredentialView {
    fn from(a: &ApiCredential) -> Self {
        ApiCredentialView {
            id: a.id,
            identifier: a.identifier.clone(),
            description: a.description.clone(),
            role: a.role.clone(),
            actions: a.action_list().into_iter().map(str::to_string).collect(),
            allowed_ips: a.ip_list().into_iter().map(str::to_string).collect(),
            created_at: a.created_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiCredentialCreate {
    #[serde(default)]
    pub description: String,
    /// `authentication` (the WHMCS role), or none with `actions`.
    pub role: Option<String>,
    #[serde(default)]
    pub actions: Vec<String>,
    /// Addresses that may call the WHMCS API with it (`*` any; none: every call refused).
    #[serde(default)]
    pub allowed_ips: Vec<String>,
}

/// An API credential with its secret: shown once.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiCredentialWithSecret {
    pub credential: ApiCredentialView,
    pub secret: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccountView {
    pub id: i64,
    pub name: String,
    pub owner_user_id: i64,
    pub created_at: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountCreate {
    pub name: String,
    pub owner_user_id: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberAdd {
    pub user_id: i64,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccountQuery {
    /// The accounts this user owns or belongs to.
    pub user: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PluginView {
    pub name: String,
    pub version: String,
    pub description: String,
    pub abi_version: u32,
    pub sdk_version: String,
    pub capabilities: Vec<String>,
    /// `loaded`, or `not enabled: <what it needs>`.
    pub state: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KeyView {
    pub kid: String,
    pub alg: String,
    pub created_at: i64,
    /// When it stops signing, if a rotation retired it.
    pub retired_at: Option<i64>,
    /// Until when it stays in the JWKS.
    pub publish_until: Option<i64>,
    /// Whether it signs new tokens now.
    pub signing: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyRotate {
    /// Seconds before the new keys sign (default 300), so relying
    /// parties with a cached JWKS can verify.
    pub activation_delay: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RotatedKeyView {
    pub kid: String,
    pub alg: String,
    pub signs_from: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventView {
    pub id: i64,
    pub at: i64,
    pub kind: String,
    pub user_id: Option<i64>,
    pub client_id: Option<String>,
    pub ip: Option<String>,
    pub message: String,
    /// The reason code of a refusal, when it has one.
    pub reason: Option<String>,
    /// Who made the change, for administrators' changes.
    pub actor: Option<String>,
    pub request_id: Option<String>,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

impl From<&AuditEvent> for AuditEventView {
    fn from(e: &AuditEvent) -> Self {
        let details: serde_json::Value = serde_json::from_str(&e.details).unwrap_or_default();
        let text = |k: &str| details.get(k).and_then(|v| v.as_str()).map(str::to_string);
        AuditEventView {
            id: e.id,
            at: e.at,
            kind: e.kind.clone(),
            user_id: e.user_id,
            client_id: e.client_id.clone(),
            ip: e.ip.clone(),
            message: e.message.clone(),
            reason: text("reason"),
            actor: text("actor"),
            request_id: text("request_id"),
            details,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// A kind (`login.failed`) or a prefix ending in `.` (`oauth.`).
    pub kind: Option<String>,
    pub user: Option<i64>,
    pub client: Option<String>,
    pub ip: Option<String>,
    /// At or after (Unix seconds).
    pub since: Option<i64>,
    /// Before (Unix seconds).
    pub until: Option<i64>,
    /// The `next_cursor` of the previous page (older events).
    pub before: Option<i64>,
    /// Page size, 1 to 1000 (default 100).
    pub limit: Option<i64>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

/// A page of audit events, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditEventView>,
    pub next_cursor: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DashboardView {
    pub users: i64,
    pub clients: i64,
    pub sign_ins_24h: i64,
    pub failed_sign_ins_24h: i64,
    pub refusals_24h: i64,
    pub plugins: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvitationCreate {
    /// The address the invitation is for (sign-up accepts only it).
    pub email: String,
}

/// A single-use sign-up link (also mailed when the hub can send mail).
#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationView {
    pub email: String,
    pub link: String,
    pub valid_days: i64,
    pub mailed: bool,
}
