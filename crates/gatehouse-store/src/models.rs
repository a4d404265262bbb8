//! Rows as the store reads and writes them.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::schema::*;
pub use gatehouse_core::GrantKind;
use gatehouse_core::{client::GrantType, ScopeSet, SigningAlg, UserStatus};

#[derive(Debug, Clone, Queryable, Selectable, Serialize, Deserialize, PartialEq, Eq)]
#[diesel(table_name = users)]
pub struct User {
    pub id: i64,
    pub uuid: String,
    pub email: String,
    pub email_verified: bool,
    pub display_name: String,
    pub given_name: String,
    pub family_name: String,
    pub locale: String,
    #[serde(skip_serializing)]
    pub password_hash: Option<String>,
    pub status: UserStatus,
    pub allow_sso: bool,
    pub created_at: i64,
    pub updated_at: i64,
    /// An administrator (the admin API and console).
    pub is_admin: bool,
    /// Made by the member through sign-up (not by an operator or a plugin).
    pub self_registered: bool,
}

impl User {
    /// The user's status.
    pub fn status(&self) -> UserStatus {
        self.status
    }
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = users)]
pub struct NewUser {
    pub uuid: String,
    pub email: String,
    pub email_verified: bool,
    pub display_name: String,
    pub given_name: String,
    pub family_name: String,
    pub locale: String,
    pub password_hash: Option<String>,
    pub status: UserStatus,
    pub allow_sso: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize, Deserialize, PartialEq, Eq)]
#[diesel(table_name = accounts)]
pub struct Account {
    pub id: i64,
    pub name: String,
    pub owner_user_id: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, Queryable, Selectable, PartialEq, Eq)]
#[diesel(table_name = clients)]
pub struct ClientRow {
    pub id: i64,
    pub client_id: String,
    pub secret_digest: Option<String>,
    pub name: String,
    pub description: String,
    pub logo_uri: String,
    pub grant_types: String,
    pub scopes: String,
    pub redirect_uris: String,
    pub post_logout_redirect_uris: String,
    pub is_public: bool,
    pub first_party: bool,
    pub bound_account_id: Option<i64>,
    pub id_token_alg: SigningAlg,
    pub connector: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub may_name_users: bool,
    pub managed_by: Option<String>,
    pub backchannel_logout_uri: Option<String>,
    pub frontchannel_logout_uri: Option<String>,
    pub require_2fa: bool,
}

/// An OAuth client as the rest of Gatehouse sees it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Client {
    pub id: i64,
    pub client_id: String,
    #[serde(skip)]
    pub secret_digest: Option<String>,
    pub name: String,
    pub description: String,
    pub logo_uri: String,
    pub grant_types: Vec<GrantType>,
    pub scopes: ScopeSet,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub is_public: bool,
    pub first_party: bool,
    pub bound_account_id: Option<i64>,
    pub id_token_alg: SigningAlg,
    pub connector: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// An unbound single_sign_on client may name the user (`user_id`).
    pub may_name_users: bool,
    /// The plugin that created the client through host services, and alone
    /// may see and change it there; `None` for the operator's clients.
    pub managed_by: Option<String>,
    /// OpenID Connect Back-Channel Logout: where a signed logout token is
    /// posted when a session that signed in to this client ends.
    pub backchannel_logout_uri: Option<String>,
    /// OpenID Connect Front-Channel Logout: loaded in an iframe by the
    /// signed-out page.
    pub frontchannel_logout_uri: Option<String>,
    /// Everyone signing in to this client must use a second factor.
    pub require_2fa: bool,
}

impl Client {
    pub fn allows_grant(&self, g: GrantType) -> bool {
        self.grant_types.contains(&g)
    }
}

