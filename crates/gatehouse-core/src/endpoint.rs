//! The standard OAuth 2.0 / OpenID Connect endpoints and their paths.

use serde::{Deserialize, Serialize};

use crate::Dialect;

/// The standard endpoints a dialect may alias.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
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

impl Endpoint {
    /// Gatehouse's own path for the endpoint.
    pub fn standard_path(self) -> &'static str {
        match self {
            Endpoint::Discovery => "/.well-known/openid-configuration",
            Endpoint::Jwks => "/jwks.json",
            Endpoint::Authorize => "/oauth2/authorize",
            Endpoint::Token => "/oauth2/token",
            Endpoint::Userinfo => "/oauth2/userinfo",
            Endpoint::Sso => "/oauth2/sso",
            Endpoint::Revoke => "/oauth2/revoke",
            Endpoint::Introspect => "/oauth2/introspect",
            Endpoint::Logout => "/oauth2/logout",
        }
    }

    /// The endpoint's key in a dialect's `endpoint_paths` (its serde name).
    pub fn name(self) -> &'static str {
        match self {
            Endpoint::Discovery => "discovery",
            Endpoint::Jwks => "jwks",
            Endpoint::Authorize => "authorize",
            Endpoint::Token => "token",
            Endpoint::Userinfo => "userinfo",
            Endpoint::Sso => "sso",
            Endpoint::Revoke => "revoke",
            Endpoint::Introspect => "introspect",
            Endpoint::Logout => "logout",
        }
    }

    /// Where a dialect serves the endpoint: its own path, else the standard one.
    pub fn path_in(self, dialect: &Dialect) -> &str {
        dialect.endpoint_paths.get(&self).map(String::as_str).unwrap_or(self.standard_path())
    }

    pub const ALL: [Endpoint; 9] = [
        Endpoint::Discovery,
        Endpoint::Jwks,
        Endpoint::Authorize,
        Endpoint::Token,
        Endpoint::Userinfo,
        Endpoint::Sso,
        Endpoint::Revoke,
        Endpoint::Introspect,
        Endpoint::Logout,
    ];
}
