//! Dialects: how an app's flavour of OAuth differs from the standard
//! surface. A dialect is data (paths, defaults, error choices), not a fork
//! of the engine.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Endpoint, OAuthErrorCode};

/// The behaviour knobs a dialect may turn on the engine's endpoints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Dialect {
    /// A name for logs (`standard`, `whmcs`).
    pub name: String,
    /// `state` is required at the authorization endpoint.
    pub require_state: bool,
    /// The scope used when a request sends none.
    pub default_scope: Option<String>,
    /// Authorization code lifetime in seconds (None: the server's setting).
    pub code_ttl: Option<i64>,
    /// Access token lifetime in seconds (None: the server's setting).
    pub access_ttl: Option<i64>,
    /// The `error` sent when the user declines consent.
    pub consent_denied_error: OAuthErrorCode,
    /// Errors before the redirect URI is trusted are JSON (WHMCS) rather
    /// than an HTML page.
    pub pre_redirect_errors_as_json: bool,
    /// The status of `invalid_client` when the client authenticated with
    /// HTTP Basic: 401 with a `WWW-Authenticate` challenge (RFC 6749 §5.2);
    /// WHMCS answers 400.
    pub basic_auth_failure_status: u16,
    /// Refuse scope values the catalog does not know (`invalid_scope`, as
    /// WHMCS does) rather than ignore them (OpenID Connect Core §3.1.2.1).
    pub refuse_unknown_scopes: bool,
    /// The dialect's own path for an endpoint, keyed by the endpoint's
    /// snake_case name (`token` → `/oauth/token.php`). Discovery and the
    /// SSO `redirect_url` advertise these so that a client stays on its
    /// dialect's surface; endpoints not listed use the standard paths.
    pub endpoint_paths: BTreeMap<Endpoint, String>,
}

impl Default for Dialect {
    fn default() -> Self {
        Dialect::standard()
    }
}

impl Dialect {
    /// Gatehouse's own endpoints.
    pub fn standard() -> Dialect {
        Dialect {
            name: "standard".into(),
            require_state: false,
            default_scope: None,
            code_ttl: None,
            access_ttl: None,
            consent_denied_error: OAuthErrorCode::AccessDenied,
            pre_redirect_errors_as_json: false,
            basic_auth_failure_status: 401,
            refuse_unknown_scopes: false,
            endpoint_paths: BTreeMap::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_paths_default_to_empty_and_fall_back_to_standard() {
        let d: Dialect = serde_json::from_str(r#"{"name":"x"}"#).unwrap();
        assert!(d.endpoint_paths.is_empty());
        assert_eq!(Endpoint::Token.path_in(&d), "/oauth2/token");
        let mut d = Dialect::standard();
        d.endpoint_paths.insert(Endpoint::Token, "/oauth/token.php".into());
        assert_eq!(Endpoint::Token.path_in(&d), "/oauth/token.php");
        let back: Dialect = serde_json::from_str(&serde_json::to_string(&d).unwrap()).unwrap();
        assert_eq!(back, d);
    }
}