impl From<ClientRow> for Client {
    fn from(r: ClientRow) -> Client {
        Client {
            id: r.id,
            client_id: r.client_id,
            secret_digest: r.secret_digest,
            name: r.name,
            description: r.description,
            logo_uri: r.logo_uri,
            grant_types: gatehouse_core::client::parse_grant_types(&r.grant_types).unwrap_or_default(),
            scopes: ScopeSet::parse(&r.scopes),
            redirect_uris: serde_json::from_str(&r.redirect_uris).unwrap_or_default(),
            post_logout_redirect_uris: serde_json::from_str(&r.post_logout_redirect_uris).unwrap_or_default(),
            is_public: r.is_public,
            first_party: r.first_party,
            bound_account_id: r.bound_account_id,
            id_token_alg: r.id_token_alg,
            connector: r.connector,
            created_at: r.created_at,
            updated_at: r.updated_at,
            may_name_users: r.may_name_users,
            managed_by: r.managed_by,
            backchannel_logout_uri: r.backchannel_logout_uri,
            frontchannel_logout_uri: r.frontchannel_logout_uri,
            require_2fa: r.require_2fa,
        }
    }
}

/// What it takes to register a client (the secret digest is computed by the
/// caller, who alone sees the secret).
#[derive(Debug, Clone, Default)]
pub struct NewClient {
    pub client_id: String,
    pub secret_digest: Option<String>,
    pub name: String,
    pub description: String,
    pub logo_uri: String,
    pub grant_types: Vec<GrantType>,
    pub scopes: ScopeSet,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub is_public: bool,
    pub first_party: bool,
    pub bound_account_id: Option<i64>,
    pub id_token_alg: SigningAlg,
    pub connector: Option<String>,
    pub may_name_users: bool,
    pub managed_by: Option<String>,
    pub backchannel_logout_uri: Option<String>,
    pub frontchannel_logout_uri: Option<String>,
    pub require_2fa: bool,
}

/// Changes to a client; `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct ClientChanges {
    pub secret_digest: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub logo_uri: Option<String>,
    pub grant_types: Option<Vec<GrantType>>,
    pub scopes: Option<ScopeSet>,
    pub redirect_uris: Option<Vec<String>>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    pub first_party: Option<bool>,
    pub bound_account_id: Option<Option<i64>>,
    pub backchannel_logout_uri: Option<Option<String>>,
    pub frontchannel_logout_uri: Option<Option<String>>,
    pub require_2fa: Option<bool>,
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize, Deserialize, PartialEq, Eq)]
#[diesel(table_name = api_credentials)]
pub struct ApiCredential {
    pub id: i64,
    pub identifier: String,
    #[serde(skip)]
    pub secret_digest: String,
    pub description: String,
    pub role: Option<String>,
    pub actions: String,
    pub allowed_ips: String,
    pub created_at: i64,
}

impl ApiCredential {
    pub fn action_list(&self) -> Vec<&str> {
        self.actions.split_whitespace().collect()
    }
    pub fn ip_list(&self) -> Vec<&str> {
        self.allowed_ips.split_whitespace().collect()
    }
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = api_credentials)]
pub struct NewApiCredential {
    pub identifier: String,
    pub secret_digest: String,
    pub description: String,
    pub role: Option<String>,
    pub actions: String,
    pub allowed_ips: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize, Deserialize, PartialEq, Eq)]
#[diesel(table_name = audit_events)]
pub struct AuditEvent {
    pub id: i64,
    pub at: i64,
    pub kind: String,
    pub user_id: Option<i64>,
    pub client_id: Option<String>,
    pub ip: Option<String>,
    pub subject: Option<String>,
    pub message: String,
    pub details: String,
}

#[derive(Debug, Clone, Default, Insertable, Serialize, Deserialize)]
#[diesel(table_name = audit_events)]
pub struct NewAuditEvent {
    pub at: i64,
    pub kind: String,
    pub user_id: Option<i64>,
    pub client_id: Option<String>,
    pub ip: Option<String>,
    pub subject: Option<String>,
    pub message: String,
    pub details: String,
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize, Deserialize, PartialEq, Eq)]
#[diesel(table_name = sessions)]
pub struct Session {
    pub id: i64,
    #[serde(skip)]
    pub digest: String,
    pub user_id: i64,
    pub auth_time: i64,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub ip: String,
    pub user_agent: String,
    pub via: String,
    /// How the member authenticated (RFC 8176 values, space separated:
    /// `pwd`, `pwd otp mfa`, `fed`…); empty when unknown (SSO tokens).
    pub amr: String,
}

