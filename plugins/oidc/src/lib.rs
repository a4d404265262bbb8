//! The `oidc` plugin: users sign in to Gatehouse through an upstream OpenID
//! Connect provider (an `identity_provider`). All protocol work — discovery,
//! the authorization request with PKCE and nonce, the code exchange, ID
//! token verification (signature, `iss`, `aud`, `exp`, `nonce`) — is done by
//! the `openidconnect` crate; this plugin only wires it to the host.
//!
//! The host keeps the opaque state this plugin returns from `begin_login`
//! in an HttpOnly cookie scoped to the callback path and hands it back at
//! the callback: it carries the CSRF token, the nonce and the PKCE verifier.
#![forbid(unsafe_code)]

use std::sync::Mutex;

use base64::Engine as _;
use gatehouse_plugin_api::prelude::*;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope, TokenResponse, UserInfoError,
};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

/// The plugin's `[plugins.config]` table: one upstream in the table itself
/// (its id is `oidc`), or several in `[[…providers]]` (and nothing else),
/// each with an `id`: its own button, callback path
/// (`/federation/<id>/callback`) and identity links.
pub fn parse_config(v: &Value) -> Result<(Vec<ProviderConfig>, bool), Error> {
    let invalid = |e: serde_json::Error| Error::invalid(format!("invalid configuration: {e}"));
    match v.get("providers") {
        Some(list) => {
            if v.as_object().is_some_and(|o| o.len() > 1) {
                return Err(Error::invalid("with providers, every setting goes inside its provider"));
            }
            Ok((serde_json::from_value(list.clone()).map_err(invalid)?, true))
        }
        None if v.is_null() => Ok((vec![ProviderConfig::default()], false)),
        None => Ok((vec![serde_json::from_value(v.clone()).map_err(invalid)?], false)),
    }
}

/// One upstream OpenID Connect provider.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// `[a-z0-9_-]+`; required in `providers`, ignored in the single form.
    #[serde(default)]
    pub id: String,
    /// The upstream issuer (discovery at `<issuer>/.well-known/openid-configuration`).
    #[serde(default)]
    pub issuer: String,
    #[serde(default)]
    pub client_id: String,
    #[serde(default)]
    pub client_secret: String,
    /// Scopes to ask for besides `openid`.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// Shown on Gatehouse's login page: "Sign in with …".
    #[serde(default = "default_display_name")]
    pub display_name: String,
    /// Treat the upstream's e-mail as verified even without
    /// `email_verified: true` (only for providers that verify every address).
    #[serde(default)]
    pub trust_email: bool,
}

fn default_scopes() -> Vec<String> {
    vec!["email".into(), "profile".into()]
}

fn default_display_name() -> String {
    "your organisation's account".into()
}

impl Default for ProviderConfig {
    fn default() -> Self {
        ProviderConfig {
            id: String::new(),
            issuer: String::new(),
            client_id: String::new(),
            client_secret: String::new(),
            scopes: default_scopes(),
            display_name: default_display_name(),
            trust_email: false,
        }
    }
}

/// What travels in the host's state cookie between start and callback.
#[derive(Serialize, Deserialize)]
struct PendingLogin {
    csrf: String,
    nonce: String,
    pkce_verifier: String,
}

type HttpClient = openidconnect::reqwest::blocking::Client;

/// One configured upstream and its discovered metadata.
struct Upstream {
    config: ProviderConfig,
    /// Discovered once, then reused; rediscovered after a failure.
    metadata: Mutex<Option<CoreProviderMetadata>>,
}

pub struct Oidc {
    upstreams: Vec<Upstream>,
    /// Whether the upstreams were configured as a list (ids reported to the host).
    listed: bool,
    http: HttpClient,
}

fn err(context: &str, e: impl std::fmt::Display) -> Error {
    Error::invalid(format!("{context}: {e}"))
}

impl Upstream {
    fn metadata(&self, http: &HttpClient) -> Result<CoreProviderMetadata, Error> {
        let mut cached = self.metadata.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(m) = cached.as_ref() {
            return Ok(m.clone());
        }
        let issuer = IssuerUrl::new(self.config.issuer.clone()).map_err(|e| err("issuer", e))?;
        let m = CoreProviderMetadata::discover(&issuer, http)
            .map_err(|e| Error::internal(format!("discovery at {} failed: {e}", self.config.issuer)))?;
        *cached = Some(m.clone());
        Ok(m)
    }

