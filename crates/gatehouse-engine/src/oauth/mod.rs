//! The OAuth 2.0 / OpenID Connect authorization server: request parameters,
//! protocol errors, client authentication, the authorization endpoint's
//! decisions, the token endpoint's grants, userinfo, introspection,
//! revocation and logout.
//!
//! Error texts are the ones WHMCS (bshaffer/oauth2-server-php) sends, so a
//! client written against WHMCS sees what it expects (`docs/protocols/whmcs.md`).

pub mod authorize;
pub mod claims;
pub mod params;
pub mod token;
pub mod tokens;

use std::borrow::Cow;

use gatehouse_store::{Client, StoreError};

use crate::keys::KeyError;
use crate::{Engine, EngineError};

pub use params::Params;

/// A protocol error: the `error` code, its description and the HTTP status
/// it is sent with. Server failures become `server_error` (500) after their
/// cause is logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub error: Cow<'static, str>,
    pub description: String,
    pub status: u16,
}

impl OAuthError {
    pub fn new(error: impl Into<Cow<'static, str>>, description: impl Into<String>, status: u16) -> OAuthError {
        OAuthError { error: error.into(), description: description.into(), status }
    }
    pub fn invalid_request(d: impl Into<String>) -> OAuthError {
        OAuthError::new("invalid_request", d, 400)
    }
    pub fn invalid_client(d: impl Into<String>) -> OAuthError {
        OAuthError::new("invalid_client", d, 400)
    }
    pub fn invalid_grant(d: impl Into<String>) -> OAuthError {
        OAuthError::new("invalid_grant", d, 400)
    }
    pub fn invalid_scope() -> OAuthError {
        OAuthError::new("invalid_scope", "An unsupported scope was requested", 400)
    }
    pub fn unauthorized_client() -> OAuthError {
        OAuthError::new("unauthorized_client", "The grant type is unauthorized for this client_id", 400)
    }
    pub fn invalid_token(d: impl Into<String>) -> OAuthError {
        OAuthError::new("invalid_token", d, 401)
    }
    pub fn server(cause: &dyn std::fmt::Display) -> OAuthError {
        tracing::error!(error = %cause, "oauth: server failure");
        OAuthError::new("server_error", "The server failed to handle the request", 500)
    }
    pub fn is_server_error(&self) -> bool {
        self.status >= 500
    }
}

impl From<StoreError> for OAuthError {
    fn from(e: StoreError) -> Self {
        OAuthError::server(&e)
    }
}

impl From<EngineError> for OAuthError {
    fn from(e: EngineError) -> Self {
        OAuthError::server(&e)
    }
}

impl From<KeyError> for OAuthError {
    fn from(e: KeyError) -> Self {
        OAuthError::server(&e)
    }
}

/// The credentials a client presented outside the parameters.
#[derive(Debug, Clone, Default)]
pub struct ClientCredentials {
    /// From `Authorization: Basic`: the decoded `id:secret` halves as sent.
    pub basic: Option<(String, String)>,
}

fn form_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default()
}

impl Engine {
    /// Authenticates the client at the token, revocation and introspection
    /// endpoints: HTTP Basic (raw or URL-encoded halves) or `client_id` +
    /// `client_secret` in the body; a public client presents only its id.
    /// Checked before anything else in the request.
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
            (Some(id), None) => match self.store.client_by_client_id(id)? {
                Some(c) if c.is_public => Ok(c),
                Some(_) => {
                    Err(OAuthError::invalid_client("This client is invalid or must authenticate using a client secret"))
                }
                None => Err(OAuthError::invalid_client("The client credentials are invalid")),
            },
        }
    }
}
