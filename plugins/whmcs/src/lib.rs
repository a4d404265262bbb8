//! The `whmcs` plugin: Gatehouse speaks a WHMCS installation's SSO dialect,
//! so software written for a WHMCS OAuth 2.0 / OpenID Connect server, its
//! single sign-on endpoint or its admin API works against Gatehouse with
//! nothing changed but the base URL. The contract is `docs/protocols/whmcs.md`.
//!
//! - The `.php` OAuth surface is a *dialect*: aliases onto the engine's own
//!   endpoints with WHMCS's defaults (state required, default scope
//!   `profile`, 30 s codes). No OAuth logic lives here.
//! - The admin API (`/includes/api.php`) is this plugin's own code
//!   ([`api`]): authentication by API credential, the IP allow-list with its
//!   access-key bypass, the `json`/`xml`/`nvp` envelope ([`envelope`]) and
//!   the OAuth-credential and SSO actions.
//! - Claims: WHMCS answers `preferred_username` with the e-mail address.
#![forbid(unsafe_code)]

pub mod api;
pub mod envelope;

use gatehouse_plugin_api::prelude::*;
use serde::Deserialize;

/// The plugin's `[plugins.config]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Prefix of generated client identifiers (`COMPANY-NAME.<random>`).
    pub company_name: String,
    /// The "API IP Access Restriction": addresses allowed to call the API
    /// (each API credential may add its own).
    pub api_allowed_ips: Vec<String>,
    /// The `accesskey` that bypasses the IP restriction (unset: no bypass).
    pub access_key: Option<String>,
    /// The `error` sent when a user declines consent (WHMCS itself sends
    /// `consent_required`; Invision Community only treats `access_denied`
    /// as a quiet cancel).
    pub consent_denied_error: String,
    /// Authorization code lifetime (WHMCS: 30 s).
    pub code_ttl: i64,
    /// Access token lifetime (WHMCS: 3600 s).
    pub access_ttl: i64,
    /// Give `authorization_code` credentials created through the API the
    /// `refresh_token` grant too (WHMCS issues no refresh tokens).
    pub refresh_tokens: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            company_name: "GATEHOUSE".into(),
            api_allowed_ips: Vec::new(),
            access_key: None,
            consent_denied_error: "access_denied".into(),
            code_ttl: 30,
            access_ttl: 3600,
            refresh_tokens: false,
        }
    }
}

/// The plugin.
pub struct Whmcs {
    pub(crate) config: Config,
    pub(crate) host: Host,
    pub(crate) info: HostInfo,
    /// The client that issues tokens for `CreateSsoToken` (created lazily).
    pub(crate) sso_client: std::sync::Mutex<Option<String>>,
}

/// The API path.
pub const API_PATH: &str = "/includes/api.php";
/// Where SSO tokens are redeemed.
pub const SSO_PATH: &str = "/oauth/singlesignon.php";

fn aliases() -> Vec<AliasDecl> {
    let a = |path: &str, methods: &[&str], endpoint| AliasDecl {
        path: path.into(),
        methods: methods.iter().map(|m| m.to_string()).collect(),
        endpoint,
    };
    vec![
        a("/oauth/openid-configuration.php", &["GET"], EngineEndpoint::Discovery),
        a("/oauth/authorize.php", &["GET", "POST"], EngineEndpoint::Authorize),
        // POST only; other methods get a JSON 405.
        a("/oauth/token.php", &["POST"], EngineEndpoint::Token),
        a("/oauth/userinfo.php", &["GET", "POST"], EngineEndpoint::Userinfo),
        a("/oauth/certs.php", &["GET"], EngineEndpoint::Jwks),
        a(SSO_PATH, &["GET", "POST"], EngineEndpoint::Sso),
    ]
}

fn dialect(config: &Config) -> DialectTable {
    DialectTable {
        name: Some("whmcs".into()),
        require_state: Some(true),
        default_scope: Some("profile".into()),
        code_ttl: Some(config.code_ttl),
        access_ttl: Some(config.access_ttl),
        consent_denied_error: Some(config.consent_denied_error.clone()),
        pre_redirect_errors_as_json: Some(true),
        // WHMCS answers a wrong Basic secret with 400, as clients expect.
        basic_auth_failure_status: Some(400),
        // bshaffer's server refuses scopes it does not know.
        refuse_unknown_scopes: Some(true),
    }
}

fn manifest(config: &Config) -> Manifest {
    Manifest {
        description: "WHMCS-compatible SSO server: /oauth/*.php endpoints, single sign-on, /includes/api.php".into(),
        capabilities: vec![Capability::Routes, Capability::Dialect, Capability::ClientConnector],
        routes: vec![RouteDecl {
            // Every method reaches the plugin, so a wrong one still gets the
            // API's envelope (POST, with GET tolerated, are served).
            methods: Vec::new(),
            path: API_PATH.into(),
            // A failing call still answers in the API's own envelope.
            error_body: Some(json!({ "result": "error", "message": "An internal error occurred" })),
            // An oversized call is refused in the envelope too (JSON, the
            // format the host can write for every responsetype's readers).
            too_large_body: Some(json!({ "result": "error", "message": "Request body too large" })),
            requires_sign_in: false,
            max_age: None,
            error_content_type: None,
        }],
        aliases: aliases(),
        dialect: Some(dialect(config)),
        ..Default::default()
    }
}

impl Plugin for Whmcs {
    const NAME: &'static str = "whmcs";

    fn describe() -> Manifest {
        manifest(&Config::default())
    }

    fn init(ctx: InitContext) -> Result<Self, Error> {
        let config: Config = ctx.config_as()?;
        for ip in &config.api_allowed_ips {
            if ip.parse::<std::net::IpAddr>().is_err() {
                return Err(Error::invalid(format!("api_allowed_ips: {ip:?} is not an IP address")));
            }
        }
        if config.code_ttl <= 0 || config.access_ttl <= 0 {
            return Err(Error::invalid("code_ttl and access_ttl must be positive"));
        }
        if config.access_key.as_deref().is_some_and(|k| k.len() < 16) {
            return Err(Error::invalid("access_key must be at least 16 characters"));
        }
        Ok(Whmcs { config, host: ctx.host, info: ctx.info, sso_client: std::sync::Mutex::new(None) })
    }

    fn manifest(&self) -> Manifest {
        manifest(&self.config)
    }

    fn route(&self, req: HttpRequest) -> Result<HttpResponse, Error> {
        match req.path.as_str() {
            API_PATH => Ok(api::handle(self, &req)),
            _ => Ok(HttpResponse::json(404, &json!({ "result": "error", "message": "Not Found" }))),
        }
    }

    /// WHMCS's userinfo: `preferred_username` is the e-mail address.
    fn shape_claims(&self, req: ShapeClaims) -> Result<Value, Error> {
        let mut claims = req.claims;
        if let Value::Object(m) = &mut claims {
            if req.scope.split(' ').any(|s| s == "profile") {
                m.insert("preferred_username".into(), json!(req.user.email));
            }
        }
        Ok(claims)
    }
}

export_plugin!(Whmcs);
