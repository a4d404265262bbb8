//! The OAuth 2.0 / OpenID Connect authorization server: request parameters,
//! protocol errors, client authentication, the authorization endpoint's
//! decisions, the token endpoint's grants, userinfo, introspection,
//! revocation and logout.
//!
//! Error texts are the ones WHMCS (bshaffer/oauth2-server-php) sends, so a
//! client written against WHMCS sees what it expects (`docs/protocols/whmcs.md`).

pub mod authorize;
pub mod claims;
pub mod documents;
pub mod params;
pub mod responses;
pub mod token;
pub mod tokens;

use gatehouse_core::OAuthErrorCode;
use gatehouse_store::{Client, StoreError};

use crate::keys::KeyError;
use crate::{Engine, EngineError};

pub use params::Params;
pub use responses::{Introspection, ProviderMetadata, TokenResponse, UserInfo};

/// A protocol error: the `error` code, its description and the HTTP status
/// it is sent with. Server failures become `server_error` (500) after their
/// cause is logged. The server renders it in the endpoint's format (JSON,
/// a redirect, or an HTML page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub code: OAuthErrorCode,
    pub description: String,
    pub status: u16,
}

impl std::fmt::Display for OAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.description)
    }
}

impl std::error::Error for OAuthError {}

impl OAuthError {
    /// An error with the code's usual status.
    pub fn new(code: OAuthErrorCode, description: impl Into<String>) -> OAuthError {
        OAuthError { code, description: description.into(), status: code.default_status() }
    }
    /// The same error sent with another status.
    pub fn with_status(mut self, status: u16) -> OAuthError {
        self.status = status;
        self
    }
    pub fn invalid_request(d: impl Into<String>) -> OAuthError {
        OAuthError::new(OAuthErrorCode::InvalidRequest, d)
    }
    pub fn invalid_client(d: impl Into<String>) -> OAuthError {
        OAuthError::new(OAuthErrorCode::InvalidClient, d)
    }
    pub fn invalid_grant(d: impl Into<String>) -> OAuthError {
        OAuthError::new(OAuthErrorCode::InvalidGrant, d)
    }
    pub fn invalid_scope() -> OAuthError {
        OAuthError::new(OAuthErrorCode::InvalidScope, "An unsupported scope was requested")
    }
    pub fn unauthorized_client() -> OAuthError {
        OAuthError::new(OAuthErrorCode::UnauthorizedClient, "The grant type is unauthorized for this client_id")
    }
    pub fn invalid_token(d: impl Into<String>) -> OAuthError {
        OAuthError::new(OAuthErrorCode::InvalidToken, d)
    }
    pub fn server(cause: &dyn std::fmt::Display) -> OAuthError {
        tracing::error!(error = %cause, "oauth: server failure");
        OAuthError::new(OAuthErrorCode::ServerError, "The server failed to handle the request")
    }
    pub fn is_server_error(&self) -> bool {
        self.status >= 500
    }
}

impl From<StoreError> for OAuthError {
    fn from(e: StoreError) -> Self {
        OAuthError::from(EngineError::from(e))
    }
}

/// A caller's mistake stays the caller's (`invalid_request`, 400); only the
/// store failing is the server's.
impl From<EngineError> for OAuthError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Store(cause) => OAuthError::server(&cause),
            EngineError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "oauth: database unavailable");
                OAuthError::new(
                    OAuthErrorCode::TemporarilyUnavailable,
                    "The service is temporarily unavailable; try again shortly",
                )
            }
            other => OAuthError::invalid_request(other.to_string()),
        }
    }
}

impl From<KeyError> for OAuthError {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::Engine(e) => e.into(),
            other => OAuthError::server(&other),
        }
    }
}

/// The credentials a client presented outside the parameters.
#[derive(Debug, Clone, Default)]
pub struct ClientCredentials {
    /// From `Authorization: Basic`: the decoded `id:secret` halves as sent.
    pub basic: Option<(String, String)>,
}