    fn forget_metadata(&self) {
        *self.metadata.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

impl Oidc {
    /// The upstream a request names (`provider`; empty: the only one).
    fn upstream(&self, provider: &str) -> Result<&Upstream, Error> {
        if provider.is_empty() {
            return self.upstreams.first().ok_or_else(|| Error::invalid("no upstream is configured"));
        }
        self.upstreams
            .iter()
            .find(|u| u.config.id == provider)
            .ok_or_else(|| Error::invalid(format!("no upstream named {provider:?}")))
    }
}

/// The profile claims Gatehouse uses, from an ID token or a userinfo answer.
struct Profile {
    email: Option<String>,
    email_verified: bool,
    name: Option<String>,
    given_name: Option<String>,
    family_name: Option<String>,
    locale: Option<String>,
}

/// Reads a [`Profile`] from claims of either kind (same accessors, no shared trait).
macro_rules! profile {
    ($c:expr) => {
        Profile {
            email: $c.email().map(|e| e.as_str().to_string()),
            email_verified: $c.email_verified().unwrap_or(false),
            name: $c.name().and_then(|c| c.get(None)).map(|n| n.as_str().to_string()),
            given_name: $c.given_name().and_then(|c| c.get(None)).map(|n| n.as_str().to_string()),
            family_name: $c.family_name().and_then(|c| c.get(None)).map(|n| n.as_str().to_string()),
            locale: $c.locale().map(|l| l.as_str().to_string()),
        }
    };
}

impl Plugin for Oidc {
    const NAME: &'static str = "oidc";

    fn describe() -> Manifest {
        Manifest {
            description: "Sign in through an upstream OpenID Connect provider".into(),
            capabilities: vec![Capability::IdentityProvider],
            identity_provider: Some(IdentityProviderInfo {
                display_name: default_display_name(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn init(ctx: InitContext) -> Result<Self, Error> {
        let (list, listed) = parse_config(&ctx.config)?;
        if listed && list.is_empty() {
            return Err(Error::invalid("providers is empty"));
        }
        if !listed && (list[0].issuer.is_empty() || list[0].client_id.is_empty()) {
            // Found but not set up: the host starts without it and says so.
            return Err(Error::not_configured(
                "set issuer, client_id and client_secret in its configuration ([plugin_config.oidc]), \
                 or list several upstreams in [[plugin_config.oidc.providers]]",
            ));
        }
        for p in &list {
            if listed && p.id.is_empty() {
                return Err(Error::invalid("every entry of providers needs an id"));
            }
            if p.client_id.is_empty() {
                return Err(Error::invalid(format!("provider {:?}: client_id is required", p.id)));
            }
            IssuerUrl::new(p.issuer.clone()).map_err(|e| err("issuer", e))?;
        }
        let http = openidconnect::reqwest::blocking::ClientBuilder::new()
            // Following redirects would open the door to SSRF.
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| Error::internal(format!("HTTP client: {e}")))?;
        let upstreams = list.into_iter().map(|config| Upstream { config, metadata: Mutex::new(None) }).collect();
        Ok(Oidc { upstreams, listed, http })
    }

    fn manifest(&self) -> Manifest {
        let first = &self.upstreams[0].config;
        Manifest {
            identity_provider: Some(IdentityProviderInfo {
                display_name: first.display_name.clone(),
                ..Default::default()
            }),
            identity_providers: if self.listed {
                self.upstreams
                    .iter()
                    .map(|u| IdentityProviderInfo {
                        id: u.config.id.clone(),
                        display_name: u.config.display_name.clone(),
                    })
                    .collect()
            } else {
                Vec::new()
            },
            ..Self::describe()
        }
    }

    fn begin_login(&self, req: BeginLogin) -> Result<LoginRedirect, Error> {
        let up = self.upstream(&req.provider)?;
        let client = CoreClient::from_provider_metadata(
            up.metadata(&self.http)?,
            ClientId::new(up.config.client_id.clone()),
            Some(ClientSecret::new(up.config.client_secret.clone())),
        )
        .set_redirect_uri(RedirectUrl::new(req.callback_url).map_err(|e| err("callback URL", e))?);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut auth = client
            .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
            .set_pkce_challenge(challenge);
        for s in &up.config.scopes {
            auth = auth.add_scope(Scope::new(s.clone()));
        }
        if let Some(hint) = req.params.get("login_hint") {
            auth = auth.add_extra_param("login_hint", hint.clone());
        }
        let (url, csrf, nonce) = auth.url();
        let pending = PendingLogin {
            csrf: csrf.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        };
        let state = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&pending).map_err(|e| Error::internal(e.to_string()))?);
        Ok(LoginRedirect { redirect_url: url.to_string(), state })
    }

    fn complete_login(&self, req: CompleteLogin) -> Result<ExternalIdentity, Error> {
        let up = self.upstream(&req.provider)?;
        let pending: PendingLogin = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&req.state)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| Error::invalid("the sign-in state is corrupt"))?;
        // The state first: an error answer is only the provider's when it
        // belongs to the sign-in this browser started.
        let returned = req.params.get("state").map(String::as_str).unwrap_or_default();
        if !bool::from(returned.as_bytes().ct_eq(pending.csrf.as_bytes())) {
            return Err(Error::invalid("the state returned by the provider does not match"));
        }
        if let Some(e) = req.params.get("error") {
            return Err(Error::new(ErrorKind::Forbidden, format!("the provider refused the sign-in: {e}")));
        }
        // RFC 9207: a provider that names itself must name the configured one
        // (mix-up defence).
        if let Some(iss) = req.params.get("iss") {
            if iss.trim_end_matches('/') != up.config.issuer.trim_end_matches('/') {
                return Err(Error::invalid("the callback names another issuer"));
            }
        }
        let code = req.params.get("code").ok_or_else(|| Error::invalid("the provider sent no code"))?;
        let metadata = up.metadata(&self.http)?;
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(up.config.client_id.clone()),
            Some(ClientSecret::new(up.config.client_secret.clone())),
        )
        .set_redirect_uri(RedirectUrl::new(req.callback_url).map_err(|e| err("callback URL", e))?);
        let token = client
            .exchange_code(AuthorizationCode::new(code.clone()))
            .map_err(|e| err("token endpoint", e))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier))
            .request(&self.http)
            .map_err(|e| {
                up.forget_metadata();
                match e {
                    // The provider answered with an OAuth error: the sign-in is refused.
                    RequestTokenError::ServerResponse(r) => {
                        Error::invalid(format!("code exchange refused: {}", r.error().as_ref()))
                    }
                    // Unreachable or unreadable: the provider's failure, not the user's.
                    other => Error::internal(format!("code exchange failed: {}", error_chain(&other))),
                }
            })?;
        let id_token = token.id_token().ok_or_else(|| Error::invalid("the provider returned no ID token"))?;
        let claims =
            id_token.claims(&client.id_token_verifier(), &Nonce::new(pending.nonce)).map_err(|e| err("ID token", e))?;
        let mut profile = profile!(claims);
        let mut raw = serde_json::to_value(claims).unwrap_or(Value::Null);
        // Many providers (oidc-provider by default) put profile claims in the
        // ID token only for implicit flows: ask userinfo for what is missing.
        if profile.email.is_none() && client.user_info_url().is_some() {
            let info: CoreUserInfoClaims = client
                .user_info(token.access_token().clone(), Some(claims.subject().clone()))
                .map_err(|e| err("userinfo", e))?
                .request(&self.http)
                .map_err(|e| match e {
                    UserInfoError::ClaimsVerification(e) => err("userinfo", e),
                    other => Error::internal(format!("userinfo failed: {}", error_chain(&other))),
                })?;
            profile = profile!(info);
            if let (Value::Object(into), Ok(Value::Object(from))) = (&mut raw, serde_json::to_value(&info)) {
                for (k, v) in from {
                    into.entry(k).or_insert(v);
                }
            }
        }
        Ok(ExternalIdentity {
            subject: claims.subject().as_str().to_string(),
            email_verified: profile.email.is_some() && (up.config.trust_email || profile.email_verified),
            email: profile.email,
            name: profile.name,
            given_name: profile.given_name,
            family_name: profile.family_name,
            locale: profile.locale,
            claims: raw,
            refresh_token: None,
        })
    }
}

/// An error with its sources, for the log (reqwest hides the cause otherwise).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

export_plugin!(Oidc);
