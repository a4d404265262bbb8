//! The wire shapes of the engine's successful answers: token responses
//! (RFC 6749 §5.1), introspection (RFC 7662 §2.2), userinfo (OIDC Core
//! §5.3.2) and provider metadata (OIDC Discovery §3). Serialised with serde;
//! optional members are left out rather than sent as `null`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A successful token response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    pub expires_in: i64,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// `single_sign_on` only: where the browser redeems the token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect_url: Option<String>,
}

/// What introspection says about a token. An inactive token says nothing
/// else.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Introspection {
    pub active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// `Bearer` for access tokens, `refresh_token` for refresh tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    /// The user's stable opaque id, for user tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// The user's e-mail, for user tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// How the member authenticated (RFC 8176), for user tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amr: Option<Vec<String>>,
    /// `pwd` or `mfa`, for user tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
}

impl Introspection {
    /// `{"active": false}`.
    pub fn inactive() -> Introspection {
        Introspection::default()
    }
}

/// The claims userinfo answers with. A map because connector plugins may
/// reshape them; the engine always keeps `sub`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserInfo(pub Map<String, Value>);

impl UserInfo {
    /// One claim.
    pub fn get(&self, claim: &str) -> Option<&Value> {
        self.0.get(claim)
    }
}

/// The OpenID Provider metadata served at
/// `/.well-known/openid-configuration`: only what is implemented.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderMetadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub userinfo_endpoint: String,
    pub jwks_uri: String,
    pub revocation_endpoint: String,
    pub introspection_endpoint: String,
    pub end_session_endpoint: String,
    pub response_types_supported: Vec<String>,
    pub response_modes_supported: Vec<String>,
    pub grant_types_supported: Vec<String>,
    pub subject_types_supported: Vec<String>,
    pub id_token_signing_alg_values_supported: Vec<String>,
    pub token_endpoint_auth_methods_supported: Vec<String>,
    pub revocation_endpoint_auth_methods_supported: Vec<String>,
    pub introspection_endpoint_auth_methods_supported: Vec<String>,
    pub code_challenge_methods_supported: Vec<String>,
    pub scopes_supported: Vec<String>,
    pub claims_supported: Vec<String>,
    pub prompt_values_supported: Vec<String>,
    pub claims_parameter_supported: bool,
    pub request_parameter_supported: bool,
    pub request_uri_parameter_supported: bool,
    /// Back-Channel Logout 1.0 §2.1: logout tokens are posted, with `sid`.
    pub backchannel_logout_supported: bool,
    pub backchannel_logout_session_supported: bool,
    /// Front-Channel Logout 1.0 §3: iframes with `iss` and `sid`.
    pub frontchannel_logout_supported: bool,
    pub frontchannel_logout_session_supported: bool,
    /// `pwd` (one factor) and `mfa` (a second factor was used).
    pub acr_values_supported: Vec<String>,
}