impl Session {
    /// The `amr` values.
    pub fn amr_values(&self) -> Vec<String> {
        self.amr.split_whitespace().map(str::to_string).collect()
    }

    /// Whether a second factor was used.
    pub fn used_second_factor(&self) -> bool {
        self.amr.split_whitespace().any(|v| v == "mfa")
    }
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = sessions)]
pub struct NewSession {
    pub digest: String,
    pub user_id: i64,
    pub auth_time: i64,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub ip: String,
    pub user_agent: String,
    pub via: String,
    pub amr: String,
}

/// A member's second factor (a TOTP authenticator).
#[derive(Debug, Clone, Queryable, Selectable, PartialEq, Eq)]
#[diesel(table_name = user_factors)]
pub struct UserFactor {
    pub id: i64,
    pub user_id: i64,
    pub kind: String,
    pub name: String,
    /// Encrypted under the master key; never shown.
    pub secret_enc: String,
    /// The last TOTP time step accepted (a code is good once).
    pub last_step: i64,
    /// `None` until the member confirmed it with a first code.
    pub confirmed_at: Option<i64>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    /// A passkey's credential id (base64url).
    pub credential_id: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize, Deserialize, PartialEq, Eq)]
#[diesel(table_name = grants)]
pub struct Grant {
    pub id: i64,
    pub kind: GrantKind,
    #[serde(skip)]
    pub digest: String,
    pub client_id: String,
    pub user_id: Option<i64>,
    pub session_id: Option<i64>,
    pub scope: String,
    pub redirect_uri: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub auth_time: Option<i64>,
    pub family: Option<String>,
    pub data: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// `None` is inserted as NULL (no column of `grants` has another default):
/// the INSERT's text is then the same for every row, so it is prepared once
/// per connection and never rebuilt (the token path's hot write).
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = grants, treat_none_as_null = true)]
pub struct NewGrant {
    pub kind: GrantKind,
    pub digest: String,
    pub client_id: String,
    pub user_id: Option<i64>,
    pub session_id: Option<i64>,
    pub scope: String,
    pub redirect_uri: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub auth_time: Option<i64>,
    pub family: Option<String>,
    pub data: String,
    pub created_at: i64,
    pub expires_at: i64,
}

impl NewGrant {
    /// A grant of `kind` with every optional field empty (fill in the rest
    /// with struct update syntax). No `Default`: a kind is always chosen.
    pub fn of(kind: GrantKind) -> NewGrant {
        NewGrant {
            kind,
            digest: String::new(),
            client_id: String::new(),
            user_id: None,
            session_id: None,
            scope: String::new(),
            redirect_uri: None,
            nonce: None,
            code_challenge: None,
            code_challenge_method: None,
            auth_time: None,
            family: None,
            data: "{}".into(),
            created_at: 0,
            expires_at: 0,
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize, Deserialize, PartialEq, Eq)]
#[diesel(table_name = signing_keys)]
pub struct SigningKeyRow {
    pub id: i64,
    pub kid: String,
    pub alg: String,
    pub public_jwk: String,
    #[serde(skip)]
    pub private_enc: String,
    pub created_at: i64,
    pub retired_at: Option<i64>,
    pub publish_until: Option<i64>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = signing_keys)]
pub struct NewSigningKey {
    pub kid: String,
    pub alg: String,
    pub public_jwk: String,
    pub private_enc: String,
    pub created_at: i64,
}

/// A link from an upstream identity (plugin, subject) to a local user.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, Serialize, Deserialize, PartialEq, Eq)]
#[diesel(table_name = identity_links)]
pub struct IdentityLink {
    pub plugin: String,
    pub subject: String,
    pub user_id: i64,
    /// The e-mail the upstream asserted when the link was made or last used.
    pub email: Option<String>,
    pub created_at: i64,
    pub last_login_at: i64,
}