impl ClientCredentials {
    /// Reads an `Authorization` header value. Another scheme is no
    /// credentials; a `Basic` value that is not base64 of `id:secret`
    /// counts as wrong credentials (empty halves), never as absent.
    pub fn from_authorization(header: &str) -> ClientCredentials {
        use base64::Engine as _;
        let Some((scheme, rest)) = header.trim().split_once(' ') else { return ClientCredentials::default() };
        if !scheme.eq_ignore_ascii_case("basic") {
            return ClientCredentials::default();
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.split_once(':').map(|(a, b)| (a.to_string(), b.to_string())));
        ClientCredentials { basic: Some(decoded.unwrap_or_default()) }
    }
}

fn form_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default()
}

impl Engine {
    /// Authenticates the client at the token, revocation and introspection
    /// endpoints: HTTP Basic (raw or URL-encoded halves) or `client_id` +
    /// `client_secret` in the body; a public client presents only its id.
    /// Checked before anything else in the request. A failure with HTTP
    /// Basic is sent with the dialect's status (401 unless WHMCS).
    pub fn authenticate_client_for(
        &self,
        dialect: &gatehouse_core::Dialect,
        params: &Params,
        creds: &ClientCredentials,
    ) -> Result<Client, OAuthError> {
        self.authenticate_request_client(params, creds).map_err(|e| {
            if e.code == OAuthErrorCode::InvalidClient && creds.basic.is_some() {
                e.with_status(dialect.basic_auth_failure_status)
            } else {
                e
            }
        })
    }

    /// [`Engine::authenticate_client_for`] without the dialect's status.
    pub fn authenticate_request_client(
        &self,
        params: &Params,
        creds: &ClientCredentials,
    ) -> Result<Client, OAuthError> {
        let body_id = params.get("client_id");
        let body_secret = params.get("client_secret");
        if let Some((id, secret)) = &creds.basic {
            if body_secret.is_some() {
                return Err(OAuthError::invalid_request(
                    "Only one method may be used to authenticate at a time (Auth header, GET or POST)",
                ));
            }
            // Some clients URL-encode the halves (RFC 6749 §2.3.1), many do not.
            let mut candidates = vec![(id.clone(), secret.clone())];
            let decoded = (form_decode(id), form_decode(secret));
            if decoded != candidates[0] {
                candidates.push(decoded);
            }
            for (id, secret) in candidates {
                if body_id.is_some_and(|b| b != id) {
                    continue;
                }
                if let Some(c) = self.authenticate_client(&id, &secret)? {
                    return Ok(c);
                }
            }
            return Err(OAuthError::invalid_client("The client credentials are invalid"));
        }
        match (body_id, body_secret) {
            (None, _) => Err(OAuthError::invalid_client("Client credentials were not found in the headers or body")),
            (Some(id), Some(secret)) => self
                .authenticate_client(id, secret)?
                .ok_or_else(|| OAuthError::invalid_client("The client credentials are invalid")),
            (Some(id), None) => match self.client_by_client_id(id)? {
                Some(c) if c.is_public => Ok(c),
                Some(_) => {
                    Err(OAuthError::invalid_client("This client is invalid or must authenticate using a client secret"))
                }
                None => Err(OAuthError::invalid_client("The client credentials are invalid")),
            },
        }
    }
}

