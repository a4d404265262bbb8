//! The `oidc` plugin: users sign in to Gatehouse through an upstream OpenID
//! Connect provider (an `identity_provider`). All protocol work — discovery,
//! the authorization request with PKCE and nonce, the code exchange, ID
//! token verification (signature, `iss`, `aud`, `exp`, `nonce`) — is done by
//! the `openidconnect` crate; this plugin only wires it to the host.
//!
//! The host keeps the opaque state this plugin returns from `begin_login`
//! in an HttpOnly cookie scoped to the callback path and hands it back at
//! the callback: it carries the CSRF token, the nonce and the PKCE verifier.

use std::sync::Mutex;

use base64::Engine as _;
use gatehouse_plugin_api::prelude::*;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, Scope, TokenResponse,
};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

/// The plugin's `[plugins.config]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The upstream issuer (discovery at `<issuer>/.well-known/openid-configuration`).
    pub issuer: String,
    pub client_id: String,
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

/// What travels in the host's state cookie between start and callback.
#[derive(Serialize, Deserialize)]
struct PendingLogin {
    csrf: String,
    nonce: String,
    pkce_verifier: String,
}

type HttpClient = openidconnect::reqwest::blocking::Client;

pub struct Oidc {
    config: Config,
    http: HttpClient,
    /// Discovered once, then reused; rediscovered after a failure.
    metadata: Mutex<Option<CoreProviderMetadata>>,
}

fn err(context: &str, e: impl std::fmt::Display) -> Error {
    Error::invalid(format!("{context}: {e}"))
}

impl Oidc {
    fn metadata(&self) -> Result<CoreProviderMetadata, Error> {
        let mut cached = self.metadata.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(m) = cached.as_ref() {
            return Ok(m.clone());
        }
        let issuer = IssuerUrl::new(self.config.issuer.clone()).map_err(|e| err("issuer", e))?;
        let m = CoreProviderMetadata::discover(&issuer, &self.http)
            .map_err(|e| Error::internal(format!("discovery at {} failed: {e}", self.config.issuer)))?;
        *cached = Some(m.clone());
        Ok(m)
    }

    fn forget_metadata(&self) {
        *self.metadata.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

impl Plugin for Oidc {
    const NAME: &'static str = "oidc";

    fn describe() -> Manifest {
        Manifest {
            description: "Sign in through an upstream OpenID Connect provider".into(),
            capabilities: vec![Capability::IdentityProvider],
            identity_provider: Some(IdentityProviderInfo { display_name: default_display_name() }),
            ..Default::default()
        }
    }

    fn init(ctx: InitContext) -> Result<Self, Error> {
        let config: Config = ctx.config_as()?;
        IssuerUrl::new(config.issuer.clone()).map_err(|e| err("issuer", e))?;
        if config.client_id.is_empty() {
            return Err(Error::invalid("client_id is required"));
        }
        let http = openidconnect::reqwest::blocking::ClientBuilder::new()
            // Following redirects would open the door to SSRF.
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| Error::internal(format!("HTTP client: {e}")))?;
        Ok(Oidc { config, http, metadata: Mutex::new(None) })
    }

    fn manifest(&self) -> Manifest {
        Manifest {
            identity_provider: Some(IdentityProviderInfo { display_name: self.config.display_name.clone() }),
            ..Self::describe()
        }
    }

    fn begin_login(&self, req: BeginLogin) -> Result<LoginRedirect, Error> {
        let client = CoreClient::from_provider_metadata(
            self.metadata()?,
            ClientId::new(self.config.client_id.clone()),
            Some(ClientSecret::new(self.config.client_secret.clone())),
        )
        .set_redirect_uri(RedirectUrl::new(req.callback_url).map_err(|e| err("callback URL", e))?);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut auth = client
            .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
            .set_pkce_challenge(challenge);
        for s in &self.config.scopes {
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
        let pending: PendingLogin = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&req.state)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| Error::invalid("the sign-in state is corrupt"))?;
        if let Some(e) = req.params.get("error") {
            return Err(Error::invalid(format!("the provider refused the sign-in: {e}")));
        }
        let returned = req.params.get("state").map(String::as_str).unwrap_or_default();
        if !bool::from(returned.as_bytes().ct_eq(pending.csrf.as_bytes())) {
            return Err(Error::invalid("the state returned by the provider does not match"));
        }
        let code = req.params.get("code").ok_or_else(|| Error::invalid("the provider sent no code"))?;
        let client = CoreClient::from_provider_metadata(
            self.metadata()?,
            ClientId::new(self.config.client_id.clone()),
            Some(ClientSecret::new(self.config.client_secret.clone())),
        )
        .set_redirect_uri(RedirectUrl::new(req.callback_url).map_err(|e| err("callback URL", e))?);
        let token = client
            .exchange_code(AuthorizationCode::new(code.clone()))
            .map_err(|e| err("token endpoint", e))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier))
            .request(&self.http)
            .map_err(|e| {
                self.forget_metadata();
                err("code exchange", e)
            })?;
        let id_token = token.id_token().ok_or_else(|| Error::invalid("the provider returned no ID token"))?;
        let claims =
            id_token.claims(&client.id_token_verifier(), &Nonce::new(pending.nonce)).map_err(|e| err("ID token", e))?;
        Ok(ExternalIdentity {
            subject: claims.subject().as_str().to_string(),
            email: claims.email().map(|e| e.as_str().to_string()),
            email_verified: self.config.trust_email || claims.email_verified().unwrap_or(false),
            name: claims.name().and_then(|c| c.get(None)).map(|n| n.as_str().to_string()),
            given_name: claims.given_name().and_then(|c| c.get(None)).map(|n| n.as_str().to_string()),
            family_name: claims.family_name().and_then(|c| c.get(None)).map(|n| n.as_str().to_string()),
            locale: claims.locale().map(|l| l.as_str().to_string()),
            claims: serde_json::to_value(claims).unwrap_or(Value::Null),
            refresh_token: None,
        })
    }
}

export_plugin!(Oidc);
