//! Dialects: how an app's flavour of OAuth differs from the standard
//! surface. A dialect is data (paths, defaults, error choices), not a fork
//! of the engine.

use serde::{Deserialize, Serialize};

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
    pub consent_denied_error: String,
    /// Errors before the redirect URI is trusted are JSON (WHMCS) rather
    /// than an HTML page.
    pub pre_redirect_errors_as_json: bool,
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
            consent_denied_error: "access_denied".into(),
            pre_redirect_errors_as_json: false,
        }
    }
}