impl Engine {
    /// The provider metadata a dialect advertises: its own paths for the
    /// endpoints it aliases, the standard ones otherwise.
    pub fn provider_metadata(&self, dialect: &gatehouse_core::Dialect) -> ProviderMetadata {
        use gatehouse_core::Endpoint;
        let iss = &self.config.issuer;
        let url = |ep: Endpoint| format!("{iss}{}", ep.standard_path());
        let own = |ep: Endpoint| format!("{iss}{}", ep.path_in(dialect));
        let list = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let client_auth = list(&["client_secret_basic", "client_secret_post", "none"]);
        ProviderMetadata {
            issuer: iss.clone(),
            authorization_endpoint: own(Endpoint::Authorize),
            token_endpoint: own(Endpoint::Token),
            userinfo_endpoint: own(Endpoint::Userinfo),
            jwks_uri: own(Endpoint::Jwks),
            revocation_endpoint: url(Endpoint::Revoke),
            introspection_endpoint: url(Endpoint::Introspect),
            end_session_endpoint: url(Endpoint::Logout),
            response_types_supported: list(&["code"]),
            response_modes_supported: list(&["query"]),
            grant_types_supported: gatehouse_core::GrantType::ALL.iter().map(|g| g.as_str().to_string()).collect(),
            subject_types_supported: list(&["public"]),
            id_token_signing_alg_values_supported: list(&crate::keys::ALGORITHMS),
            token_endpoint_auth_methods_supported: client_auth.clone(),
            revocation_endpoint_auth_methods_supported: client_auth,
            introspection_endpoint_auth_methods_supported: list(&["client_secret_basic", "client_secret_post"]),
            code_challenge_methods_supported: list(&["S256", "plain"]),
            scopes_supported: self.catalog.names().map(str::to_string).collect(),
            claims_supported: {
                let mut c = self.catalog.all_claims();
                c.extend(["amr", "acr", "sid", "auth_time"].map(str::to_string));
                c.dedup();
                c
            },
            prompt_values_supported: list(&["none", "login", "consent"]),
            claims_parameter_supported: false,
            request_parameter_supported: false,
            request_uri_parameter_supported: false,
            backchannel_logout_supported: true,
            backchannel_logout_session_supported: true,
            frontchannel_logout_supported: true,
            frontchannel_logout_session_supported: true,
            acr_values_supported: list(&crate::mfa::ACR_VALUES),
        }
    }
}

impl Engine {
    /// Audits a refused protocol request so an operator can explain it:
    /// `oauth.client_auth_failed` (and why: unknown client, wrong secret,
    /// no or malformed credentials) or `<endpoint>_refused` with the error
    /// code as the reason. Server failures are logged, not audited here.
    /// The caller's address and request id come from [`crate::caller`].
    pub(crate) fn audit_refusal(&self, endpoint: &str, e: &OAuthError, params: &Params, creds: &ClientCredentials) {
        if e.is_server_error() {
            return;
        }
        let client_id: Option<String> = creds
            .basic
            .as_ref()
            .map(|(id, _)| id.clone())
            .or_else(|| params.get("client_id").map(str::to_string))
            .map(|id| id.chars().take(128).collect());
        let (kind, reason) = if endpoint == "authorize" {
            // The client id is a parameter here, never a credential.
            let reason = if e.code == OAuthErrorCode::InvalidClient { "unknown_client" } else { e.code.as_str() };
            ("oauth.authorize_refused", reason)
        } else if e.code == OAuthErrorCode::InvalidClient {
            let reason = match client_id.as_deref() {
                None | Some("") => "no_credentials",
                Some(id) => match self.client_by_client_id(id) {
                    Ok(Some(_)) => "wrong_secret",
                    Ok(None) => "unknown_client",
                    Err(_) => "unknown",
                },
            };
            ("oauth.client_auth_failed", reason)
        } else {
            let kind = match endpoint {
                "introspect" => "oauth.introspect_refused",
                "revoke" => "oauth.revoke_refused",
                _ => "oauth.token_refused",
            };
            (kind, e.code.as_str())
        };
        metrics::counter!("gatehouse_refusals_total", "kind" => kind, "reason" => reason).increment(1);
        let r = self.audit(crate::audit::AuditRecord {
            kind,
            message: format!(
                "{endpoint} refused for client {}: {} ({})",
                client_id.as_deref().unwrap_or("-"),
                e.code,
                e.description
            ),
            client_id: client_id.as_deref(),
            details: serde_json::json!({
                "endpoint": endpoint, "reason": reason, "error": e.code.as_str(), "description": e.description,
            }),
            ..Default::default()
        });
        if let Err(err) = r {
            tracing::warn!(error = %err, "could not audit a refusal");
        }
    }
}
